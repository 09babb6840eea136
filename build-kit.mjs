// Builds the browser recovery kit: src/kit/ui.ts bundled by esbuild (not
// minified, so it stays readable) and inlined with its stylesheet into one
// HTML file whose Content-Security-Policy forbids every connection and allows
// only this script and this stylesheet, by hash. Same sources, same bytes.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('.', import.meta.url));
const hash = (s) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

/** Returns the kit's HTML as a string. */
export async function buildKit() {
  const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
  const out = await build({
    absWorkingDir: ROOT,
    entryPoints: ['src/kit/ui.ts'],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: false,
    charset: 'utf8',
    legalComments: 'inline',
    sourcemap: false,
    logLevel: 'warning',
    define: { KIT_VERSION: JSON.stringify(version) },
  });
  // A script element ends at the first "</script", whatever the JavaScript means there.
  const js = out.outputFiles[0].text.replace(/<\/(script)/gi, '<\\/$1');
  const css = readFileSync(new URL('./src/kit/page.css', import.meta.url), 'utf8');
  const csp = [
    "default-src 'none'",
    `script-src ${hash(js)}`,
    `style-src ${hash(css)}`,
    "img-src 'none'",
    "connect-src 'none'",
    "media-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
  const page = readFileSync(new URL('./src/kit/page.html', import.meta.url), 'utf8');
  const fill = { CSP: csp, VERSION: version, CSS: css, JS: js };
  return page.replace(/\{\{(CSP|VERSION|CSS|JS)\}\}/g, (_, k) => fill[k]);
}
