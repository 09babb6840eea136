import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { feedWal } from '../../src/drill/pitr-feed.js';

// The folder a drill hands WAL through belongs to the server's user, who may write there: a link it plants
// where the drill (root) writes is removed, never written through.
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vt-feed-links-'));
  writeFileSync(join(dir, 'precious.txt'), 'not yours\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("the drill's WAL folder", () => {
  it('a link planted at the name of a file the drill writes is not written through', async () => {
    const walDir = join(dir, 'wal');
    mkdirSync(walDir);
    for (const n of ['.names', '.asked', '.end']) symlinkSync(join(dir, 'precious.txt'), join(walDir, `.${n}.tmp`));
    const feed = feedWal({ repo: {} as never, cluster: 'main', keys: {} as never, names: [], dir: walDir, window: 1, pid: process.pid });
    await feed.done;
    expect(readFileSync(join(dir, 'precious.txt'), 'utf8')).toBe('not yours\n');
    for (const n of ['.names', '.asked', '.end']) expect(lstatSync(join(walDir, n)).isFile()).toBe(true);
    expect(readFileSync(join(walDir, '.names'), 'utf8')).toBe('\n');
  });
});
