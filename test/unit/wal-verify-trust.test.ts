import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X25519Identity } from '../../src/age/x25519.js';
import { loadSigningKey, type SigningKey } from '../../src/backup/keys.js';
import { signManifest } from '../../src/backup/manifest.js';
import type { Listed, Repo } from '../../src/backup/repo.js';
import type { ReadKeys } from '../../src/backup/wal/identity.js';
import { walPush, type PushContext } from '../../src/backup/wal/push.js';
import { walStatus } from '../../src/backup/wal/status.js';
import { archiveFindings } from '../../src/backup/status.js';
import { verifyArchive } from '../../src/backup/wal/verify.js';
import { keyIdOf } from '../../src/vault/keyfile.js';
import { WAL_SYSID, walSegment, walArchive } from '../helpers/wal-segment.js';
import { tempDir } from '../helpers/cli.js';

/**
 * A verification's verdict must be what a restore would do. A segment whose
 * manifest no trusted host signed, or whose full read fails, is refused by
 * every restore: continuity does not run through it (the base's verdict
 * says where recovery stops, and why), a base backup no trusted host signed
 * is not counted by the status, and a file marked completed that this run
 * did not read is reported as not judged.
 */
describe('the WAL verification and status hold to what a restore would use', () => {
  let dir: string;
  let cleanup: () => void;
  let repo: Repo;
  let ctx: PushContext;
  let other: PushContext;
  let keys: ReadKeys;
  const id = X25519Identity.generate();
  const segs = () => join(dir, 'repo', 'postgres-wal', 'main', 'segments');
  const name = (n: bigint) => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`;

  /** A base backup of the cluster from segment 1, signed by `key`, verified. */
  const base = (key: SigningKey, file: string): Listed => ({
    component: 'postgres-base/main',
    file,
    manifest: signManifest(
      {
        format: 'vault-tool/backup-manifest',
        version: 1,
        id: file,
        component: 'postgres-base/main',
        kind: 'postgres-base',
        file,
        source: { cluster: 'main', timeline: '1', startLsn: '0/100028', stopLsn: '0/100100', systemId: String(WAL_SYSID) },
        tool: { name: 'pg_basebackup', version: '17', args: [] },
        startedAt: '2026-12-01T00:00:00.000Z',
        finishedAt: '2026-12-01T00:00:01.000Z',
        plaintext: { size: 1, sha256: '0'.repeat(64) },
        ciphertext: { size: 1, sha256: '0'.repeat(64) },
        recipient: id.identity.recipient,
        keyId: keyIdOf(id.identity.recipient),
        verification: { at: '2026-12-01T00:00:02.000Z', ok: true, check: 'full read', message: '' },
      },
      key,
    ),
  });

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir('vt-wal-verify-trust-'));
    ({ repo, ctx, keys } = walArchive(dir, id));
    other = { ...ctx, signing: loadSigningKey(join(dir, 'other.key')), machine: 'intruder' };
    mkdirSync(join(dir, 'pg_wal'));
    for (let n = 1n; n <= 5n; n++) {
      writeFileSync(join(dir, 'pg_wal', name(n)), walSegment(n, Number(n)));
      // Segment 3 in the archive under a manifest of a host the vault does not trust.
      expect(await walPush(n === 3n ? other : ctx, join(dir, 'pg_wal', name(n)))).toMatchObject({ status: 'archived' });
    }
  });
  afterAll(() => cleanup());

  it('continuity stops at a segment no trusted host signed: the base verdict says where and why', async () => {
    const r = await verifyArchive(repo, 'main', [base(ctx.signing, 'b1.tar.age')], keys, { readData: false });
    expect(r.bases).toEqual([
      expect.objectContaining({
        ok: false,
        through: name(2n),
        missing: name(3n),
        message: expect.stringMatching(
          new RegExp(
            `^WAL segment ${name(3n)} cannot be used \\(the manifest is signed by host key ${other.signing.id}, which the vault does not trust\\): points in time after about .* cannot be recovered`,
          ),
        ),
      }),
    ]);
    expect(r.files).toEqual([expect.objectContaining({ name: name(3n), ok: false })]);
  });

  it('a segment whose full read fails: the base verdict, judged after the reads, stops before it', async () => {
    const f = join(segs(), `${name(2n)}.age`);
    const good = readFileSync(f);
    const bad = Buffer.from(good);
    bad[bad.length - 30] = bad[bad.length - 30]! ^ 1;
    writeFileSync(f, bad);
    try {
      const r = await verifyArchive(repo, 'main', [base(ctx.signing, 'b1.tar.age')], keys, { readData: true });
      expect(r.bases).toEqual([
        expect.objectContaining({
          ok: false,
          through: name(1n),
          missing: name(2n),
          message: expect.stringContaining(`WAL segment ${name(2n)} cannot be used (`),
        }),
      ]);
    } finally {
      writeFileSync(f, good);
    }
  });

  it('a completed mark this run did not read is not judged; a full read passes the file and removes the mark', async () => {
    writeFileSync(join(segs(), `${name(4n)}.age.completed`), 'marked\n');
    expect((await verifyArchive(repo, 'main', [], keys, { readData: false })).completedUnread).toEqual([name(4n)]);
    const r = await verifyArchive(repo, 'main', [], keys, { readData: 0.01 });
    expect(r.completedUnread).toEqual([]);
    expect(existsSync(join(segs(), `${name(4n)}.age.completed`))).toBe(false);
  });

  it('the status names each of the newest segments a restore would refuse on its manifest: a failure, not a pass', async () => {
    const m4 = join(segs(), `${name(4n)}.age.manifest.json`);
    const m5 = join(segs(), `${name(5n)}.age.manifest.json`);
    const [four, five] = [readFileSync(m4), readFileSync(m5)];
    try {
      writeFileSync(m4, '{"format": ');
      // Segment 1's manifest (this host's, signed) under segment 5's name.
      writeFileSync(m5, readFileSync(join(segs(), `${name(1n)}.age.manifest.json`)));
      const w = await walStatus(repo, 'main', [], { now: new Date(), signers: keys.signers });
      expect(w.unusable).toEqual([
        { name: name(4n), verdict: 'failed', message: expect.stringContaining('not valid JSON') },
        { name: name(5n), verdict: 'failed', message: `its manifest describes postgres-wal/main/${name(1n)}: it was moved` },
      ]);
      // The newest is the newest manifest that is the segment's own: segment 3's, which no trusted host signed (said apart).
      expect(w).toMatchObject({ newest: name(3n), trusted: false });
      const f = archiveFindings({ component: 'postgres-wal/main', keyHeld: true, wal: w });
      expect(f.failed).toEqual([
        `the newest segment of main (${name(3n)}) is not signed by a host the vault trusts`,
        expect.stringMatching(new RegExp(`^${name(4n)}, among the newest segments of main, would be refused by a restore: .*not valid JSON$`)),
        `${name(5n)}, among the newest segments of main, would be refused by a restore: its manifest describes postgres-wal/main/${name(1n)}: it was moved`,
      ]);
      // A trusted segment that is not the newest, but whose manifest another host signed, is named too.
      writeFileSync(m4, four);
      writeFileSync(m5, five);
      writeFileSync(join(dir, 'pg_wal', name(6n)), walSegment(6n, 6));
      expect(await walPush(ctx, join(dir, 'pg_wal', name(6n)))).toMatchObject({ status: 'archived' });
      const later = await walStatus(repo, 'main', [], { now: new Date(), signers: keys.signers });
      expect(later).toMatchObject({ newest: name(6n), trusted: true });
      expect(later.unusable).toEqual([{ name: name(3n), verdict: 'failed', message: expect.stringContaining(`signed by host key ${other.signing.id}`) }]);
    } finally {
      writeFileSync(m4, four);
      writeFileSync(m5, five);
    }
  });

  it('a history file no trusted host signed is named once, its timeline not followed', async () => {
    writeFileSync(join(dir, 'pg_wal', '00000002.history'), '1\t0/3000000\tno recovery target specified\n');
    expect(await walPush(other, join(dir, 'pg_wal', '00000002.history'))).toMatchObject({ status: 'archived' });
    const r = await verifyArchive(repo, 'main', [], keys, { readData: false });
    expect(r.files.filter((f) => f.name === '00000002.history')).toEqual([
      expect.objectContaining({ ok: false, message: expect.stringContaining('(its timeline is not followed)') }),
    ]);
  });

  it('the status counts only base backups a trusted host signed', async () => {
    const bases = [base(other.signing, 'planted.tar.age')];
    expect(await walStatus(repo, 'main', bases, { now: new Date(), signers: keys.signers })).toMatchObject({ bases: 0 });
    expect(await walStatus(repo, 'main', [...bases, base(ctx.signing, 'b1.tar.age')], { now: new Date(), signers: keys.signers })).toMatchObject({
      bases: 1,
      newestBase: 'postgres-base/main/b1.tar.age',
    });
  });
});
