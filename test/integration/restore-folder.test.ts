import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, haveBinary, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

describe('backup restore --to-dir naming something that is not a folder', () => {
  it.skipIf(!haveBinary('tar'))('is refused before the backup is read: a file there, or a file where a parent folder should be', async () => {
    expect((await cli(dir, ['init'])).code).toBe(0);
    mkdirSync(join(dir, 'tree'));
    writeFileSync(join(dir, 'tree/a'), 'a');
    expect((await cli(dir, ['backup', 'files', 'a', '-C', 'tree', '--name', 'conf', '-r', 'repo'])).code).toBe(0);
    writeFileSync(join(dir, 'afile'), 'mine');
    for (const [to, why] of [
      ['afile', `cannot restore into ${join(dir, 'afile')}: it is a file, not a folder`],
      ['afile/sub', `cannot restore into ${join(dir, 'afile/sub')}: ${join(dir, 'afile')} is not a folder`],
    ]) {
      const before = readdirSync(dir).sort();
      const r = await cli(dir, ['backup', 'restore', 'files/conf', '-r', 'repo', '--to-dir', to!]);
      // The backup it chose is named first; nothing of it was read.
      expect(r.stderr.split('\n').slice(-2)).toEqual([`vault-tool: error: ${why}`, '']);
      expect(r.code).toBe(2);
      expect(readdirSync(dir).sort()).toEqual(before);
    }
  });
});
