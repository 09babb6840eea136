import { existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X25519Identity } from '../../src/age/x25519.js';
import type { Listed, Repo } from '../../src/backup/repo.js';
import { executeWalPrune, planWalPrune } from '../../src/backup/wal/prune.js';
import type { ReadKeys } from '../../src/backup/wal/identity.js';
import { sealWal, walPush, type PushContext } from '../../src/backup/wal/push.js';
import { walMetrics, walStatus } from '../../src/backup/wal/status.js';
import { chooseFiles, verifyArchive } from '../../src/backup/wal/verify.js';
import { sha256Hex, walSegment, walArchive } from '../helpers/wal-segment.js';
import { tempDir } from '../helpers/cli.js';

/**
 * A completed WAL file's manifest vouches only for its stanza, which anyone
 * who writes the repository can forge: a sampled verification reads every
 * such file whatever the sample, and `wal-status` names each until a full
 * read has passed it.
 */

const name = (i: number) => `0000000100000000000000${i.toString(16).toUpperCase().padStart(2, '0')}`;

describe('completed WAL files in a sampled verification and in wal-status', () => {
  let dir: string;
  let cleanup: () => void;
  let repo: Repo;
  let keys: ReadKeys;
  const id = X25519Identity.generate();
  const segs = () => join(dir, 'repo', 'postgres-wal', 'main', 'segments');
  const FORGED = name(7);
  const HONEST = name(23);
  const status = () => walStatus(repo, 'main', [], { now: new Date() });

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir('vt-wal-sample-'));
    let ctx: PushContext;
    ({ repo, ctx, keys } = walArchive(dir, id));
    mkdirSync(join(dir, 'pg_wal'));
    for (let i = 1; i <= 40; i++) {
      const n = name(i);
      const real = walSegment(BigInt(i), i);
      writeFileSync(join(dir, 'pg_wal', n), real);
      if (n === FORGED) {
        // Other data under the real segment's stanza, signed with this host's key (stolen: without it the push refuses the
        // file), planted where a killed push's file would be.
        const forged = sealWal(
          walSegment(BigInt(i), 0x66),
          id.identity.recipient,
          { cluster: 'main', name: n, size: real.length, sha256: sha256Hex(real) },
          ctx.signing,
        );
        writeFileSync(join(segs(), `${n}.age`), Buffer.concat(forged));
      }
      if (n === HONEST) {
        // A push killed between its file and its manifest.
        await walPush(ctx, join(dir, 'pg_wal', n));
        unlinkSync(join(segs(), `${n}.age.manifest.json`));
      }
      const r = await walPush(ctx, join(dir, 'pg_wal', n));
      expect(r.status, n).toBe(n === FORGED || n === HONEST ? 'completed' : 'archived');
    }
  }, 120_000);
  afterAll(() => cleanup());

  it('a completing push leaves a mark, and wal-status names both completed files before any read', async () => {
    expect(existsSync(join(segs(), `${FORGED}.age.completed`))).toBe(true);
    const s = await status();
    expect(s.completedUnread).toEqual([FORGED, HONEST]);
    expect(walMetrics([s])).toContain('vault_tool_wal_completed_unread{cluster="main"} 2\n');
  });

  it('chooseFiles always takes the completed names, beyond the share', () => {
    const names = Array.from({ length: 40 }, (_, i) => name(i + 1));
    for (let k = 0; k < 20; k++) {
      const chosen = chooseFiles(names, [], 0.1, new Set([FORGED, HONEST]));
      expect(chosen).toContain(FORGED);
      expect(chosen).toContain(HONEST);
      expect(chosen.length).toBe(6);
    }
    expect(chooseFiles(names, [], false, new Set([FORGED]))).toEqual([]);
  });

  it('a 10% sample fails the forged one every time, passes the honest one and clears its mark; wal-status then names the forged one alone', async () => {
    for (let k = 0; k < 10; k++) {
      const r = await verifyArchive(repo, 'main', [], keys, { readData: 0.1 });
      expect(r.ok).toBe(false);
      expect(r.files).toEqual([
        { name: FORGED, ok: false, message: expect.stringMatching(/the decrypted data differs from what was archived \(SHA-256\).*completed by a later push/) },
      ]);
      expect(r.read).toBeGreaterThanOrEqual(4);
    }
    expect(existsSync(join(segs(), `${HONEST}.age.completed`))).toBe(false);
    expect((await status()).completedUnread).toEqual([FORGED]);
  }, 120_000);

  it('wal-prune removes a mark with its file', async () => {
    // A base backup whose WAL starts at segment 20: everything before it goes.
    const base = { component: 'postgres-base/main', file: 'b.tar.age', manifest: { source: { timeline: '1', startLsn: '0/1400000', stopLsn: '0/1500000' } } };
    const plan = await planWalPrune(repo, 'main', [base as unknown as Listed], new Date());
    expect(plan.remove).toContain(FORGED);
    expect(plan.marks).toEqual([`${FORGED}.age.completed`]);
    await executeWalPrune(repo, plan, new Date());
    expect(existsSync(join(segs(), `${FORGED}.age.completed`))).toBe(false);
    expect(existsSync(join(segs(), `${FORGED}.age`))).toBe(false);
    expect((await status()).completedUnread).toBeUndefined();
  });
});
