import { describe, expect, it } from 'vitest';
import { ObjectList, StringTable } from '../../src/dest/object-list.js';
import { lsjsonEntries, LsjsonParser } from '../../src/dest/rclone.js';

describe('a listing held compactly', () => {
  it('gives back every object as listed, sorted by key as JavaScript sorts strings (past ASCII too)', () => {
    const keys = ['b/2', 'a', 'é', 'z', '\u{1F600}', '\uFF5E', 'a/b c', 'A', '', 'ü/x', 'ab', 'a\u0000'];
    const list = new ObjectList();
    keys.forEach((key, i) =>
      list.push({ key, size: i * 1000, modTime: `2026-01-0${(i % 9) + 1}T00:00:00.123456789Z`, ...(i % 2 ? { md5: i.toString(16).padStart(32, '0') } : {}) }),
    );
    expect(list.bytes).toBe(keys.reduce((n, _, i) => n + i * 1000, 0));
    list.sortByKey();
    expect([...list].map((o) => o.key)).toEqual([...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    for (const o of list) {
      const i = keys.indexOf(o.key);
      expect(o).toEqual({
        key: o.key,
        size: i * 1000,
        modTime: `2026-01-0${(i % 9) + 1}T00:00:00.123456789Z`,
        ...(i % 2 ? { md5: i.toString(16).padStart(32, '0') } : {}),
      });
    }
    expect(() => list.key(keys.length)).toThrow(RangeError);
  });

  it('holds a hundred thousand objects in their bytes and about 60 more each, whatever it held before growing', () => {
    const list = new ObjectList();
    const n = 100_000;
    for (let i = 0; i < n; i++)
      list.push({
        key: `folder-${i % 100}/object-${i}.bin`,
        size: i,
        modTime: '2026-12-07T03:25:00.123456789Z',
        md5: 'd41d8cd98f00b204e9800998ecf8427e',
        sha256: 'ab'.repeat(32),
      });
    expect(list.length).toBe(n);
    expect(list.get(n - 1)).toEqual({
      key: `folder-99/object-${n - 1}.bin`,
      size: n - 1,
      modTime: '2026-12-07T03:25:00.123456789Z',
      md5: 'd41d8cd98f00b204e9800998ecf8427e',
    });
    expect(list.sha256(12345)).toBe('ab'.repeat(32));
    // Its memory: the keys' and times' bytes, 8 bytes a size, 16 an MD5, 32 a SHA-256, 16 the two tables' ends, 1 a flag; doubled at most by growth.
    const text = 'folder-00/object-00000.bin'.length + '2026-12-07T03:25:00.123456789Z'.length;
    expect(list.heldBytes()).toBeLessThan(2 * n * (text + 8 + 16 + 32 + 16 + 1));
  });

  it('a string table compares as JavaScript does, decoding only past ASCII', () => {
    const t = new StringTable();
    const s = ['abc', 'abd', 'ab', '\uFF5E', '\u{1F600}', 'abc'];
    for (const x of s) t.push(x);
    for (let i = 0; i < s.length; i++) for (let j = 0; j < s.length; j++) expect(Math.sign(t.compare(i, j))).toBe(s[i]! < s[j]! ? -1 : s[i]! > s[j]! ? 1 : 0);
  });
});

describe("rclone lsjson's output parsed as it arrives", () => {
  const entries = Array.from({ length: 500 }, (_, i) => ({ Path: `p/${i}`, Name: `${i}`, Size: i, ModTime: '2026-01-01T00:00:00Z', IsDir: false }));
  const text = `[\n${entries.map((e) => JSON.stringify(e)).join(',\n')}\n]\n`;

  it('gives every entry, in whatever pieces the output comes, without keeping the output', () => {
    for (const piece of [3, 7, 100, 4096, text.length]) {
      const got: unknown[] = [];
      const p = new LsjsonParser('r:', (e) => got.push(e));
      const b = Buffer.from(text);
      for (let at = 0; at < b.length; at += piece) {
        p.push(b.subarray(at, at + piece));
        // Past its first two lines, nothing of the output is kept but the line being read.
        if (at > 2000) expect(p.keptBytes()).toBeLessThan(200);
      }
      p.end();
      expect(got).toEqual(entries);
    }
  });

  it('another layout is parsed whole; output cut short or garbled is refused', () => {
    expect(lsjsonEntries(Buffer.from(JSON.stringify(entries, null, 2)), 'r:')).toEqual(entries);
    expect(lsjsonEntries(Buffer.from(JSON.stringify(entries)), 'r:')).toEqual(entries);
    expect(() => lsjsonEntries(Buffer.from(text.slice(0, text.length - 3)), 'r:')).toThrow('rclone lsjson gave output that is not JSON');
    expect(() => lsjsonEntries(Buffer.from(text.replace('"p/300"', '"p/300')), 'r:')).toThrow('rclone lsjson gave output that is not JSON');
    expect(() => lsjsonEntries(Buffer.from(`${text}trailing\n`), 'r:')).toThrow('rclone lsjson gave output that is not JSON');
  });
});
