import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X25519Identity } from '../../src/age/x25519.js';
import { signManifest, type BackupManifest } from '../../src/backup/manifest.js';
import type { Listed, Repo } from '../../src/backup/repo.js';
import { waitForWal } from '../../src/backup/wal/base.js';
import type { BaseInfo } from '../../src/backup/wal/base-check.js';
import { readArchived } from '../../src/backup/wal/fetch.js';
import type { ReadKeys } from '../../src/backup/wal/identity.js';
import { walPush, type PushContext } from '../../src/backup/wal/push.js';
import { planPitr } from '../../src/backup/wal/restore.js';
import { walStatus } from '../../src/backup/wal/status.js';
import { verifyArchive } from '../../src/backup/wal/verify.js';
import type { Destination } from '../../src/dest/dest.js';
import { VaultError } from '../../src/errors/errors.js';
import { keyIdOf } from '../../src/vault/keyfile.js';
import { WAL_SYSID, walSegment, walArchive } from '../helpers/wal-segment.js';
import { tempDir } from '../helpers/cli.js';

/**
 * Every reader of the archive judges a segment's manifest alike (a fetch,
 * a restore's plan, wal-verify, the status, a base backup's wait): one that
 * describes another segment (copied under this name) is refused by each,
 * so no verification passes what a recovery would refuse; and one the
 * repository did not give is not judged (inconclusive), never a failure.
 */
describe("the archive's readers judge a segment's manifest alike", () => {
  let dir: string;
  let cleanup: () => void;
  let repo: Repo;
  let ctx: PushContext;
  let keys: ReadKeys;
  const id = X25519Identity.generate();
  const segs = () => join(dir, 'repo', 'postgres-wal', 'main', 'segments');
  const name = (n: bigint) => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`;
  const baseManifest = (): BackupManifest =>
    signManifest(
      {
        format: 'vault-tool/backup-manifest',
        version: 1,
        id: 'b1',
        component: 'postgres-base/main',
        kind: 'postgres-base',
        file: 'b1.tar.age',
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
      ctx.signing,
    );
  const bases = (): Listed[] => [{ component: 'postgres-base/main', file: 'b1.tar.age', manifest: baseManifest() }];
  const plan = () =>
    planPitr(repo, baseManifest(), keys, {
      dataDir: join(dir, `data-${Math.random().toString(36).slice(2)}`),
      target: { lsn: '0/500000', action: 'pause' },
      restoreCommand: 'true',
    });

  /** The repository, with the first `failures` reads of the manifests of `names` failing as a remote's read fails. */
  function unreachable(names: string[], failures = Number.POSITIVE_INFINITY): Repo {
    const wrap = (d: Destination): Destination =>
      new Proxy(d, {
        get(t, p) {
          if (p === 'child') return (x: string) => wrap(t.child(x));
          if (p === 'readMany')
            return async (files: string[], limit: number, what?: string) => {
              const got = await t.readMany(files, limit, what);
              for (const n of names)
                if (got.has(`${n}.age.manifest.json`) && failures-- > 0)
                  got.set(`${n}.age.manifest.json`, new VaultError('io', 'rclone: connection reset by peer'));
              return got;
            };
          const v = Reflect.get(t, p);
          return typeof v === 'function' ? v.bind(t) : v;
        },
      });
    return { dest: wrap(repo.dest) };
  }

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir('vt-wal-refusal-'));
    ({ repo, ctx, keys } = walArchive(dir, id));
    mkdirSync(join(dir, 'pg_wal'));
    for (let n = 1n; n <= 5n; n++) {
      writeFileSync(join(dir, 'pg_wal', name(n)), walSegment(n, Number(n)));
      expect(await walPush(ctx, join(dir, 'pg_wal', name(n)))).toMatchObject({ status: 'archived' });
    }
  });
  afterAll(() => cleanup());

  it('all pass the archive as pushed', async () => {
    expect(await verifyArchive(repo, 'main', bases(), keys, { readData: false })).toMatchObject({ ok: true });
    expect((await plan()).through).toBe(name(5n));
  });

  it("segment 2's file and signed manifest copied under segment 3's name: the plan, wal-verify, a fetch and the status refuse it", async () => {
    const f = join(segs(), `${name(3n)}.age`);
    const mf = `${f}.manifest.json`;
    const [file, manifest] = [readFileSync(f), readFileSync(mf)];
    copyFileSync(join(segs(), `${name(2n)}.age`), f);
    copyFileSync(join(segs(), `${name(2n)}.age.manifest.json`), mf);
    try {
      const moved = `its manifest describes postgres-wal/main/${name(2n)}: it was moved`;
      const r = await verifyArchive(repo, 'main', bases(), keys, { readData: false });
      expect(r.ok).toBe(false);
      expect(r.bases).toEqual([
        expect.objectContaining({
          ok: false,
          through: name(2n),
          missing: name(3n),
          message: expect.stringContaining(`WAL segment ${name(3n)} cannot be used (${moved})`),
        }),
      ]);
      expect(r.files).toEqual([{ name: name(3n), ok: false, message: moved }]);
      await expect(plan()).rejects.toMatchObject({
        kind: 'verify-failed',
        code: 'wal-gap',
        message: expect.stringContaining(`WAL segment ${name(3n)} cannot be used (${moved})`),
      });
      await expect(readArchived(repo, 'main', name(3n), keys)).rejects.toThrow(`${moved}`);
      const s = await walStatus(repo, 'main', [], { now: new Date(), signers: keys.signers });
      expect(s.unusable).toEqual([{ name: name(3n), verdict: 'failed', message: moved }]);
    } finally {
      writeFileSync(f, file);
      writeFileSync(mf, manifest);
    }
  });

  it('a manifest the repository does not give: wal-verify is inconclusive, not failed; the plan says it could not be read', async () => {
    const flaky = unreachable([name(3n)]);
    const r = await verifyArchive(flaky, 'main', bases(), keys, { readData: false });
    expect(r.files).toEqual([{ name: name(3n), ok: false, inconclusive: true, message: 'its manifest could not be read: rclone: connection reset by peer' }]);
    expect(r.bases).toEqual([expect.objectContaining({ ok: true })]);
    expect(r.ok).toBe(true);
    await expect(
      planPitr(flaky, baseManifest(), keys, { dataDir: join(dir, 'data-flaky'), target: { lsn: '0/500000', action: 'pause' }, restoreCommand: 'true' }),
    ).rejects.toThrow(`WAL segment ${name(3n)} cannot be used (its manifest could not be read: rclone: connection reset by peer)`);
    const s = await walStatus(flaky, 'main', [], { now: new Date(), signers: keys.signers });
    expect(s.unusable).toEqual([{ name: name(3n), verdict: 'inconclusive', message: 'its manifest could not be read: rclone: connection reset by peer' }]);
  });

  it("a base backup's wait asks again for a manifest the repository did not give, until its timeout; then it is not proven (io), never failed at once", async () => {
    const info: BaseInfo = {
      timeline: 1,
      startLsn: '0/200028',
      stopLsn: '0/300100',
      timelines: [1],
      systemId: String(WAL_SYSID),
      postgres: '17',
      files: 1,
      label: {},
    };
    const own = async () => keys.signers;
    // Unreadable twice, then read: the wait goes on and succeeds.
    let clock = 0;
    const healing = unreachable([name(3n)], 2);
    expect(await waitForWal(healing, 'main', info, { timeoutMs: 10_000, sleep: async (ms) => void (clock += ms), now: () => clock, trusted: own })).toEqual({
      first: name(2n),
      last: name(3n),
    });
    expect(clock).toBeGreaterThan(0);
    // Never readable: after the timeout, an io error naming the segment and why.
    clock = 0;
    await expect(
      waitForWal(unreachable([name(3n)]), 'main', info, { timeoutMs: 5000, sleep: async (ms) => void (clock += ms), now: () => clock, trusted: own }),
    ).rejects.toMatchObject({
      kind: 'io',
      code: 'wal-base-unread',
      message: expect.stringContaining(
        `WAL segment ${name(3n)}, which this base backup needs, is not proven archived after 5 s: its manifest could not be read: rclone: connection reset by peer; nothing was kept`,
      ),
    });
    expect(clock).toBeGreaterThanOrEqual(5000);
  });
});
