// Bundles the library with esbuild (ES modules, split: importers load what
// they use) and the CLI as one file with its code cache (build-cli.mjs).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { buildCli, lazyChildProcess, nodeSha256 } from './build-cli.mjs';
import { buildKit } from './build-kit.mjs';
import { createRequire } from 'node:module';

rmSync(new URL('./dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: {
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

// The CLI: dist/cli.cjs and dist/cli.cjs.cache.
await buildCli();

// The browser recovery kit: one self-contained HTML file (build-kit.mjs).
writeFileSync(new URL('./dist/recovery-kit.html', import.meta.url), await buildKit());

// Type declarations for the library's entry points (dist/types), as package.json's exports name them.
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', new URL('./tsconfig.build.json', import.meta.url).pathname], { stdio: 'inherit' });
