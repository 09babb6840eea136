// The CLI's build: src/cli/main.ts bundled as ONE CommonJS file,
// dist/cli.cjs, and V8's code cache for it, dist/cli.cjs.cache, made here
// by running representative commands (bin/vault-tool.js loads both).
//
// Why: Node 20's ES module loader costs about 10 M instructions for every
// file it loads, and esbuild's code splitting made `list` load 33 files.
// One file read by the CommonJS wrapper costs one read, but V8 would then
// compile 1.6 MB on every start; the code cache, made after the commands
// ran, holds the bytecode of what they compiled, so a start compiles only
// what it runs beyond them. Nothing is written at run time.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('.', import.meta.url));

/**
 * commander loads node:child_process at start-up for "executable
 * subcommands", which vault-tool never uses; that costs ~7 ms of every
 * command's start-up. Load it only if ever called.
 */
export const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onLoad({ filter: /commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      const src = readFileSync(args.path, 'utf8');
      const eager = "const childProcess = require('node:child_process');";
      if (!src.includes(eager)) throw new Error(`${args.path}: commander changed; update lazy-child-process in build-cli.mjs`);
      return { contents: src.replace(eager, "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };"), loader: 'js' };
    });
  },
};

/**
 * The share and key-id checks are browser-safe code the recovery kit shares,
 * hashing with @noble/hashes. In the CLI that pure-JavaScript SHA-256 (and
 * its module graph) would load on every command that reads a key; node:crypto
 * computes the same digest, fetched only when first used.
 */
export const nodeSha256 = {
  name: 'node-sha256',
  setup(b) {
    const shim = new URL('./src/fs/node-sha2.ts', import.meta.url).pathname;
    const src = new URL('./src/', import.meta.url).pathname;
    b.onResolve({ filter: /^@noble\/hashes\/sha2\.js$/ }, (args) => (args.importer.startsWith(src) ? { path: shim } : undefined));
  },
};

/**
 * esbuild's options for the CLI bundle. Its modules keep their order of
 * initialization: a module reached only by a dynamic import() (every
 * command, through the command table) is initialized when that import runs.
 * `import.meta.url` (the recovery kit and the scheduled jobs find files
 * beside the bundle) is the bundle's own URL.
 */
export function cliOptions(outfile, { minify = true } = {}) {
  return {
    absWorkingDir: ROOT,
    entryPoints: ['src/cli/main.ts'],
    outfile,
    bundle: true,
    splitting: false,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    sourcemap: false,
    legalComments: 'none',
    minify,
    keepNames: true,
    logLevel: 'warning',
    // Loaded from node_modules at run time, and only by the k8s commands.
    external: ['@kubernetes/client-node'],
    // import() of what is not in the bundle (Node's modules, the Kubernetes client) as require(): a function V8
    // compiled from a code cache has lost the script's import() callback (Node 20), and require() of an ES
    // module is Node's own from 20.19 (engines in package.json).
    supported: { 'dynamic-import': false },
    plugins: [lazyChildProcess, nodeSha256],
    define: { 'import.meta.url': '__vtUrl' },
    // The directive first: ES modules are strict, and a directive after a statement is an ordinary string.
    banner: { js: `"use strict";const __vtUrl = require('node:url').pathToFileURL(__filename).href;` },
  };
}

/**
 * What the cache is made from: the start of every command (--help), reading
 * the vault (list) and a backup's common path (backup files; `backup
 * postgres` shares all but its kind), run in one process on a vault, a file
 * tree and a repository that SETUP made beforehand in another (so that the
 * cache holds neither the making of a vault nor that of the backup key,
 * which steady runs never do). Each command must end with exit 0; a step
 * that needs a tool (tar) is skipped, with a warning, where the tool is
 * missing: the cache is then made without it. More commands make a bigger
 * cache, which every start reads, checks and deserializes (bench/README.md,
 * Start-up).
 */
const SETUP = [
  { args: ['init'] },
  { args: ['add', 'app/db-password', '-t', 'password', '--generate'] },
  { args: ['add', 'app/kek', '-t', 'kek', '--generate'] },
  { args: ['backup', 'files', '--name', 'one', '-C', 'tree', 'f', '-r', 'repo'], optional: true },
];
const TRAINING = [{ args: ['--help'] }, { args: ['list'] }, { args: ['backup', 'files', '--name', 'one', '-C', 'tree', 'f', '-r', 'repo'], optional: true }];

/** Runs the commands `steps` in one process with the bundle, in `dir`; the code cache V8 then makes of it (a Buffer). */
const CHILD = `
const { join } = require('node:path');
const [bin, bundle, dir, steps] = process.argv.slice(1);
const { exports: cli, script } = require(bin).load(bundle, undefined, false);
(async () => {
  const env = { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, 'state') };
  const out = [];
  const sink = { write: (s) => out.push(String(s)) };
  const io = { stdout: sink, stderr: sink, stdin: process.stdin, env, stdinIsTTY: false, stdoutIsTTY: false, stderrIsTTY: false, cwd: dir };
  for (const { args, optional } of JSON.parse(steps)) {
    out.length = 0;
    const code = await cli.run(args, io);
    if (code === 0) continue;
    const why = 'vault-tool ' + args.join(' ') + ': exit ' + code + '\\n' + out.join('');
    if (!optional) throw new Error(why);
    console.error('warning: the code cache is made without ' + why);
  }
  process.stdout.write(script.createCachedData());
})().catch((e) => { console.error('the code cache: ' + e.message); process.exit(1); });
`;

/**
 * Runs SETUP, then TRAINING, with the bundle, each in a child process (no
 * NODE_OPTIONS: the flags V8 checks are those of a plain `node`), then
 * writes the cache: SHA-256(bundle ‖ data) ‖ data, which bin/vault-tool.js
 * checks.
 */
export function makeCodeCache(bundle, cacheFile, { setup = SETUP, training = TRAINING } = {}) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const dir = mkdtempSync(join(tmpdir(), 'vt-build-cache-'));
  try {
    mkdirSync(join(dir, 'tree'));
    writeFileSync(join(dir, 'tree', 'f'), Buffer.alloc(1024, 7));
    const run = (steps) =>
      execFileSync(process.execPath, ['-e', CHILD, `${ROOT}bin/vault-tool.js`, bundle, dir, JSON.stringify(steps)], {
        env,
        maxBuffer: 64 << 20,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
    run(setup);
    const data = run(training);
    const digest = createHash('sha256').update(readFileSync(bundle)).update(data).digest();
    writeFileSync(cacheFile, Buffer.concat([digest, data]));
    return data.length;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds dist/cli.cjs and its cache. */
export async function buildCli() {
  const bundle = `${ROOT}dist/cli.cjs`;
  await build(cliOptions(bundle));
  if (/\bimport\(/.test(readFileSync(bundle, 'latin1'))) throw new Error(`${bundle}: an import() is left, which code compiled from the cache cannot run`);
  makeCodeCache(bundle, `${bundle}.cache`);
}
