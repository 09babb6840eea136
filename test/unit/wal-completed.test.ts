import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encrypt } from '../../src/age/index.js';
import { X25519Identity } from '../../src/age/x25519.js';
import { loadSigningKey } from '../../src/backup/keys.js';
import { checkSignature, type BackupManifest } from '../../src/backup/manifest.js';
import type { Repo } from '../../src/backup/repo.js';
import { RESTORE_READ } from '../../src/backup/wal/fetch.js';
import type { ReadKeys } from '../../src/backup/wal/identity.js';
import { sealWal, WAL_STANZA, walPush, type PushContext } from '../../src/backup/wal/push.js';
import { everyRead, MB, sha256Hex, walSegment, walArchive } from '../helpers/wal-segment.js';
import { tempDir } from '../helpers/cli.js';

/**
 * A WAL file found in the archive without its manifest (a push killed
 * between the two) is completed by the next push of its name from the
 * file's own stanza, which anyone who can write the repository can forge
 * (other data encrypted to the backup recipient under the right name, size
 * and SHA-256). The manifest says so, and every read of such a file hashes
 * its plaintext: a forged one is refused on every read path, an honest one
 * restores.
 */

describe('a WAL file completed by a later push', () => {
  let dir: string;
  let cleanup: () => void;
  let repo: Repo;
  let ctx: PushContext;
  let keys: ReadKeys;
  const id = X25519Identity.generate();
  const segs = () => join(dir, 'repo', 'postgres-wal', 'main', 'segments');
  const manifestOf = (n: string) => JSON.parse(readFileSync(join(segs(), `${n}.age.manifest.json`), 'utf8')) as BackupManifest;

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir('vt-wal-completed-'));
    ({ repo, ctx, keys } = walArchive(dir, id));
    mkdirSync(join(dir, 'pg_wal'));
    // The archive made by the first push.
    writeFileSync(join(dir, 'pg_wal', '000000010000000000000001'), walSegment(1n, 0x11));
    expect(await walPush(ctx, join(dir, 'pg_wal', '000000010000000000000001'))).toMatchObject({ status: 'archived' });
  });
  afterAll(() => cleanup());

  const restoreReads = (n: string) => everyRead(repo, n, keys, dir, [RESTORE_READ]);

  it("a file planted under a stanza that names the segment, without this host's signature: refused (exit 4), nothing replaced", async () => {
    const n = '000000010000000000000004';
    const real = walSegment(4n, 0x44);
    writeFileSync(join(dir, 'pg_wal', n), real);
    const other = loadSigningKey(join(dir, 'other.key'));
    for (const [forged, why] of [
      // A stanza as a push before it was signed wrote it: anyone can make one.
      [
        encrypt(walSegment(4n, 0x66), {
          recipients: [id.identity.recipient],
          extraStanzas: [{ type: WAL_STANZA, args: [n, String(real.length), sha256Hex(real)], body: new Uint8Array(0) }],
        }),
        /it carries no signature: written by a push of an earlier vault-tool, or planted/,
      ],
      // Signed, by another host's key.
      [
        Buffer.concat(sealWal(walSegment(4n, 0x66), id.identity.recipient, { cluster: 'main', name: n, size: real.length, sha256: sha256Hex(real) }, other)),
        new RegExp(`it names host key ${other.id}`),
      ],
      // This host's signature, over another cluster's name for it.
      [
        Buffer.concat(
          sealWal(walSegment(4n, 0x66), id.identity.recipient, { cluster: 'other', name: n, size: real.length, sha256: sha256Hex(real) }, ctx.signing),
        ),
        /the signature does not verify/,
      ],
    ] as const) {
      writeFileSync(join(segs(), `${n}.age`), forged);
      const e = await walPush(ctx, join(dir, 'pg_wal', n)).then(
        () => null,
        (x: unknown) => x,
      );
      expect(e).toMatchObject({ kind: 'integrity', code: 'wal-archived-unproven' });
      expect((e as Error).message).toMatch(why);
      expect((e as Error).message).toMatch(/is in the archive without a manifest, and its header is not signed by this host's signing key/);
      // Nothing written beside it, and the planted file kept as it was found: PostgreSQL keeps its copy and retries.
      expect(readdirSync(segs()).filter((f) => f.startsWith(n))).toEqual([`${n}.age`]);
      expect(readFileSync(join(segs(), `${n}.age`)).equals(forged)).toBe(true);
    }
  });

  it('a file forged under a stanza this host signed (its signing key stolen): completed, marked so, and refused by every restore read', async () => {
    const n = '000000010000000000000002';
    const real = walSegment(2n, 0x22);
    writeFileSync(join(dir, 'pg_wal', n), real);
    // Other data (a segment of the same name, its pages valid), encrypted to the backup recipient under the real one's stanza.
    const forged = Buffer.concat(
      sealWal(walSegment(2n, 0x66), id.identity.recipient, { cluster: 'main', name: n, size: real.length, sha256: sha256Hex(real) }, ctx.signing),
    );
    writeFileSync(join(segs(), `${n}.age`), forged);
    expect(await walPush(ctx, join(dir, 'pg_wal', n))).toMatchObject({ status: 'completed' });
    const reads = await restoreReads(n);
    expect(reads).toEqual(Array(3).fill(expect.stringMatching(/^000000010000000000000002: the decrypted data differs from what was archived \(SHA-256\)/)));
    expect(reads[0]).toContain('completed by a later push');
    const m = manifestOf(n);
    // The mark is signed with the rest: removing it breaks the signature.
    expect(m.completed).toBe(true);
    expect(m.verification?.check).toContain('held by its stanza');
    expect(checkSignature(m, keys.signers).ok).toBe(true);
    const { completed: _c, ...unmarked } = m;
    expect(checkSignature(unmarked as BackupManifest, keys.signers).ok).toBe(false);
    // The planted file stays as it was found: an archived file is never overwritten.
    expect(readFileSync(join(segs(), `${n}.age`)).equals(forged)).toBe(true);
  });

  it("a killed push's own file: completed, marked, and every restore read gives back the segment", async () => {
    const n = '000000010000000000000003';
    const real = walSegment(3n, 0x33);
    writeFileSync(join(dir, 'pg_wal', n), real);
    expect(await walPush(ctx, join(dir, 'pg_wal', n))).toMatchObject({ status: 'archived' });
    unlinkSync(join(segs(), `${n}.age.manifest.json`));
    expect(await walPush(ctx, join(dir, 'pg_wal', n))).toMatchObject({ status: 'completed' });
    expect(manifestOf(n).completed).toBe(true);
    expect(await restoreReads(n)).toEqual(Array(3).fill({ bytes: MB, sha256: sha256Hex(real) }));
  });

  it("a killed push's own file, then cut short or damaged in storage: refused (exit 4) and kept, never completed; the segment stays on the server", async () => {
    const n = '000000010000000000000005';
    const real = walSegment(5n, 0x55);
    writeFileSync(join(dir, 'pg_wal', n), real);
    expect(await walPush(ctx, join(dir, 'pg_wal', n))).toMatchObject({ status: 'archived' });
    unlinkSync(join(segs(), `${n}.age.manifest.json`));
    const whole = readFileSync(join(segs(), `${n}.age`));
    const headLen = whole.indexOf('\n', whole.indexOf('\n---') + 1) + 1;
    const flip = (at: number) => {
      const b = Buffer.from(whole);
      b[at] = b[at]! ^ 1;
      return b;
    };
    for (const damaged of [
      whole.subarray(0, whole.length - 70_000), // cut at a chunk's end: the header and every byte left as the push wrote them
      whole.subarray(0, headLen + 16 + 64 * 1024 + 16), // cut after the first chunk
      flip(whole.length - 30), // a bit of the last chunk
      flip(headLen + 3), // a bit of the payload nonce
    ]) {
      writeFileSync(join(segs(), `${n}.age`), damaged);
      const e = await walPush(ctx, join(dir, 'pg_wal', n)).then(
        () => null,
        (x: unknown) => x,
      );
      expect(e).toMatchObject({ kind: 'integrity', code: 'wal-archived-unproven' });
      expect((e as Error).message).toMatch(
        /is in the archive without a manifest, and its payload is not the one this host signed in its header \(it was cut short or damaged in storage\): it is not taken as archived/,
      );
      expect(readdirSync(segs()).filter((f) => f.startsWith(n))).toEqual([`${n}.age`]);
      expect(readFileSync(join(segs(), `${n}.age`)).equals(damaged)).toBe(true);
    }
    // Put back as the push wrote it, it is completed.
    writeFileSync(join(segs(), `${n}.age`), whole);
    expect(await walPush(ctx, join(dir, 'pg_wal', n))).toMatchObject({ status: 'completed' });
    expect(await restoreReads(n)).toEqual(Array(3).fill({ bytes: MB, sha256: sha256Hex(real) }));
  });

  it('a file pushed whole is not marked', () => {
    expect(manifestOf('000000010000000000000001').completed).toBeUndefined();
  });
});
