import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decrypter, Encrypter } from 'age-encryption';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decrypt, encrypt, parseRecipient, X25519Identity } from '../../src/age/index.js';
import { parseKeyFile } from '../../src/vault/keyfile.js';
import { cli, haveBinary, tempDir } from '../helpers/cli.js';

/** Runs the stock `age` under a pseudo-terminal (it reads passphrases only from a terminal). */
function ageWithTty(args: string[], input: string, cwd: string): { status: number | null; out: string } {
  const cmd = ['age', ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { input, cwd, encoding: 'utf8' });
  return { status: r.status, out: r.stdout };
}

function age(args: string[], cwd: string, input?: Buffer): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync('age', args, { cwd, ...(input ? { input } : {}) });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

const hasAge = haveBinary('age');
let dir: string;
let cleanup: () => void;
beforeAll(() => ({ dir, cleanup } = tempDir()));
afterAll(() => cleanup());

describe.skipIf(!hasAge)('the Debian age binary', () => {
  it('decrypts a vault vault-tool wrote, recovering every secret', async () => {
    await cli(dir, ['init']);
    await cli(dir, ['add', 'platform/kek', '-t', 'kek', '--from-env', 'V'], { env: { V: Buffer.alloc(32, 9).toString('base64') } });
    await cli(dir, ['rotate', 'platform/kek']);
    const r = age(['-d', '-i', 'vault.key', 'secrets.vault'], dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout.toString());
    const kek = doc.entries.find((e: { name: string }) => e.name === 'platform/kek');
    expect(kek.versions).toHaveLength(2);
    expect(Buffer.from(kek.versions[0].value, 'base64').toString()).toBe(Buffer.alloc(32, 9).toString('base64'));
    expect(Buffer.from(kek.versions[1].value, 'base64').toString()).toBe((await cli(dir, ['get', 'platform/kek'])).stdout);
  });

  it('opens a passphrase-protected vault.key, and that identity opens the vault', async () => {
    const g = ['--vault-file', 'p.vault', '--key-file', 'p.key', '--passphrase-env', 'PW'];
    expect((await cli(dir, ['init', ...g, '--passphrase', '--work-factor', '12'], { env: { PW: 'tr0ub4dor&3' } })).code).toBe(0);
    const r = ageWithTty(['-d', '-o', 'p.key.plain', 'p.key'], 'tr0ub4dor&3\n', dir);
    expect(r.status).toBe(0);
    const plain = readFileSync(join(dir, 'p.key.plain'), 'utf8');
    expect(plain).toMatch(/^AGE-SECRET-KEY-1/m);
    const v = age(['-d', '-i', 'p.key.plain', 'p.vault'], dir);
    expect(v.status).toBe(0);
    expect(JSON.parse(v.stdout.toString()).format).toBe('vault-tool/vault');
  });

  it('writes files vault-tool decrypts: X25519, armored, several recipients, passphrase', () => {
    const id = X25519Identity.generate();
    const other = X25519Identity.generate();
    const msg = Buffer.from('x'.repeat(200_000));
    writeFileSync(join(dir, 'msg'), msg);
    for (const extra of [[], ['-a'], ['-r', other.identity.recipient]]) {
      const r = age(['-r', id.identity.recipient, ...extra, 'msg'], dir);
      expect(r.status).toBe(0);
      expect(decrypt(r.stdout, { identities: [id.identity] }).plaintext.equals(msg)).toBe(true);
    }
    const p = ageWithTty(['-p', '-o', 'msg.p.age', 'msg'], 'pass phrase\npass phrase\n', dir);
    expect(p.status).toBe(0);
    const enc = readFileSync(join(dir, 'msg.p.age'));
    expect(decrypt(enc, { passphrase: Buffer.from('pass phrase') }).plaintext.equals(msg)).toBe(true);
  });

  it('accepts an age-keygen identity file as a key file', async () => {
    const kg = spawnSync('age-keygen', ['-o', 'kg.key'], { cwd: dir });
    expect(kg.status).toBe(0);
    const key = parseKeyFile(readFileSync(join(dir, 'kg.key'), 'utf8'));
    await cli(dir, ['init', '--vault-file', 'a.vault', '--key-file', 'a.key']);
    expect((await cli(dir, ['--vault-file', 'a.vault', '--key-file', 'a.key', 'recipients', 'add', key.recipient])).code).toBe(0);
    expect((await cli(dir, ['list', '--vault-file', 'a.vault', '--key-file', 'kg.key'])).code).toBe(0);
  });
});

describe('the typage implementation (age-encryption)', () => {
  it('decrypts what vault-tool writes, and vault-tool decrypts what it writes', async () => {
    const id = X25519Identity.generate();
    const msg = Buffer.from('y'.repeat(70_000));
    const ours = encrypt(msg, { recipients: [parseRecipient(id.identity.recipient)] });
    const d = new Decrypter();
    d.addIdentity(id.encoded);
    expect(Buffer.from(await d.decrypt(ours)).equals(msg)).toBe(true);
    const e = new Encrypter();
    e.addRecipient(id.identity.recipient);
    const theirs = await e.encrypt(msg);
    expect(decrypt(theirs, { identities: [id.identity] }).plaintext.equals(msg)).toBe(true);
    const pe = new Encrypter();
    pe.setPassphrase('pw');
    pe.setScryptWorkFactor(10);
    expect(decrypt(await pe.encrypt(msg), { passphrase: Buffer.from('pw') }).plaintext.equals(msg)).toBe(true);
  });
});
