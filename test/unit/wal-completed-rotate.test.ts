import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X25519Identity } from '../../src/age/x25519.js';
import { loadSigningKey, type SigningKey } from '../../src/backup/keys.js';
import { signManifest, type BackupManifest } from '../../src/backup/manifest.js';
import type { Repo } from '../../src/backup/repo.js';
import { RESTORE_READ } from '../../src/backup/wal/fetch.js';
import type { ReadKeys } from '../../src/backup/wal/identity.js';
import { walPush, type PushContext } from '../../src/backup/wal/push.js';
import { parseDestination } from '../../src/dest/index.js';
import { keyIdOf } from '../../src/vault/keyfile.js';
import { everyRead, MB, sha256Hex, walSegment } from '../helpers/wal-segment.js';
import { tempDir } from '../helpers/cli.js';

/**
 * A push killed between its file and its manifest, then the backup key
 * rotated, then the retry: the retry completes the file it finds, which is
 * encrypted to the old key. The completing push cannot tell which key that
 * is, so its manifest claims none, and every read tries each identity it
 * holds (the plaintext is hashed against the manifest anyway): the segment
 * stays readable whenever a key that opens it is held.
 */
type Generated = ReturnType<typeof X25519Identity.generate>;

describe('a WAL file completed after a rotation of the backup key', () => {
  let dir: string;
  let cleanup: () => void;
  let repo: Repo;
  let signing: SigningKey;
  const A = X25519Identity.generate();
  const B = X25519Identity.generate();
  const n = '000000010000000000000001';
  const real = walSegment(1n, 0x41);
  const segs = () => join(dir, 'repo', 'postgres-wal', 'main', 'segments');
  const manifestPath = () => join(segs(), `${n}.age.manifest.json`);
  const ctxOf = (k: Generated): PushContext => ({
    repo,
    cluster: 'main',
    recipient: { recipient: k.identity.recipient, keyId: keyIdOf(k.identity.recipient) },
    signing,
    machine: 'db1',
    now: () => new Date(),
  });
  const keysOf = (...ks: Generated[]): ReadKeys => ({
    identities: ks.map((k) => ({ keyId: keyIdOf(k.identity.recipient), identity: k.identity })),
    signers: [{ id: signing.id, publicKey: signing.publicKey, label: 'db1', addedAt: '' }],
  });

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir('vt-wal-rotate-'));
    repo = { dest: parseDestination(join(dir, 'repo'), dir, { env: {} }) };
    signing = loadSigningKey(join(dir, 'signing.key'));
    mkdirSync(join(dir, 'pg_wal'));
    writeFileSync(join(dir, 'pg_wal', n), real);
    expect(await walPush(ctxOf(A), join(dir, 'pg_wal', n))).toMatchObject({ status: 'archived' });
    unlinkSync(manifestPath());
    expect(await walPush(ctxOf(B), join(dir, 'pg_wal', n))).toMatchObject({ status: 'completed' });
  });
  afterAll(() => cleanup());

  /** wal-fetch, a restore's read, a verification's read, and the prefetcher's worker. */
  const reads = (keys: ReadKeys) => everyRead(repo, n, keys, dir, [RESTORE_READ, {}]);

  it('the completing manifest claims no key: the push cannot tell which one the file it found is encrypted to', () => {
    const m = JSON.parse(readFileSync(manifestPath(), 'utf8')) as BackupManifest;
    expect(m).toMatchObject({ completed: true, keyId: '', recipient: '' });
  });

  it('read with both keys, in either order, or with the old key alone: the segment', async () => {
    const want = { bytes: MB, sha256: sha256Hex(real) };
    expect(await reads(keysOf(B, A))).toEqual(Array(4).fill(want));
    expect(await reads(keysOf(A, B))).toEqual(Array(4).fill(want));
    expect(await reads(keysOf(A))).toEqual(Array(4).fill(want));
  });

  it('with only the new key: refused, saying no key held opens it', async () => {
    expect(await reads(keysOf(B))).toEqual(Array(4).fill(expect.stringMatching(/^000000010000000000000001: decryption failed: no backup key held opens it/)));
  });

  it('a completed manifest that names the wrong key (as completing pushes once wrote) still reads with the key that opens it', async () => {
    const saved = readFileSync(manifestPath());
    try {
      const { signature: _s, signer: _g, ...body } = JSON.parse(saved.toString('utf8')) as BackupManifest;
      const named = signManifest({ ...body, recipient: B.identity.recipient, keyId: keyIdOf(B.identity.recipient) }, signing);
      writeFileSync(manifestPath(), JSON.stringify(named));
      const want = { bytes: MB, sha256: sha256Hex(real) };
      expect(await reads(keysOf(B, A))).toEqual(Array(4).fill(want));
      expect(await reads(keysOf(A))).toEqual(Array(4).fill(want));
    } finally {
      writeFileSync(manifestPath(), saved);
    }
  });
});
