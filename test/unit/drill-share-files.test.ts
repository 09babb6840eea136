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

  it('a share file renamed by its custodian (SHARE.SHARE, ann-share.txt, no extension) is found; other text, a sheet and large files are not', async () => {
    const { shareToText } = await import('../../src/escrow/files.js');
    const { splitSecret } = await import('../../src/escrow/shares.js');
    const { idOfSecret } = await import('../../src/escrow/escrow.js');
    const { shares } = await splitSecret({
      secret: new Uint8Array(32).fill(7),
      threshold: 2,
      labels: ['ann', 'bob', 'cy'],
      epoch: 1,
      keyId: idOfSecret(new Uint8Array(32).fill(7)),
      keyIdOf: idOfSecret,
    });
    const text = (i: number) => `# vault-tool escrow share\n${shareToText(shares[i]!)}\n`;
    for (const c of ['ann', 'bob', 'cy']) mkdirSync(join(dir, c));
    writeFileSync(join(dir, 'ann', 'ann-share.txt'), text(0));
    writeFileSync(join(dir, 'bob', 'SHARE-02-BOB.SHARE'), text(1));
    writeFileSync(join(dir, 'cy', 'share'), text(2));
    writeFileSync(join(dir, 'ann', 'notes.txt'), 'call bob first\n');
    writeFileSync(join(dir, 'ann', 'sheet.html'), `<pre>${text(0)}</pre>`);
    writeFileSync(join(dir, 'cy', 'big.txt'), text(2) + 'x'.repeat(9000));
    expect(findShareFiles(dir)).toEqual([join(dir, 'ann', 'ann-share.txt'), join(dir, 'bob', 'SHARE-02-BOB.SHARE'), join(dir, 'cy', 'share')]);
  });

  it('a folder that is not there is named, with what to give instead', () => {
    expect(() => findShareFiles(join(dir, 'missing'))).toThrow(/cannot read the shares folder .*missing: ENOENT/);
  });
});
