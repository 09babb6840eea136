import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarNameBytes } from '../../src/backup/kinds/files.js';
import { cli, tempDir } from '../helpers/cli.js';

/**
 * A files restore into a folder finds every file it would overwrite before
 * it extracts anything, whatever the file's name: tar lists a name with a
 * newline, a backslash or a byte that is no UTF-8 escaped, and the check
 * looked up the escaped text, found nothing, and the restore then moved
 * part of the archive into place before stopping at the file that was there.
 */
let dir: string;
let cleanup: () => void;
const NAMES = ['n\nl', 'a\\b', 't\tb', 'q"x'];
beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-restore-names-'));
  expect((await cli(dir, ['init'])).code).toBe(0);
  mkdirSync(join(dir, 'src'));
  for (const n of NAMES) writeFileSync(join(dir, 'src', n), `backup of ${JSON.stringify(n)}\n`);
  writeFileSync(join(dir, 'src', 'plain'), 'backup\n');
  const b = await cli(dir, ['backup', 'files', '-C', 'src', '.', '--name', 'odd', '-r', 'repo']);
  expect(b.code, b.stderr).toBe(0);
});
afterAll(() => cleanup());

describe('restoring files with awkward names into a folder', () => {
  it.each(NAMES)('%j already there: refused before anything is restored (exit 10)', async (name) => {
    const to = join(dir, `to-${NAMES.indexOf(name)}`);
    mkdirSync(to);
    writeFileSync(join(to, name), 'PRECIOUS\n');
    const r = await cli(dir, ['backup', 'restore', 'files/odd', '-r', 'repo', '--to-dir', to]);
    expect(r.code).toBe(10);
    expect(r.stderr).toMatch(/1 file\(s\) in .* would be overwritten .*: nothing was restored/);
    expect(readdirSync(to)).toEqual([name]);
    expect(readFileSync(join(to, name), 'utf8')).toBe('PRECIOUS\n');
  });

  it('tar names decode to the bytes they name', () => {
    expect(tarNameBytes('./n\\nl').toString()).toBe('./n\nl');
    expect(tarNameBytes('./a\\\\b').toString()).toBe('./a\\b');
    expect(tarNameBytes('./l\\351x')).toEqual(Buffer.from([0x2e, 0x2f, 0x6c, 0xe9, 0x78]));
    expect(tarNameBytes('./\\303\\274 sp').toString()).toBe('./ü sp');
    expect(tarNameBytes('./ü plain').toString()).toBe('./ü plain');
  });
});
