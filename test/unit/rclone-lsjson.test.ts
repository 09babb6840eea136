import { describe, expect, it } from 'vitest';
import { lsjsonEntries } from '../../src/dest/rclone.js';

/** `rclone lsjson` output read a line at a time, and whole when it is laid out otherwise: the same entries either way. */
describe('rclone lsjson output', () => {
  const a = { Path: 'a/x', Size: 3 };
  const b = { Path: 'b,y ]', Size: 0 };
  it('one entry a line, as rclone writes it; an empty listing', () => {
    expect(lsjsonEntries(Buffer.from(`[\n${JSON.stringify(a)},\n${JSON.stringify(b)}\n]\n`), 'r:')).toEqual([a, b]);
    expect(lsjsonEntries(Buffer.from('[\n]\n'), 'r:')).toEqual([]);
  });
  it('any other layout is parsed whole; what is not a JSON list fails', () => {
    expect(lsjsonEntries(Buffer.from(JSON.stringify([a, b], null, 2)), 'r:')).toEqual([a, b]);
    expect(lsjsonEntries(Buffer.from(JSON.stringify([a, b])), 'r:')).toEqual([a, b]);
    expect(() => lsjsonEntries(Buffer.from('[\n{"Path":\n'), 'r:')).toThrow('rclone lsjson gave output that is not JSON');
    expect(() => lsjsonEntries(Buffer.from('{}'), 'r:')).toThrow('not a list of objects');
  });
});
