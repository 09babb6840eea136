import { build } from 'esbuild';
const r = await build({
  entryPoints: { cli: 'src/cli/main.ts' }, outdir: '/tmp/fixed22-w/metaout', bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20',
  minify: true, keepNames: true, metafile: true, write: false, external: ['@kubernetes/client-node', '@inquirer/prompts'], logLevel: 'error',
});
// graph: from an entry source file, follow static imports (not dynamic) to list source inputs reached
const inputs = r.metafile.inputs;
function reach(start) {
  const seen = new Set(); const st = [start];
  while (st.length) { const f = st.pop(); if (seen.has(f)) continue; seen.add(f); for (const i of inputs[f]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) st.push(i.path); }
  return seen;
}
const base = reach('src/cli/main.ts');
for (const e of process.argv.slice(2)) {
  const s = reach(e); const extra = [...s].filter((f) => !base.has(f));
  const bytes = extra.reduce((n, f) => n + (inputs[f]?.bytes ?? 0), 0);
  console.log(e, 'extra modules', extra.length, 'bytes', bytes);
  if (process.env.LIST) console.log(extra.sort().map((f) => `  ${f} ${inputs[f].bytes}`).join('\n'));
}
