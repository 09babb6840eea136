import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/cli.js';

/**
 * The CLI is dist/cli.cjs compiled with V8's code cache dist/cli.cjs.cache
 * (bin/vault-tool.js, build-cli.mjs). V8 checks a cache against the
 * source's length, its own version and its flags, nothing more: a cache is
 * used only when the digest it starts with is that of the bundle beside it
 * and of its data. Any other cache is a plain compile of the bundle as it
 * is, with the same output and exit code.
 */
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const CACHE = join(ROOT, 'dist/cli.cjs.cache');
let dir: string;
let cleanup: () => void;
let help: string;

/** A copy of the installed files (bin/, the bundle and its cache) in a folder of its own: new files, same bytes. */
function install(name: string): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'dist'));
  for (const f of ['bin/vault-tool.js', 'bin/package.json', 'dist/cli.cjs', 'dist/cli.cjs.cache', 'dist/recovery-kit.html', 'package.json']) {
    copyFileSync(join(ROOT, f), join(root, f));
  }
  return root;
}

/** What bin/vault-tool.js made of the cache in `root`: used, refused, rejected (by V8) or absent. */
function cacheState(root: string, flags: string[] = []): string {
  const r = spawnSync(process.execPath, [...flags, '-e', `process.stdout.write(require(${JSON.stringify(join(root, 'bin/vault-tool.js'))}).load().cache)`], {
    encoding: 'utf8',
    // A plain node's flags, which the build made the cache with (NODE_OPTIONS left out).
    env: { PATH: process.env.PATH },
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

function vaultTool(root: string, args: string[], flags: string[] = []) {
  return spawnSync(process.execPath, [...flags, join(root, 'bin/vault-tool.js'), ...args], {
    encoding: 'utf8',
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: dir },
    timeout: 60_000,
  });
}

/** The same output and exit codes as the files that were built: --version, --help, a usage error. */
function expectSameCli(root: string, flags: string[] = []): void {
  const v = vaultTool(root, ['--version'], flags);
  expect([v.status, v.stdout.trim(), v.stderr]).toEqual([0, VERSION, '']);
  const h = vaultTool(root, ['--help'], flags);
  expect([h.status, h.stdout]).toEqual([0, help]);
  const bad = vaultTool(root, ['no-such-command'], flags);
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/^vault-tool: error: unknown command 'no-such-command'/m);
}

beforeAll(() => {
  if (!readFileSync(CACHE).length) throw new Error('run `npm run build` first (npm test does)');
  ({ dir, cleanup } = tempDir('vt-code-cache-'));
  help = vaultTool(ROOT, ['--help']).stdout;
  expect(help).toContain('Usage: vault-tool');
});
afterAll(() => cleanup());

describe('the code cache', () => {
  it('is made from a bundle that runs in strict mode, as the ES modules it is built from do', () => {
    // A "use strict" directive counts only as the script's first statement: after the banner's, it is a plain string.
    const bundle = readFileSync(join(ROOT, 'dist/cli.cjs'), 'utf8');
    expect(bundle.startsWith('"use strict";')).toBe(true);
    // Compiled, not run: a `with` statement is a syntax error only in strict code.
    expect(() => new Script(`${bundle}\n;with ({}) {}`)).toThrow(/strict mode/i);
  });

  it('is used by a copy of the built files (new files, same bytes: the check is on the bytes)', () => {
    const root = install('copy');
    expect(cacheState(ROOT)).toBe('used');
    expect(cacheState(root)).toBe('used');
    expectSameCli(root);
  });

  it('is refused for a bundle edited keeping its length, which runs as edited (V8 alone would run the cached code)', () => {
    const root = install('edited');
    const file = join(root, 'dist/cli.cjs');
    const before = readFileSync(file, 'utf8');
    const edited = before.replace('print the version of vault-tool', 'print THE version of vault-tool');
    expect(edited).not.toBe(before);
    expect(edited.length).toBe(before.length);
    writeFileSync(file, edited);
    // What the digest guards against: V8 takes the cache for the edited source, and its code prints the old text.
    const v8 = spawnSync(
      process.execPath,
      [
        '-e',
        `const vm = require('node:vm'); const fs = require('node:fs');
const s = new vm.Script('(function (exports, require, module, __filename, __dirname) {' + fs.readFileSync(${JSON.stringify(file)}, 'utf8') + '\\n})',
  { filename: ${JSON.stringify(file)}, cachedData: fs.readFileSync(${JSON.stringify(`${file}.cache`)}).subarray(32) });
if (s.cachedDataRejected) throw new Error('rejected');
const m = { exports: {} };
s.runInThisContext()(m.exports, require('node:module').createRequire(${JSON.stringify(file)}), m, ${JSON.stringify(file)}, '.');
m.exports.run(['--help']);`,
      ],
      { encoding: 'utf8' },
    );
    expect(v8.stderr).toBe('');
    expect(v8.stdout).toContain('print the version of vault-tool');
    expect(cacheState(root)).toBe('refused');
    const h = vaultTool(root, ['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toBe(help.replace('print the version of vault-tool', 'print THE version of vault-tool'));
  });

  it('is refused when truncated, when garbage, when empty, when only its digest is right; absent: a plain compile', () => {
    const cache = readFileSync(CACHE);
    const garbled = Buffer.from(cache);
    garbled.fill(0x5a, 4096, 8192);
    const cases: [string, Buffer | null][] = [
      ['truncated', cache.subarray(0, cache.length >> 1)],
      ['digest only', cache.subarray(0, 32)],
      ['garbage', Buffer.alloc(cache.length, 0xa5)],
      ['empty', Buffer.alloc(0)],
      ['data garbled', garbled],
      ['missing', null],
    ];
    for (const [name, bytes] of cases) {
      const root = install(name.replace(/\W/g, '-'));
      if (bytes) writeFileSync(join(root, 'dist/cli.cjs.cache'), bytes);
      else rmSync(join(root, 'dist/cli.cjs.cache'));
      expect(cacheState(root), name).toBe(bytes ? 'refused' : 'absent');
      expectSameCli(root);
    }
  });

  it('is refused, without a read that blocks or never ends, when a named pipe, a device or a folder is in its place', () => {
    for (const [name, make] of [
      ['fifo', (f: string) => spawnSync('mkfifo', [f])],
      ['device', (f: string) => symlinkSync('/dev/zero', f)],
      ['folder', (f: string) => mkdirSync(f)],
    ] as const) {
      const root = install(name);
      const cache = join(root, 'dist/cli.cjs.cache');
      rmSync(cache);
      make(cache);
      expect(cacheState(root), name).toBe('refused');
      expectSameCli(root);
    }
  });

  it('made under other V8 flags (its digest right) is rejected by V8: a plain compile', () => {
    const root = install('flags');
    for (const flags of [['--max-lazy'], ['--stack-size=900']]) {
      expect(cacheState(root, flags)).toBe('rejected');
      expectSameCli(root, flags);
    }
  });
});

describe('the bin around the bundle', () => {
  it('a bundle that is not there (a clone installed without its build) is said in one line with the fix: exit 5, no stack', () => {
    const root = install('unbuilt');
    rmSync(join(root, 'dist/cli.cjs'));
    const r = vaultTool(root, ['--version']);
    expect(r.stderr).toBe(
      `vault-tool: error: vault-tool is not built: ${join(root, 'dist/cli.cjs')} is missing\n` +
        'vault-tool: hint: run `npm run build` in its folder (npm install builds it, unless install scripts were turned off); a copy of bin/vault-tool.js alone does not run: link to it (ln -s) instead\n',
    );
    expect([r.status, r.stdout]).toEqual([5, '']);
  });

  it('a closed stdout ends the command with exit 0 and no stack; SIGINT and SIGTERM with 130', async () => {
    const closed = await new Promise<{ code: number | null; stderr: string }>((res) => {
      const p = spawn(process.execPath, [join(ROOT, 'bin/vault-tool.js'), '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
      p.stdout.destroy();
      let stderr = '';
      p.stderr.on('data', (c) => {
        stderr += c;
      });
      p.on('close', (code) => res({ code, stderr }));
    });
    expect(closed).toEqual({ code: 0, stderr: '' });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      // escrow combine waits for shares on stdin, which stays open.
      const code = await new Promise<number | null>((res) => {
        const p = spawn(process.execPath, [join(ROOT, 'bin/vault-tool.js'), 'escrow', 'combine', '--out', join(dir, 'never.key')], {
          cwd: dir,
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        // Sent once the command runs (its handlers are set before it starts), not while node starts.
        setTimeout(() => p.kill(signal), 2500);
        p.on('close', (c) => res(c));
      });
      expect(code, signal).toBe(130);
    }
  });
});
