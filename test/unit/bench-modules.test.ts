// `npm run bench` imports every benchmark module from the built library; one
// that names an export the library no longer has fails only there, after the
// slow set-up of the rows before it. Link each module here instead, in Node
// itself (vitest's own module loader lets a missing named export through as
// undefined). Importing runs nothing: each module runs itself only as the main script.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const BENCH = join(import.meta.dirname, '../../bench');
// run.mjs runs the benchmarks when imported; stream-child.mjs is a child process's script.
const modules = readdirSync(BENCH).filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && f !== 'stream-child.mjs');

describe('benchmark modules', () => {
  it('are all found', () => {
    expect(modules).toEqual(expect.arrayContaining(['vault.mjs', 'escrow.mjs', 'stream.mjs', 'backup.mjs', 'wal.mjs', 'bucket.mjs', 'peaks.mjs']));
  });
  it.each(modules)('%s links against the built library and exports its benchmark', (f) => {
    const entry = f === 'vault.mjs' ? 'benchVault' : f === 'lib.mjs' ? 'row' : 'default';
    const script = `const m = await import(${JSON.stringify(pathToFileURL(join(BENCH, f)).href)}); if (typeof m[${JSON.stringify(entry)}] !== 'function') throw new Error('no ${entry} export');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
