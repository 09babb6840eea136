import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => void;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
});
afterEach(() => cleanup());

describe('names beyond ASCII', () => {
  it("a custodian's accented name keeps its letters in the share's file names; one with no Latin letter is numbered", async () => {
    const r = await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'Jürgen Ö', '-c', 'Zoë Ångström', '-c', '李 雷', '-o', 'shares']);
    expect(r.code).toBe(0);
    const files = readdirSync(join(dir, 'shares')).sort();
    expect(files).toEqual([
      'manifest.json',
      'share-01-jurgen-o.html',
      'share-01-jurgen-o.share',
      'share-02-zoe-angstrom.html',
      'share-02-zoe-angstrom.share',
      'share-03-custodian.html',
      'share-03-custodian.share',
    ]);
    const c = await cli(dir, [
      'escrow',
      'combine',
      '-o',
      'k.key',
      '--manifest',
      'shares/manifest.json',
      'shares/share-01-jurgen-o.share',
      'shares/share-03-custodian.share',
    ]);
    expect(c.code).toBe(0);
    expect(c.stdout).toContain('from shares of Jürgen Ö, 李 雷');
  });

  it('an entry name outside ASCII, or with a space, is refused with a hint that says which letters a name may use', async () => {
    for (const name of ['app/ключ', 'app/my key']) {
      const r = await cli(dir, ['add', name, '-t', 'kek', '--generate']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `vault-tool: error: invalid entry name: ${JSON.stringify(name)}\n` +
          'vault-tool: hint: names use the ASCII letters A-Z and a-z, digits, _ . - (no spaces; a segment starts with a letter, a digit or _) and / between segments, at most 253 characters\n',
      );
    }
  });
});

describe('a text value saved with a byte-order mark', () => {
  it('is refused naming the mark, never stripped: the value rule alone could not say what is wrong', async () => {
    writeFileSync(join(dir, 'key.txt'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('0123456789abcdef0123456789abcdef\r\n')]));
    const r = await cli(dir, ['add', 'i/e', '-t', 'infisical-encryption-key', '--from-file', 'key.txt']);
    expect(r.stderr).toBe(
      'vault-tool: error: value refused: infisical-encryption-key must be exactly 32 lowercase hex characters (16 bytes) (it begins with a UTF-8 byte-order mark, as some editors save text: save it without one)\n',
    );
    expect(r.code).toBe(11);
  });

  it('is refused for a type whose own rule would let it through (a password), naming the mark; generic bytes are kept as given', async () => {
    writeFileSync(join(dir, 'pw.txt'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('correct-horse-battery\r\n')]));
    const r = await cli(dir, ['add', 'db/pw', '-t', 'password', '--from-file', 'pw.txt']);
    expect(r.stderr).toBe(
      'vault-tool: error: value refused: a password value that begins with a UTF-8 byte-order mark, as some editors save text: save it without one\n',
    );
    expect(r.code).toBe(11);
    expect((await cli(dir, ['add', 'blob', '-t', 'generic', '--from-file', 'pw.txt'])).code).toBe(0);
  });
});

describe('a key file saved with a byte-order mark', () => {
  it('is refused naming the mark, not as a file that holds no key', async () => {
    const key = readFileSync(join(dir, 'vault.key'));
    writeFileSync(join(dir, 'bom.key'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), key]), { mode: 0o600 });
    const r = await cli(dir, ['list', '--key-file', 'bom.key']);
    expect(r.stderr.split('\n')[0]).toBe(
      'vault-tool: error: key file begins with a UTF-8 byte-order mark (an editor saved it so): save it without one, as plain text',
    );
    expect(r.code).toBe(4);
  });
});

describe('a share manifest saved with a byte-order mark and CRLF line ends', () => {
  it('is read: the mark is no part of the JSON, and the signature covers the fields, not the bytes', async () => {
    expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'ann', '-c', 'bob', '-c', 'cy', '-o', 'shares'])).code).toBe(0);
    const text = readFileSync(join(dir, 'shares/manifest.json'), 'utf8');
    writeFileSync(join(dir, 'copied.json'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text.replace(/\n/g, '\r\n'))]));
    const check = await cli(dir, ['escrow', 'check', 'shares/share-01-ann.share', '--manifest', 'copied.json']);
    expect([check.code, check.stderr]).toEqual([0, '']);
    const c = await cli(dir, ['escrow', 'combine', '-o', 'k.key', '--manifest', 'copied.json', 'shares/share-01-ann.share', 'shares/share-02-bob.share']);
    expect(c.code, c.stderr).toBe(0);
    expect(readFileSync(join(dir, 'k.key'))).toEqual(readFileSync(join(dir, 'vault.key')));
    // A changed field still fails the signature, mark or no mark.
    writeFileSync(join(dir, 'changed.json'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text.replace('"ann"', '"eve"'))]));
    const changed = await cli(dir, ['escrow', 'check', 'shares/share-01-ann.share', '--manifest', 'changed.json']);
    expect(changed.code).toBe(7);
    expect(changed.stderr).toContain('the manifest signature does not verify');
  });
});
