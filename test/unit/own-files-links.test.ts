import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/backup/keys.js';
import { FolderDestination } from '../../src/dest/folder.js';
import { createPendingFile } from '../../src/fs/pending.js';
import { writeFileAtomic } from '../../src/fs/atomic.js';
import { recordSeen } from '../../src/vault/state.js';

// Names the tool chooses itself (inside a repository, in its state folder, a file it creates) are never
// written through a link planted there: the file the link names keeps its bytes.
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vt-links-'));
  writeFileSync(join(dir, 'precious.txt'), 'not yours\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const precious = () => readFileSync(join(dir, 'precious.txt'), 'utf8');

describe('own files are never written through a link', () => {
  it('a file inside a repository: a link there is refused, the file it names untouched', async () => {
    const repo = new FolderDestination(join(dir, 'repo'));
    await repo.write('first.json', Buffer.from('{}'));
    symlinkSync(join(dir, 'precious.txt'), join(dir, 'repo', 'files.manifest.json'));
    await expect(repo.write('files.manifest.json', Buffer.from('{"x":1}'))).rejects.toThrow(/symbolic link/);
    await expect(repo.write('files.manifest.json', Buffer.from('{"x":1}'), { exclusive: true })).rejects.toThrow(/already exists/);
    expect(precious()).toBe('not yours\n');
  });

  it('a new file is never created through a link that points nowhere', () => {
    symlinkSync(join(dir, 'elsewhere.key'), join(dir, 'signing.key'));
    expect(() => loadSigningKey(join(dir, 'signing.key'))).toThrow(/already exists \(a symbolic link\)/);
    expect(existsSync(join(dir, 'elsewhere.key'))).toBe(false);
    symlinkSync(join(dir, 'made.txt'), join(dir, 'out.txt'));
    expect(() => writeFileAtomic(join(dir, 'out.txt'), 'x', { exclusive: true })).toThrow(/already exists/);
    expect(() => createPendingFile(join(dir, 'out.txt'), { exclusive: true })).toThrow(/already exists/);
    expect(existsSync(join(dir, 'made.txt'))).toBe(false);
  });

  it('the record of the vaults seen: a link at seen.json is not written through', async () => {
    // A valid record, so that only the link stands between the tool and a write through it.
    const record = '{"version":2,"vaults":{}}\n';
    writeFileSync(join(dir, 'elsewhere.json'), record);
    symlinkSync(join(dir, 'elsewhere.json'), join(dir, 'seen.json'));
    const warning = await recordSeen(join(dir, 'seen.json'), 'v1', { generation: 1, header: 'h' } as never, new Date());
    expect(warning).toMatch(/symbolic link/);
    expect(readFileSync(join(dir, 'elsewhere.json'), 'utf8')).toBe(record);
    expect(lstatSync(join(dir, 'seen.json')).isSymbolicLink()).toBe(true);
  });
});
