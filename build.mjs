// Bundles the CLI and the library with esbuild: one small module graph that
// starts fast; heavy, rarely used dependencies stay in lazily loaded chunks.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { buildKit } from './build-kit.mjs';
import { createRequire } from 'node:module';

/**
 * commander loads node:child_process at start-up for "executable
 * subcommands", which vault-tool never uses; that costs ~7 ms of every
 * command's start-up. Load it only if ever called.
 */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onLoad({ filter: /commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      const src = readFileSync(args.path, 'utf8');
      const eager = "const childProcess = require('node:child_process');";
      if (!src.includes(eager)) throw new Error(`${args.path}: commander changed; update lazy-child-process in build.mjs`);
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
const nodeSha256 = {
  name: 'node-sha256',
  setup(b) {
    const shim = new URL('./src/fs/node-sha2.ts', import.meta.url).pathname;
    const src = new URL('./src/', import.meta.url).pathname;
    b.onResolve({ filter: /^@noble\/hashes\/sha2\.js$/ }, (args) => (args.importer.startsWith(src) ? { path: shim } : undefined));
  },
};

rmSync(new URL('./dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: {
    cli: 'src/cli/main.ts',
    'lib/index': 'src/lib/index.ts',
    'lib/age': 'src/lib/age.ts',
    'lib/escrow': 'src/lib/escrow.ts',
    'lib/k8s': 'src/lib/k8s.ts',
    // The throwaway servers of the demo, which the tests and benchmarks start too (test/helpers/servers.mjs).
    servers: 'src/cli/servers.ts',
    'lib/backup': 'src/lib/backup.ts',
    'lib/verify': 'src/lib/verify.ts',
    'lib/drill': 'src/lib/drill.ts',
  },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: false,
  legalComments: 'none',
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  // Loaded from node_modules at run time, and only by the k8s commands.
  external: ['@kubernetes/client-node'],
  plugins: [lazyChildProcess, nodeSha256],
  banner: { js: "import { createRequire as __vtCreateRequire } from 'node:module'; const require = __vtCreateRequire(import.meta.url);" },
});

// The browser recovery kit: one self-contained HTML file (build-kit.mjs).
writeFileSync(new URL('./dist/recovery-kit.html', import.meta.url), await buildKit());

// Type declarations for the library's entry points (dist/types), as package.json's exports name them.
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', new URL('./tsconfig.build.json', import.meta.url).pathname], { stdio: 'inherit' });
