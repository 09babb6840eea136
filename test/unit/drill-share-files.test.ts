import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findShareFiles } from '../../src/drill/init.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vt-shares-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the shares a drill plan is made from', () => {
  it('one folder per custodian; a dangling link and a folder inside are no shares, and no crash', () => {
    for (const c of ['alice', 'bob', 'carol']) mkdirSync(join(dir, c));
    writeFileSync(join(dir, 'alice', 'alice.share'), 'x');
    writeFileSync(join(dir, 'bob', 'bob.share.age'), 'x');
    symlinkSync(join(dir, 'gone.share'), join(dir, 'carol', 'carol.share'));
    mkdirSync(join(dir, 'carol', 'nested.share'));
    writeFileSync(join(dir, 'top.share'), 'x');
    writeFileSync(join(dir, 'notes.txt'), 'x');
    expect(findShareFiles(dir)).toEqual([join(dir, 'alice', 'alice.share'), join(dir, 'bob', 'bob.share.age'), join(dir, 'top.share')]);
  });

  it('a folder that is not there is named, with what to give instead', () => {
    expect(() => findShareFiles(join(dir, 'missing'))).toThrow(/cannot read the shares folder .*missing: ENOENT/);
  });
});
