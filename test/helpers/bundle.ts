import { buildSync } from 'esbuild';
import { join } from 'node:path';

/**
 * Bundles a child script written against the sources (for tests that need a
 * separate process: killed mid-write, or left to exit on its own) into
 * `dir`, the way build.mjs bundles the library (ES modules), and returns the file to run.
 */
export function bundleChild(entry: string, dir: string): string {
  const outfile = join(dir, `${entry.replace(/\W+/g, '_')}.mjs`);
  buildSync({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    minify: true,
    keepNames: true,
    logLevel: 'warning',
    banner: { js: "import { createRequire as __vtCreateRequire } from 'node:module'; const require = __vtCreateRequire(import.meta.url);" },
  });
  return outfile;
}
