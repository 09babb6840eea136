// `npm run bench` imports every benchmark module from the built library; one
// that names an export the library no longer has fails only there, after the
// slow set-up of the rows before it. Link each module here instead (importing
// runs nothing: each runs itself only as the main script).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BENCH = join(import.meta.dirname, '../../bench');
// run.mjs runs the benchmarks when imported; stream-child.mjs is a child process's script.
const modules = readdirSync(BENCH).filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && f !== 'stream-child.mjs');

describe('benchmark modules', () => {
  it('are all found', () => {
    expect(modules).toEqual(expect.arrayContaining(['vault.mjs', 'escrow.mjs', 'stream.mjs', 'backup.mjs', 'wal.mjs', 'bucket.mjs', 'peaks.mjs']));
  });
  it.each(modules)('%s links against the built library and exports its benchmark', async (f) => {
    const m = await import(join(BENCH, f));
    const entry = f === 'vault.mjs' ? m.benchVault : f === 'lib.mjs' ? m.row : m.default;
    expect(typeof entry).toBe('function');
  });
});
