import { mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { X25519Identity } from '../../src/age/x25519.js';
import { loadSigningKey } from '../../src/backup/keys.js';
import type { BackupManifest } from '../../src/backup/manifest.js';
import type { Repo } from '../../src/backup/repo.js';
import { waitForWal } from '../../src/backup/wal/base.js';
import type { BaseInfo } from '../../src/backup/wal/base-check.js';
import { runPusher } from '../../src/backup/wal/pusher.js';
import { walPush, type PushContext } from '../../src/backup/wal/push.js';
import { openSpool } from '../../src/backup/wal/spool.js';
import { parseDestination } from '../../src/dest/index.js';
import { keyIdOf } from '../../src/vault/keyfile.js';
import { hintFor } from '../../src/cli/report.js';
import type { VaultError } from '../../src/errors/errors.js';
import { WAL_SYSID, walSegment } from '../helpers/wal-segment.js';
import { tempDir } from '../helpers/cli.js';

/**
 * A push that finds its name archived answers "already archived" (success:
 * PostgreSQL drops its copy) only on the word of a manifest this host
 * signed, naming this cluster and name, over a stored file that is the one
 * it describes. Whoever can write the repository must not be able to make
 * the archive skip a segment by planting a manifest: an unsigned, altered,
 * foreign or moved manifest, or a genuine one whose file is gone or
 * changed, is refused (integrity), and nothing there is replaced.
 */
describe('wal-push: a manifest already there counts only when it proves the file archived', () => {
  let dir: string;
  let cleanup: () => void;
  let repo: Repo;
  let ctx: PushContext;
  let other: PushContext;
  const id = X25519Identity.generate();
  const segs = () => join(dir, 'repo', 'postgres-wal', 'main', 'segments');
  const mf = (n: string) => join(segs(), `${n}.age.manifest.json`);
  const pgWal = (n: string) => join(dir, 'pg_wal', n);
  let seq = 1n;
  /** A segment of its own for each test, in pg_wal. */
  const fresh = (): string => {
    seq++;
    const n = `0000000100000000000000${seq.toString(16).toUpperCase().padStart(2, '0')}`;
    writeFileSync(pgWal(n), walSegment(seq, Number(seq)));
    return n;
  };
  const snapshot = () => Object.fromEntries(readdirSync(segs()).map((f) => [f, readFileSync(join(segs(), f)).toString('base64')]));

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir('vt-wal-push-trust-'));
    repo = { dest: parseDestination(join(dir, 'repo'), dir, { env: {} }) };
    const recipient = { recipient: id.identity.recipient, keyId: keyIdOf(id.identity.recipient) };
    ctx = { repo, cluster: 'main', recipient, signing: loadSigningKey(join(dir, 'signing.key')), machine: 'db1', now: () => new Date() };
    other = { ...ctx, signing: loadSigningKey(join(dir, 'other.key')), machine: 'intruder' };
    mkdirSync(join(dir, 'pg_wal'));
    writeFileSync(pgWal('000000010000000000000001'), walSegment(1n, 1));
    expect(await walPush(ctx, pgWal('000000010000000000000001'))).toMatchObject({ status: 'archived' });
  });
  afterAll(() => cleanup());

  /** The push refuses with exit 4's kind and the code whose hint names the fix; the archive is left byte for byte. */
  async function refused(n: string, why: RegExp): Promise<void> {
    const before = snapshot();
    const e = await walPush(ctx, pgWal(n)).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toMatchObject({ kind: 'integrity', code: 'wal-archived-unproven', data: { name: n, cluster: 'main' } });
    expect((e as Error).message).toMatch(why);
    expect((e as Error).message).toMatch(/it is not taken as archived; nothing was archived, and nothing in the archive was replaced$/);
    expect(snapshot()).toEqual(before);
  }

  it('its own manifest over its own file: already archived', async () => {
    expect(await walPush(ctx, pgWal('000000010000000000000001'))).toMatchObject({ status: 'already-archived' });
  });

  it("a manifest signed by another key, naming the segment's very SHA-256: refused", async () => {
    const n = fresh();
    expect(await walPush(other, pgWal(n))).toMatchObject({ status: 'archived' });
    await refused(n, new RegExp(`is signed by host key ${other.signing.id}, not by this host's signing key \\(${ctx.signing.id}\\)`));
  });

  it("another key's manifest of other content: a conflict (a split brain's other server), never to be moved aside", async () => {
    const n = fresh();
    expect(await walPush(other, pgWal(n))).toMatchObject({ status: 'archived' });
    writeFileSync(pgWal(n), walSegment(seq, 0x7f));
    const before = snapshot();
    const e = await walPush(ctx, pgWal(n)).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toMatchObject({ kind: 'backup-failed', code: 'wal-conflict' });
    expect((e as Error).message).toMatch(
      new RegExp(
        `^${n}: already archived with other content \\(.*; its manifest is signed by host key ${other.signing.id}, not this host's\\): an archived file is never overwritten; nothing was archived$`,
      ),
    );
    expect(snapshot()).toEqual(before);
  });

  it('a manifest no push wrote (its signature does not verify) claiming other content: refused with a hint of its own, not as two servers', async () => {
    const n = fresh();
    expect(await walPush(ctx, pgWal(n))).toMatchObject({ status: 'archived' });
    const m = JSON.parse(readFileSync(mf(n), 'utf8')) as BackupManifest;
    writeFileSync(mf(n), JSON.stringify({ ...m, plaintext: { ...m.plaintext, sha256: 'f'.repeat(64) } }));
    const before = snapshot();
    const e = await walPush(ctx, pgWal(n)).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toMatchObject({
      kind: 'backup-failed',
      code: 'wal-planted-claim',
      data: { name: n, cluster: 'main', manifest: mf(n), file: join(segs(), `${n}.age`) },
    });
    expect((e as Error).message).toMatch(
      new RegExp(
        `^${n}: already archived with other content \\(.*; its manifest's signature does not verify: it was altered, or planted\\): an archived file is never overwritten; nothing was archived$`,
      ),
    );
    expect(hintFor(e as VaultError)).toMatch(/^no push wrote that manifest \(its signature does not verify\): move .* out of the archive/);
    expect(hintFor(e as VaultError)).not.toContain('give each server its own');
    expect(snapshot()).toEqual(before);
  });

  it('a manifest altered after it was signed (or never signed): refused', async () => {
    const n = fresh();
    expect(await walPush(ctx, pgWal(n))).toMatchObject({ status: 'archived' });
    const m = JSON.parse(readFileSync(mf(n), 'utf8')) as BackupManifest;
    writeFileSync(mf(n), JSON.stringify({ ...m, machine: 'x', finishedAt: new Date(0).toISOString() }));
    await refused(n, /its signature does not verify/);
    writeFileSync(mf(n), JSON.stringify({ ...m, signature: '' }));
    await refused(n, /its signature does not verify/);
  });

  it('a manifest that is not one at all: refused', async () => {
    const n = fresh();
    expect(await walPush(ctx, pgWal(n))).toMatchObject({ status: 'archived' });
    writeFileSync(mf(n), '{"format": "vault-tool/backup-manifest"');
    await refused(n, /the manifest in the archive cannot be read \(.*not valid JSON\)/);
  });

  it("this host's manifest of another name, copied under this one: refused as moved", async () => {
    const n = fresh();
    // Signed by this very host, over a file it pushed: only the name it describes is another.
    writeFileSync(mf(n), readFileSync(mf('000000010000000000000001')));
    writeFileSync(join(segs(), `${n}.age`), readFileSync(join(segs(), '000000010000000000000001.age')));
    await refused(n, /describes postgres-wal\/main\/000000010000000000000001: it was moved/);
  });

  it('its signed manifest, its file gone: refused', async () => {
    const n = fresh();
    expect(await walPush(ctx, pgWal(n))).toMatchObject({ status: 'archived' });
    unlinkSync(join(segs(), `${n}.age`));
    await refused(n, /its signed manifest is in the archive, but its file .* is not/);
  });

  it('its signed manifest, its file cut short, grown or altered past its header: refused', async () => {
    const n = fresh();
    expect(await walPush(ctx, pgWal(n))).toMatchObject({ status: 'archived' });
    const f = join(segs(), `${n}.age`);
    const good = readFileSync(f);
    for (const bad of [
      good.subarray(0, good.length - 1),
      Buffer.concat([good, Buffer.from([0])]),
      Buffer.from(good).fill(7, good.length - 40, good.length - 39),
    ]) {
      writeFileSync(f, bad);
      await refused(n, /is not the file its signed manifest describes \(its size or SHA-256 differs\)/);
    }
    writeFileSync(f, good);
    expect(await walPush(ctx, pgWal(n))).toMatchObject({ status: 'already-archived' });
  });

  describe("a base backup's wait for its WAL", () => {
    const baseOf = (from: string, to: string): BaseInfo => ({
      timeline: 1,
      startLsn: from,
      stopLsn: to,
      timelines: [1],
      systemId: String(WAL_SYSID),
      postgres: '17',
      files: 1,
      label: {},
    });
    const own = () => [{ id: ctx.signing.id, publicKey: ctx.signing.publicKey, label: 'db1', addedAt: '' }];
    const wait = (info: BaseInfo, trusted?: () => Promise<ReturnType<typeof own>>) =>
      waitForWal(repo, 'main', info, { timeoutMs: 0, sleep: async () => undefined, now: () => 0, ...(trusted ? { trusted } : {}) });

    it('counts segments whose manifests a trusted host signed', async () => {
      const n = fresh();
      expect(await walPush(ctx, pgWal(n))).toMatchObject({ status: 'archived' });
      const lsn = `0/${(seq * 0x100000n).toString(16).toUpperCase()}`;
      expect(await wait(baseOf(lsn, lsn), async () => own())).toEqual({ first: n, last: n });
    });

    it('fails at once, naming it, on a segment whose manifest no trusted host signed: nothing is kept', async () => {
      const n = fresh();
      expect(await walPush(other, pgWal(n))).toMatchObject({ status: 'archived' });
      const lsn = `0/${(seq * 0x100000n).toString(16).toUpperCase()}`;
      await expect(wait(baseOf(lsn, lsn), async () => own())).rejects.toMatchObject({
        kind: 'integrity',
        code: 'wal-base-unproven',
        message: `WAL segment ${n}, which this base backup needs, is not proven archived: its manifest is signed by host key ${other.signing.id}, which this host does not trust (its own signing key, and the vault's trusted signers where the vault is); nothing was kept`,
      });
      const m = JSON.parse(readFileSync(mf(n), 'utf8')) as BackupManifest;
      writeFileSync(mf(n), JSON.stringify({ ...m, signer: { id: ctx.signing.id, publicKey: ctx.signing.publicKey } }));
      await expect(wait(baseOf(lsn, lsn), async () => own())).rejects.toThrow(/its manifest's signature does not verify: it was altered; nothing was kept$/);
    });
  });

  describe('the asynchronous pusher', () => {
    let spool: ReturnType<typeof openSpool>;
    beforeEach(() => {
      rmSync(join(dir, 'spool'), { recursive: true, force: true });
      spool = openSpool(join(dir, 'spool'));
      rmSync(join(dir, 'pg_wal', 'archive_status'), { recursive: true, force: true });
      mkdirSync(join(dir, 'pg_wal', 'archive_status'));
    });

    it('acknowledges no file whose manifest another key signed: it says why, for archive_command', async () => {
      const n = fresh();
      expect(await walPush(other, pgWal(n))).toMatchObject({ status: 'archived' });
      writeFileSync(join(dir, 'pg_wal', 'archive_status', `${n}.ready`), '');
      const failed: string[] = [];
      const r = await runPusher({ spool, walDir: join(dir, 'pg_wal'), push: ctx, jobs: 1, idleMs: 0, onFailed: (_n, e) => failed.push(e.message) });
      expect(r).toMatchObject({ pushed: 0, failed: 1 });
      expect(readdirSync(spool.ok)).toEqual([]);
      expect(readFileSync(join(spool.error, n), 'utf8')).toMatch(/not by this host's signing key/);
      expect(failed).toEqual([expect.stringMatching(/it is not taken as archived/)]);
    });
  });
});
