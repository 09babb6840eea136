import { build } from 'esbuild';
const r = await build({ entryPoints: { cli: 'src/cli/main.ts' }, outdir: '/tmp/fixed22-w/metaout', bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20', metafile: true, write: false, external: ['@kubernetes/client-node', '@inquirer/prompts'], logLevel: 'error' });
const inputs = r.metafile.inputs;
const target = process.argv[2];
for (const [f, v] of Object.entries(inputs)) for (const i of v.imports) if (i.path === target) console.log(f, i.kind);
