// Bundles the CLI and the library with esbuild: one small module graph that
// starts fast; heavy, rarely used dependencies stay in lazily loaded chunks.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

rmSync(new URL('./dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { cli: 'src/cli/main.ts', 'lib/index': 'src/lib/index.ts' },
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
  banner: { js: "import { createRequire as __vtCreateRequire } from 'node:module'; const require = __vtCreateRequire(import.meta.url);" },
});
