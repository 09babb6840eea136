import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encrypt, FULL, NONCE_SIZE, payloadKey, readHeader, unwrapFileKey } from '../../src/age/index.js';
import { encryptPayload } from '../../src/age/stream.js';
import { X25519Identity } from '../../src/age/x25519.js';
import { signManifest, type BackupManifest } from '../../src/backup/manifest.js';
import { loadSigningKey, type SigningKey } from '../../src/backup/keys.js';
import { parseDestination } from '../../src/dest/index.js';
import type { Repo } from '../../src/backup/repo.js';
import { BaseReader } from '../../src/backup/wal/base-check.js';
import { continuity, type ArchiveView } from '../../src/backup/wal/continuity.js';
import { fetchToFile, readArchived, RESTORE_READ, walFetch } from '../../src/backup/wal/fetch.js';
import { type OpenPool, openPool } from '../../src/backup/wal/open-pool.js';
import { chainFits, chainOf, parseHistory } from '../../src/backup/wal/history.js';
import type { ReadKeys } from '../../src/backup/wal/identity.js';
import { parseIdentityFile } from '../../src/backup/wal/identity.js';
import { checkWalName, formatLsn, parseLsn, parseWalName, segmentName } from '../../src/backup/wal/names.js';
import { checkSegment } from '../../src/backup/wal/page.js';
import { executeWalPrune } from '../../src/backup/wal/prune.js';
import { walPush, type PushContext, type PushScratch } from '../../src/backup/wal/push.js';
import { type FetchSpool, markPending, openFetchSpool, runPrefetcher, setFirst, setLast, setWant, takePrefetched } from '../../src/backup/wal/prefetch.js';
import { asyncRestoreScript, FILE_AND_PATH, scriptCommand } from '../../src/backup/wal/restore-script.js';
import { runPusher } from '../../src/backup/wal/pusher.js';
import { identityAt, lockHolder, openSpool, runningPusher, takeAck, takeFailure, type Spool } from '../../src/backup/wal/spool.js';
import { TarReader } from '../../src/backup/wal/tar.js';
import { loadArchive } from '../../src/backup/wal/view.js';
import { keyIdOf } from '../../src/vault/keyfile.js';
import { cli, haveBinary, tempDir } from '../helpers/cli.js';
import { walArchive } from '../helpers/wal-segment.js';

const MB = 1 << 20;
const SYSID = 7716302269993762727n;

/** A segment as PostgreSQL writes it: `valid` pages with headers of this segment, then zeros. */
function segment(tli: number, segno: bigint, o: { size?: number; valid?: number; sysid?: bigint; magic?: number } = {}): Buffer {
  const size = o.size ?? MB;
  const b = Buffer.alloc(size);
  const start = segno * BigInt(size);
  const pages = Math.min(o.valid ?? 3, size / 8192);
  for (let p = 0; p < pages; p++) {
    const off = p * 8192;
    b.writeUInt16LE(o.magic ?? 0xd110, off);
    b.writeUInt16LE(p === 0 ? 2 : 0, off + 2);
    b.writeUInt32LE(tli, off + 4);
    b.writeBigUInt64LE(start + BigInt(off), off + 8);
    if (p === 0) {
      b.writeBigUInt64LE(o.sysid ?? SYSID, 24);
      b.writeUInt32LE(size, 32);
      b.writeUInt32LE(8192, 36);
    }
    b.fill(0x5a, off + 40, off + 200);
  }
  return b;
}

describe('WAL names and LSNs', () => {
  it('reads the four names PostgreSQL archives, with the segment number for the segment size', () => {
    expect(parseWalName('000000010000000A0000003F', 16 * MB)).toEqual({ kind: 'segment', name: '000000010000000A0000003F', timeline: 1, segno: 0xa3fn });
    expect(parseWalName('000000020000000000000FFF', MB)).toMatchObject({ kind: 'segment', timeline: 2, segno: 0xfffn });
    expect(parseWalName('000000020000000000000FFF', 16 * MB)).toBeNull();
    expect(parseWalName('00000003.history', MB)).toEqual({ kind: 'history', name: '00000003.history', timeline: 3 });
    expect(parseWalName('00000001.history', MB)).toBeNull();
    expect(parseWalName('000000010000000000000003.00000028.backup', 16 * MB)).toMatchObject({ kind: 'backup', segno: 3n, offset: 0x28 });
    expect(parseWalName('000000010000000000000003.partial', 16 * MB)).toMatchObject({ kind: 'partial', segno: 3n });
    for (const bad of [
      '000000000000000000000001',
      '00000001000000000000003',
      '0000000100000000000000zz',
      'RECOVERYXLOG',
      '../00000002.history',
      '00000002.history.age',
    ])
      expect(parseWalName(bad, 16 * MB), bad).toBeNull();
    expect(() => checkWalName('../../etc/passwd')).toThrow(/is not a name PostgreSQL archives/);
  });

  it('names a segment from its number, and LSNs both ways', () => {
    expect(segmentName(1, 0xa3fn, 16 * MB)).toBe('000000010000000A0000003F');
    expect(segmentName(0x1c, 4097n, MB)).toBe('0000001C0000000100000001');
    expect(parseLsn('0/3000028')).toBe(0x3000028n);
    expect(parseLsn('1A/FF')).toBe((0x1an << 32n) | 0xffn);
    expect(formatLsn(0x1a000000ffn)).toBe('1A/FF');
    expect(() => parseLsn('3000028')).toThrow(/not an LSN/);
  });
});

describe('timeline histories', () => {
  const h3 = '1\t0/3000100\tno recovery target specified\n\n# a comment\n2\t0/5000000\tbefore 2026-12-01 10:00:00+00\n';

  it('parses a history and builds the chain recovery follows', () => {
    const h = parseHistory(h3, 3, '00000003.history');
    expect(h).toEqual([
      { timeline: 1, switchpoint: 0x3000100n, reason: 'no recovery target specified' },
      { timeline: 2, switchpoint: 0x5000000n, reason: 'before 2026-12-01 10:00:00+00' },
    ]);
    const chain = chainOf(3, h);
    expect(chain).toEqual([
      { timeline: 1, begin: 0n, end: 0x3000100n },
      { timeline: 2, begin: 0x3000100n, end: 0x5000000n },
      { timeline: 3, begin: 0x5000000n, end: null },
    ]);
    // A base backup of timeline 1 that ended before the branch can follow it; one made after it cannot.
    expect(chainFits(chain, 1, 0x3000000n)).toBe(true);
    expect(chainFits(chain, 1, 0x4000000n)).toBe(false);
    expect(chainFits(chain, 4, 0x1n)).toBe(false);
  });

  it('refuses a history out of order, or naming itself', () => {
    expect(() => parseHistory('2\t0/5000000\tx\n1\t0/3000000\ty\n', 3, 'h')).toThrow(/breaks the order/);
    expect(() => parseHistory('3\t0/5000000\tx\n', 3, 'h')).toThrow(/breaks the order/);
    expect(() => parseHistory('garbage\n', 3, 'h')).toThrow(/line 1 is not/);
    expect(() => parseHistory('# only a comment\n', 2, 'h')).toThrow(/no timeline/);
  });
});

describe('segment page headers', () => {
  it('passes a segment that is what its name says', () => {
    const c = checkSegment('000000010000000000000005', segment(1, 5n), { systemId: SYSID.toString(), segmentSize: MB, magic: 0xd110 });
    expect(c).toMatchObject({ pages: 3, header: { timeline: 1, segmentSize: MB } });
  });

  it('names what is wrong', () => {
    const name = '000000010000000000000005';
    const ok = { systemId: SYSID.toString(), segmentSize: MB, magic: 0xd110 };
    expect(checkSegment(name, segment(1, 6n), ok)).toMatch(/its first page says it is at 600000/);
    expect(checkSegment(name, segment(1, 5n, { sysid: 42n }), ok)).toMatch(/belongs to the cluster with system identifier 42/);
    expect(checkSegment(name, segment(1, 5n, { magic: 0xd113 }), ok)).toMatch(/PostgreSQL 16's .* the archive holds PostgreSQL 15's/);
    expect(checkSegment(name, segment(2, 5n), ok)).toMatch(/timeline 2, after the name's 1/);
    expect(checkSegment(name, segment(1, 5n).subarray(0, MB / 2), ok)).toMatch(/not a whole segment/);
    expect(checkSegment(name, Buffer.alloc(MB), ok)).toMatch(/does not start with a WAL page magic/);
    const hole = segment(1, 5n, { valid: 5 });
    hole.fill(0, 2 * 8192, 3 * 8192);
    expect(checkSegment(name, hole, ok)).toMatch(/page 3 holds WAL of this segment after page 2 did not/);
    const stray = segment(1, 5n, { valid: 2 });
    stray.writeUInt16LE(0xd110, 4 * 8192);
    stray.writeBigUInt64LE(5n * BigInt(MB) + 8192n, 4 * 8192 + 8);
    expect(checkSegment(name, stray, ok)).toMatch(/page 4 claims address/);
  });

  it('accepts a recycled file: after the WAL written, pages of an older segment', () => {
    const b = segment(1, 5n, { valid: 4 });
    const old = segment(1, 2n, { valid: 100 });
    old.copy(b, 10 * 8192, 10 * 8192, 100 * 8192);
    expect(checkSegment('000000010000000000000005', b, { systemId: SYSID.toString() })).toMatchObject({ pages: 4 });
  });
});

describe('continuity of the archive for a base backup', () => {
  const names = (...n: string[]) => new Set(n);
  const seg = (tli: number, s: number) => segmentName(tli, BigInt(s), MB);
  const base = { timeline: 1, startLsn: '0/300028', stopLsn: '0/300100' };
  const view = (n: Set<string>, histories: [number, string][] = []): ArchiveView => ({
    segmentSize: MB,
    names: n,
    histories: new Map(histories.map(([t, h]) => [t, parseHistory(h, t, `${t}.history`)])),
  });

  it('continuous on one timeline', () => {
    const c = continuity(view(names(seg(1, 2), seg(1, 3), seg(1, 4), seg(1, 5))), base);
    expect(c).toMatchObject({ timeline: 1, segments: [seg(1, 3), seg(1, 4), seg(1, 5)], newest: seg(1, 5), baseWhole: true });
    expect(c.missing).toBeUndefined();
  });

  it('a gap names its first missing segment, and the newest after it', () => {
    const c = continuity(view(names(seg(1, 3), seg(1, 4), seg(1, 6), seg(1, 7))), base);
    expect(c).toMatchObject({ missing: seg(1, 5), newest: seg(1, 7), segments: [seg(1, 3), seg(1, 4)], baseWhole: true });
    const lost = continuity(view(names(seg(1, 4), seg(1, 5))), base);
    expect(lost).toMatchObject({ baseWhole: false, missing: seg(1, 3) });
  });

  it('follows the newest timeline through its history: the segment of the switch from the new timeline', () => {
    const n = names(seg(1, 3), seg(1, 4), seg(1, 5), seg(1, 6), seg(2, 5), seg(2, 6), seg(2, 7));
    const c = continuity(view(n, [[2, '1\t0/580000\tpromoted\n']]), base);
    expect(c).toMatchObject({ timeline: 2, segments: [seg(1, 3), seg(1, 4), seg(2, 5), seg(2, 6), seg(2, 7)], newest: seg(2, 7) });
    // The first segment of the new timeline missing is a gap, even though timeline 1 has that number.
    n.delete(seg(2, 5));
    expect(continuity(view(n, [[2, '1\t0/580000\tpromoted\n']]), base)).toMatchObject({ missing: seg(2, 5) });
  });

  it('a timeline that branched before the base backup ended is not followed; one without its history is named', () => {
    const early = continuity(view(names(seg(1, 3), seg(1, 4), seg(2, 3)), [[2, '1\t0/300050\tearly\n']]), base);
    expect(early.timeline).toBe(1);
    const orphan = continuity(view(names(seg(1, 3), seg(3, 4))), base);
    expect(orphan.timeline).toBe(1);
    expect(orphan.problems).toEqual([expect.stringContaining('timeline 3 has segments but the archive lacks its history file 00000003.history')]);
  });
});

/** A ustar member, as pg_basebackup writes them. */
function tarMember(name: string, data: Buffer, type = '0'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'utf8');
  h.write('0000600\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const x of h) sum += x;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([h, data, pad]);
}

function baseTar(files: Record<string, Buffer>, o: { tamperManifest?: boolean; extra?: Record<string, Buffer> } = {}): Buffer {
  const entries = Object.entries(files).map(
    ([p, d]) =>
      `{ "Path": "${p}", "Size": ${d.length}, "Last-Modified": "2026-12-01 10:00:00 GMT", "Checksum-Algorithm": "SHA256", "Checksum": "${createHash('sha256').update(d).digest('hex')}" }`,
  );
  let body = `{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n${entries.join(',\n')}\n],\n"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "0/3000028", "End-LSN": "0/3000100" }\n],\n`;
  const sum = createHash('sha256').update(body).digest('hex');
  body += `"Manifest-Checksum": "${o.tamperManifest ? sum.replace(/^./, (c) => (c === '0' ? '1' : '0')) : sum}"}\n`;
  return Buffer.concat([
    ...Object.entries({ ...files, ...o.extra }).map(([p, d]) => tarMember(p, d)),
    tarMember('pg_wal/', Buffer.alloc(0), '5'),
    tarMember('backup_manifest', Buffer.from(body)),
    Buffer.alloc(1024),
  ]);
}

describe('a base backup checked against its backup_manifest, in-stream', () => {
  const control = Buffer.alloc(8192);
  control.writeBigUInt64LE(SYSID, 0);
  const files = {
    backup_label: Buffer.from('START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\nSTART TIME: 2026-12-01 10:00:00 UTC\n'),
    PG_VERSION: Buffer.from('15\n'),
    'global/pg_control': control,
    'base/1/1259': Buffer.alloc(20000, 7),
  };
  const read = (b: Buffer, chunk = 777) => {
    const r = new BaseReader(true);
    for (let i = 0; i < b.length; i += chunk) r.push(b.subarray(i, i + chunk));
    return r.finish();
  };

  it('reads what the backup is: its WAL range, system identifier and version', () => {
    expect(read(baseTar(files))).toMatchObject({
      timeline: 1,
      startLsn: '0/3000028',
      stopLsn: '0/3000100',
      systemId: SYSID.toString(),
      postgres: '15',
      files: 5,
    });
  });

  it('a changed byte, a cut stream, an extra or missing file, an altered manifest: each named', () => {
    const t = baseTar(files);
    const i = t.indexOf(Buffer.alloc(100, 7));
    const changed = Buffer.from(t);
    changed[i + 50] = 8;
    expect(() => read(changed)).toThrow(/base\/1\/1259 fails its SHA256 checksum/);
    expect(() => read(t.subarray(0, t.length - 1024))).toThrow(/does not end: it was cut short/);
    expect(() => read(baseTar(files, { extra: { 'base/1/9999': Buffer.from('x') } }))).toThrow(/base\/1\/9999 is not in the manifest/);
    const { 'base/1/1259': _gone, ...fewer } = files;
    const missing = Buffer.concat([...Object.entries(fewer).map(([p, d]) => tarMember(p, d))]);
    const full = baseTar(files);
    const man = full.subarray(full.indexOf(Buffer.from('backup_manifest')));
    expect(() => read(Buffer.concat([missing, man]))).toThrow(/base\/1\/1259 is missing/);
    expect(() => read(baseTar(files, { tamperManifest: true }))).toThrow(/fails its own checksum/);
  });

  it('keeps nothing of a buffer once push returns: fed from one slot overwritten after every push, as a decryption run feeds it', () => {
    // A pax header (its path record) and the kept files (backup_label, backup_manifest) span pushes.
    const plain = baseTar(files);
    const at = plain.indexOf(Buffer.from('base/1/1259\0'));
    const t = Buffer.concat([plain.subarray(0, at), tarMember('././@PaxHeader', Buffer.from('28 path=base/1/1259.renamed\n'), 'x'), plain.subarray(at)]);
    for (const chunk of [97, 777, 4096]) {
      const slot = Buffer.alloc(chunk);
      const r = new BaseReader(true);
      for (let i = 0; i < t.length; i += chunk) {
        const n = t.copy(slot, 0, i, i + chunk);
        r.push(slot.subarray(0, n));
        slot.fill(0xa5);
      }
      // The renamed member is not in the manifest: the pax path was read whole; the manifest and label were kept intact.
      expect(() => r.finish()).toThrow(/base\/1\/1259 is missing; base\/1\/1259\.renamed is not in the manifest/);
    }
    const r = new BaseReader(true);
    const slot = Buffer.alloc(512);
    for (let i = 0; i < plain.length; i += 512) {
      r.push(slot.subarray(0, plain.copy(slot, 0, i, i + 512)));
      slot.fill(0xa5);
    }
    expect(r.finish()).toMatchObject({ startLsn: '0/3000028', systemId: SYSID.toString(), postgres: '15', files: 5 });
  });

  it('reads what GNU tar writes too (long names, directories)', () => {
    const { dir, cleanup } = tempDir('vt-tar-');
    try {
      const long = `${'d'.repeat(60)}/${'f'.repeat(80)}`;
      mkdirSync(join(dir, 'src', 'd'.repeat(60)), { recursive: true });
      writeFileSync(join(dir, 'src', long), 'long name');
      const paths: string[] = [];
      const r = new TarReader(
        (m) => paths.push(`${m.type}:${m.path}`),
        () => undefined,
        () => undefined,
      );
      r.push(execFileSync('tar', ['-c', '-f', '-', '-C', join(dir, 'src'), '.']));
      expect(r.ended).toBe(true);
      expect(paths).toContain(`file:${long}`);
    } finally {
      cleanup();
    }
  });
});

describe('push and fetch on a folder repository (no server)', () => {
  let dir: string;
  let cleanup: () => void;
  let repo: Repo;
  let ctx: PushContext;
  let keys: ReadKeys;
  let signing: SigningKey;
  const id = X25519Identity.generate();
  const name = '000000010000000000000005';

  beforeAll(() => {
    ({ dir, cleanup } = tempDir('vt-wal-'));
    ({ repo, ctx, keys } = walArchive(dir, id));
    signing = ctx.signing;
    mkdirSync(join(dir, 'pg_wal'));
    writeFileSync(join(dir, 'pg_wal', name), segment(1, 5n));
  });
  afterAll(() => cleanup());
  const segs = () => join(dir, 'repo', 'postgres-wal', 'main', 'segments');

  it('archives once, fetches back the same bytes; the same push again is success', async () => {
    expect(await walPush(ctx, join(dir, 'pg_wal', name))).toMatchObject({ status: 'archived', bytes: MB });
    expect(readdirSync(segs()).sort()).toEqual([`${name}.age`, `${name}.age.manifest.json`]);
    expect(await walPush(ctx, join(dir, 'pg_wal', name))).toMatchObject({ status: 'already-archived' });
    expect(await walFetch(repo, 'main', name, join(dir, 'back'), keys)).toMatchObject({ status: 'restored', bytes: MB });
    expect(readFileSync(join(dir, 'back')).equals(readFileSync(join(dir, 'pg_wal', name)))).toBe(true);
    expect(await walFetch(repo, 'main', '000000010000000000000006', join(dir, 'none'), keys)).toEqual({ status: 'absent', name: '000000010000000000000006' });
    // Whatever path it is given, a fetch never replaces a key file (or a vault).
    writeFileSync(join(dir, 'a.key'), `${id.encoded}\n`, { mode: 0o600 });
    await expect(walFetch(repo, 'main', name, join(dir, 'a.key'), keys)).rejects.toThrow(/refusing to replace .*a\.key: it is a key file/);
    expect(readFileSync(join(dir, 'a.key'), 'utf8')).toBe(`${id.encoded}\n`);
  });

  it("pushes in a job's own buffers, made once and reused for every file (a pusher's memory is its jobs'): each archived file is still its own segment", async () => {
    const scratch: PushScratch = {};
    const names = [30n, 31n, 32n].map((n) => segmentName(1, n, MB));
    names.forEach((n, i) => writeFileSync(join(dir, 'pg_wal', n), segment(1, BigInt(30 + i), { valid: 20 + i })));
    let made: PushScratch | undefined;
    for (const n of names) {
      expect(await walPush(ctx, join(dir, 'pg_wal', n), scratch)).toMatchObject({ status: 'archived', bytes: MB });
      expect(scratch.plain?.length).toBeGreaterThanOrEqual(MB);
      expect(scratch.sealed?.length).toBeGreaterThanOrEqual(MB);
      made ??= { ...scratch };
      expect(scratch.plain).toBe(made.plain);
      expect(scratch.sealed).toBe(made.sealed);
    }
    for (const n of names) {
      expect(await walFetch(repo, 'main', n, join(dir, `back-${n}`), keys)).toMatchObject({ status: 'restored', bytes: MB });
      expect(readFileSync(join(dir, `back-${n}`)).equals(readFileSync(join(dir, 'pg_wal', n)))).toBe(true);
    }
  });

  it("fetches in the stored file's own buffer: the plaintext opened in place, no second copy", async () => {
    const names = [33n, 34n].map((n) => segmentName(1, n, MB));
    names.forEach((n, i) => writeFileSync(join(dir, 'pg_wal', n), segment(1, BigInt(33 + i), { valid: 40 + i })));
    for (const n of names) await walPush(ctx, join(dir, 'pg_wal', n));
    for (const n of names) {
      const r = await readArchived(repo, 'main', n, keys, RESTORE_READ);
      expect(r).toMatchObject({ status: 'restored', bytes: MB });
      const stored = readFileSync(join(segs(), `${n}.age`));
      // The plaintext lives in the buffer the stored file was read into (its header and tags after it, overwritten).
      expect(r.plaintext!.buffer.byteLength).toBe(stored.length);
      expect(r.plaintext!.equals(readFileSync(join(dir, 'pg_wal', n)))).toBe(true);
    }
  });

  it('refuses other bytes under an archived name, and a segment of another cluster', async () => {
    mkdirSync(join(dir, 'other'));
    const b = segment(1, 5n);
    b[9000] = 1;
    writeFileSync(join(dir, 'other', name), b);
    await expect(walPush(ctx, join(dir, 'other', name))).rejects.toThrow(/already archived with other content .* never overwritten/);
    writeFileSync(join(dir, 'other', '000000010000000000000006'), segment(1, 6n, { sysid: 99n }));
    await expect(walPush(ctx, join(dir, 'other', '000000010000000000000006'))).rejects.toMatchObject({
      kind: 'backup-failed',
      message: expect.stringMatching(/belongs to the cluster with system identifier 99/),
    });
    expect(readdirSync(segs())).not.toContain('000000010000000000000006.age');
  });

  it('a history file and a backup history file go through too, checked for what they are', async () => {
    writeFileSync(join(dir, 'pg_wal', '00000002.history'), '1\t0/5000100\tno recovery target specified\n');
    expect(await walPush(ctx, join(dir, 'pg_wal', '00000002.history'))).toMatchObject({ status: 'archived' });
    writeFileSync(join(dir, 'pg_wal', '00000003.history'), 'not a history\n');
    await expect(walPush(ctx, join(dir, 'pg_wal', '00000003.history'))).rejects.toThrow(/not a timeline history/);
    // A promoted standby archives its old timeline's last segment as .partial: checked as a segment.
    writeFileSync(join(dir, 'pg_wal', '000000010000000000000008.partial'), segment(1, 8n));
    expect(await walPush(ctx, join(dir, 'pg_wal', '000000010000000000000008.partial'))).toMatchObject({ status: 'archived' });
    expect(await walFetch(repo, 'main', '000000010000000000000008.partial', join(dir, 'p8'), keys)).toMatchObject({ status: 'restored' });
    writeFileSync(join(dir, 'pg_wal', '000000010000000000000009.partial'), segment(1, 8n));
    await expect(walPush(ctx, join(dir, 'pg_wal', '000000010000000000000009.partial'))).rejects.toThrow(/its first page says it is at 800000/);
    writeFileSync(join(dir, 'pg_wal', '000000010000000000000005.00000028.backup'), 'START WAL LOCATION: 0/500028 (file 000000010000000000000005)\n');
    expect(await walPush(ctx, join(dir, 'pg_wal', '000000010000000000000005.00000028.backup'))).toMatchObject({ status: 'archived' });
    writeFileSync(join(dir, 'pg_wal', 'notes.txt'), 'x');
    await expect(walPush(ctx, join(dir, 'pg_wal', 'notes.txt'))).rejects.toMatchObject({ kind: 'usage' });
  });

  it('a fetch refuses a manifest from an untrusted host, an altered file, and a manifest moved to another name', async () => {
    const other = { ...keys, signers: [] };
    await expect(walFetch(repo, 'main', name, join(dir, 'x'), other)).rejects.toThrow(/which the vault does not trust/);
    const f = join(segs(), `${name}.age`);
    const orig = readFileSync(f);
    const bad = Buffer.from(orig);
    bad[bad.length - 5] = bad[bad.length - 5]! ^ 1;
    writeFileSync(f, bad);
    await expect(walFetch(repo, 'main', name, join(dir, 'x'), keys)).rejects.toThrow(/altered or replaced/);
    writeFileSync(f, orig);
    writeFileSync(join(segs(), '000000010000000000000009.age'), orig);
    writeFileSync(join(segs(), '000000010000000000000009.age.manifest.json'), readFileSync(`${f}.manifest.json`));
    await expect(walFetch(repo, 'main', '000000010000000000000009', join(dir, 'x'), keys)).rejects.toThrow(/not the manifest of a WAL file|describes/);
    for (const n of ['000000010000000000000009.age', '000000010000000000000009.age.manifest.json']) unlinkSync(join(segs(), n));
  });

  describe("a restore holds the stored file to its header's digest, and authenticated decryption vouches for the rest", () => {
    const n = segmentName(1, 40n, MB);
    const n2 = segmentName(1, 41n, MB);
    let f: string;
    let orig: Buffer;
    let manifest: BackupManifest;
    let pool: OpenPool;
    /** Where chunk `i` of the payload starts in the stored file, and the header's length. */
    let headLen: number;
    const chunkAt = (i: number) => headLen + NONCE_SIZE + i * FULL;

    beforeAll(async () => {
      writeFileSync(join(dir, 'pg_wal', n), segment(1, 40n, { valid: 100 }));
      writeFileSync(join(dir, 'pg_wal', n2), segment(1, 41n, { valid: 100 }));
      await walPush(ctx, join(dir, 'pg_wal', n));
      await walPush(ctx, join(dir, 'pg_wal', n2));
      f = join(segs(), `${n}.age`);
      orig = readFileSync(f);
      manifest = JSON.parse(readFileSync(`${f}.manifest.json`, 'utf8')) as BackupManifest;
      headLen = readHeader(orig).header.length;
      pool = openPool(1);
    });
    afterAll(async () => {
      writeFileSync(f, orig);
      writeFileSync(`${f}.manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
      await pool.close();
    });

    /** Every restore read of `n` (wal-fetch, and the prefetcher's worker) with the stored file `stored`. */
    const restoreReads = async (stored: Buffer) => {
      writeFileSync(f, stored);
      const tmp = join(dir, 'fast-tmp');
      const out: (string | 'restored')[] = [];
      for (const read of [() => walFetch(repo, 'main', n, join(dir, 'fast-out'), keys), () => fetchToFile(repo, 'main', n, keys, pool, tmp)]) {
        try {
          const r = await read();
          out.push(r.status === 'restored' ? 'restored' : r.status);
        } catch (e) {
          out.push((e as Error).message);
        }
        // Left for the caller to rename into place only when restored.
        expect(existsSync(tmp)).toBe(out.at(-1) === 'restored' && out.length === 2);
        rmSync(join(dir, 'fast-out'), { force: true });
        rmSync(tmp, { force: true });
      }
      writeFileSync(f, orig);
      return out;
    };
    /** The genuine plaintext with one byte of WAL record data changed (its page headers intact), sealed afresh to the same recipient with the same stanza: the same size as the stored file, a valid age file anyone can make. */
    const forged = () => {
      const plain = readFileSync(join(dir, 'pg_wal', n));
      plain[100_000] = plain[100_000]! ^ 0x40;
      const { header } = readHeader(orig);
      const stanza = header.stanzas.find((x) => x.type === 'vault-tool-wal')!;
      return encrypt(plain, { recipients: [ctx.recipient.recipient], extraStanzas: [stanza] });
    };
    /** The manifest of `n` as a push before headerSha256 wrote it (or with another stored SHA-256), signed by the same host. */
    const resign = (edit: (c: BackupManifest['ciphertext']) => BackupManifest['ciphertext']) => {
      const { signature: _s, signer: _k, ...body } = manifest;
      const m = signManifest({ ...body, ciphertext: edit({ ...manifest.ciphertext }) }, signing);
      writeFileSync(`${f}.manifest.json`, `${JSON.stringify(m, null, 2)}\n`);
    };
    const restoreManifest = () => writeFileSync(`${f}.manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);

    it("the manifest records the SHA-256 of the header through its MAC line and the payload nonce, beside the whole file's", () => {
      expect(manifest.ciphertext).toEqual({
        size: orig.length,
        sha256: createHash('sha256').update(orig).digest('hex'),
        headerSha256: createHash('sha256')
          .update(orig.subarray(0, headLen + NONCE_SIZE))
          .digest('hex'),
      });
      expect(orig.subarray(headLen - 48, headLen).toString('latin1')).toMatch(/^--- [A-Za-z0-9+/]{43}\n$/);
    });

    it('genuine: restored by every read; the whole file is not hashed (a wrong stored SHA-256 goes unseen there, and verification refuses it)', async () => {
      expect(await restoreReads(orig)).toEqual(['restored', 'restored']);
      resign((c) => ({ ...c, sha256: 'ab'.repeat(32) }));
      try {
        expect(await restoreReads(orig)).toEqual(['restored', 'restored']);
        await expect(readArchived(repo, 'main', n, keys)).rejects.toThrow(/\(SHA-256 differs\)/);
      } finally {
        restoreManifest();
      }
    });

    it("a manifest whose headerSha256 is not its file's (the rest of it true): refused by every restore's read, and by verification, which holds both digests", async () => {
      resign((c) => ({ ...c, headerSha256: 'cd'.repeat(32) }));
      try {
        for (const m of await restoreReads(orig)) expect(m).toMatch(/not the one its manifest describes \(its header's SHA-256 differs\)/);
        await expect(readArchived(repo, 'main', n, keys)).rejects.toThrow(/not the one its manifest describes \(its header's SHA-256 differs\)/);
      } finally {
        restoreManifest();
      }
      expect(await readArchived(repo, 'main', n, keys)).toMatchObject({ status: 'restored' });
    });

    it('a valid age file made afresh to the same recipient (same stanza, same size): refused for its header, by every read', async () => {
      const fake = forged();
      expect(fake.length).toBe(orig.length);
      const out = await restoreReads(fake);
      for (const m of out) expect(m).toMatch(/not the one its manifest describes \(its header's SHA-256 differs\)/);
      // The genuine header and nonce in front of the forged payload: the payload does not authenticate under that key.
      const spliced = Buffer.concat([orig.subarray(0, chunkAt(0)), fake.subarray(chunkAt(0))]);
      for (const m of await restoreReads(spliced)) expect(m).toMatch(/its payload does not authenticate/);
    });

    it('a byte of the payload changed, a chunk from another segment, two chunks swapped, a chunk dropped or added, the last chunk made not the last: refused by every read', async () => {
      const other = readFileSync(join(segs(), `${n2}.age`));
      const otherHead = readHeader(other).header.length;
      const cases: [string, Buffer, RegExp][] = [];
      const flip = Buffer.from(orig);
      flip[chunkAt(3) + 10] = flip[chunkAt(3) + 10]! ^ 1;
      cases.push(['a byte', flip, /payload does not authenticate: payload chunk 3 /]);
      const tag = Buffer.from(orig);
      tag[chunkAt(16) - 1] = tag[chunkAt(16) - 1]! ^ 1;
      cases.push(['the last tag', tag, /payload does not authenticate: payload chunk 15 /]);
      const foreign = Buffer.from(orig);
      other.copy(foreign, chunkAt(5), otherHead + NONCE_SIZE + 5 * FULL, otherHead + NONCE_SIZE + 6 * FULL);
      cases.push(['a chunk of another segment at the same place', foreign, /payload does not authenticate: payload chunk 5 /]);
      const swapped = Buffer.from(orig);
      orig.copy(swapped, chunkAt(2), chunkAt(7), chunkAt(8));
      orig.copy(swapped, chunkAt(7), chunkAt(2), chunkAt(3));
      cases.push(['two chunks swapped', swapped, /payload does not authenticate: payload chunk 2 /]);
      cases.push(['the last chunk dropped', orig.subarray(0, chunkAt(15)), /\(its size differs\)/]);
      cases.push(['a chunk added', Buffer.concat([orig, orig.subarray(chunkAt(15), chunkAt(16))]), /\(its size differs\)/]);
      cases.push(['a byte added', Buffer.concat([orig, Buffer.from([0])]), /\(its size differs\)/]);
      for (const [what, stored, why] of cases) {
        const out = await restoreReads(stored);
        expect(out, what).toHaveLength(2);
        for (const m of out) expect(m, what).toMatch(why);
      }
    });

    it("the limit (docs/THREAT-MODEL.md): with the backup identity, another payload sealed under the genuine header passes a restore's read; verification's whole-file SHA-256 refuses it", async () => {
      const { header } = readHeader(orig);
      const fileKey = unwrapFileKey(header, { identities: [id.identity] });
      const plain = readFileSync(join(dir, 'pg_wal', n));
      plain[100_000] = plain[100_000]! ^ 0x40;
      const nonce = orig.subarray(headLen, headLen + NONCE_SIZE);
      const payload = encryptPayload(payloadKey(fileKey, nonce), plain);
      const forged = Buffer.concat([orig.subarray(0, headLen + NONCE_SIZE), payload]);
      expect(forged.length).toBe(orig.length);
      expect(await restoreReads(forged)).toEqual(['restored', 'restored']);
      writeFileSync(f, forged);
      try {
        await expect(readArchived(repo, 'main', n, keys)).rejects.toThrow(/\(SHA-256 differs\)/);
      } finally {
        writeFileSync(f, orig);
      }
    });

    it('the genuine file with a key that does not open it: a decryption failure, never said to be an altered file', async () => {
      const wrong = { ...keys, identities: [{ keyId: keys.identities[0]!.keyId, identity: X25519Identity.generate().identity }] };
      const tmp = join(dir, 'fast-tmp');
      for (const read of [() => walFetch(repo, 'main', n, join(dir, 'fast-out'), wrong), () => fetchToFile(repo, 'main', n, wrong, pool, tmp)])
        await expect(read()).rejects.toThrow(/decryption failed: no identity matched/);
      expect(existsSync(tmp)).toBe(false);
    });

    it('a file pushed before headerSha256 (its manifest without it) gets the full hash: the file made afresh is refused for its SHA-256', async () => {
      resign(({ headerSha256: _h, ...c }) => c);
      try {
        for (const m of await restoreReads(forged())) expect(m).toMatch(/\(SHA-256 differs\)/);
        expect(await restoreReads(orig)).toEqual(['restored', 'restored']);
      } finally {
        restoreManifest();
      }
      // A headerSha256 that is not a SHA-256: the manifest is refused.
      resign((c) => ({ ...c, headerSha256: 'x' }));
      try {
        for (const m of await restoreReads(orig)) expect(m).toMatch(/not a valid backup manifest \(ciphertext\.headerSha256\)/);
      } finally {
        restoreManifest();
      }
    });
  });

  it('a file left without its manifest (a push killed between the two) is not fetched; the next push completes it', async () => {
    const n7 = '000000010000000000000007';
    writeFileSync(join(dir, 'pg_wal', n7), segment(1, 7n));
    await walPush(ctx, join(dir, 'pg_wal', n7));
    unlinkSync(join(segs(), `${n7}.age.manifest.json`));
    expect(await walFetch(repo, 'main', n7, join(dir, 'x7'), keys)).toMatchObject({ status: 'absent', note: expect.stringContaining('without its manifest') });
    expect(await walPush(ctx, join(dir, 'pg_wal', n7))).toMatchObject({ status: 'completed' });
    // Completed with its header's digest too: a restore reads it on the fast path.
    const stored = readFileSync(join(segs(), `${n7}.age`));
    const m7 = JSON.parse(readFileSync(join(segs(), `${n7}.age.manifest.json`), 'utf8')) as BackupManifest;
    expect(m7.ciphertext.headerSha256).toBe(
      createHash('sha256')
        .update(stored.subarray(0, readHeader(stored).header.length + NONCE_SIZE))
        .digest('hex'),
    );
    expect(await walFetch(repo, 'main', n7, join(dir, 'x7'), keys)).toMatchObject({ status: 'restored' });
  });

  it('a history file that cannot be trusted is named and never steers a recovery', async () => {
    const trusted = await loadArchive(repo, 'main', keys);
    expect([...trusted.view.histories.keys()]).toEqual([2]);
    expect(trusted.problems).toEqual([]);
    const untrusted = await loadArchive(repo, 'main', { ...keys, signers: [] });
    expect(untrusted.view.histories.size).toBe(0);
    expect(untrusted.problems).toEqual([{ name: '00000002.history', message: expect.stringContaining('which the vault does not trust') }]);
  });

  it('an identity file: identities and trusted signers, its signer ids checked', () => {
    const text = `# vault-tool backup identity\n# trusted-signer: ${signing.id} ${signing.publicKey} db1\n${id.encoded}\n`;
    const k = parseIdentityFile(text, 'backup.id');
    expect(k.identities.map((i) => i.keyId)).toEqual([keyIdOf(id.identity.recipient)]);
    expect(k.signers).toEqual([{ id: signing.id, publicKey: signing.publicKey, label: 'db1', addedAt: '' }]);
    expect(() => parseIdentityFile(text.replace(signing.id, '0000000000000000'), 'backup.id')).toThrow(/signer id does not match/);
    expect(() => parseIdentityFile('# nothing\n', 'backup.id')).toThrow(/holds no identity/);
    rmSync(join(dir, 'x'), { force: true });
  });
});

describe.skipIf(!haveBinary('rclone', ['version']))('the archive on an rclone remote (local backend)', () => {
  it('push, fetch, and a prune that removes only what its plan names, manifests first', async () => {
    const { dir, cleanup } = tempDir('vt-wal-rclone-');
    try {
      const id = X25519Identity.generate();
      const signing = loadSigningKey(join(dir, 'signing.key'));
      const repo: Repo = {
        dest: parseDestination(`off:${join(dir, 'remote')}`, dir, { env: { PATH: process.env.PATH, RCLONE_CONFIG_OFF_TYPE: 'local' } }),
      };
      const ctx: PushContext = {
        repo,
        cluster: 'main',
        recipient: { recipient: id.identity.recipient, keyId: keyIdOf(id.identity.recipient) },
        signing,
        machine: 'db1',
        now: () => new Date(),
      };
      const keys: ReadKeys = {
        identities: [{ keyId: keyIdOf(id.identity.recipient), identity: id.identity }],
        signers: [{ id: signing.id, publicKey: signing.publicKey, label: 'db1', addedAt: '' }],
      };
      mkdirSync(join(dir, 'pg_wal'));
      for (const n of [5n, 6n, 7n]) {
        const name = segmentName(1, n, MB);
        writeFileSync(join(dir, 'pg_wal', name), segment(1, n));
        expect(await walPush(ctx, join(dir, 'pg_wal', name))).toMatchObject({ status: 'archived' });
      }
      expect(await walPush(ctx, join(dir, 'pg_wal', segmentName(1, 6n, MB)))).toMatchObject({ status: 'already-archived' });
      expect(await walFetch(repo, 'main', segmentName(1, 7n, MB), join(dir, 'back'), keys)).toMatchObject({ status: 'restored' });
      await executeWalPrune(repo, { cluster: 'main', remove: [segmentName(1, 5n, MB), segmentName(1, 6n, MB)], keep: 1, temp: [] }, new Date());
      expect(readdirSync(join(dir, 'remote', 'postgres-wal', 'main', 'segments')).sort()).toEqual([
        `${segmentName(1, 7n, MB)}.age`,
        `${segmentName(1, 7n, MB)}.age.manifest.json`,
      ]);
    } finally {
      cleanup();
    }
  }, 60_000);
});

describe("wal-fetch's exit status, as PostgreSQL reads it (1 to 125: not in the archive; above: recovery aborts)", () => {
  let dir: string;
  let cleanup: () => void;
  let repoDir: string;
  let idFile: string;
  const names = [5n, 6n, 7n].map((n) => segmentName(1, n, MB));
  const segs = () => join(repoDir, 'postgres-wal', 'main', 'segments');
  /** `extra` replaces the repository or the identity it names (an option given twice is refused). */
  const fetch = (name: string, extra: string[] = [], env: Record<string, string> = {}) =>
    cli(
      dir,
      [
        'backup',
        'wal-fetch',
        name,
        join(dir, 'pg_wal', 'RECOVERYXLOG'),
        '--cluster',
        'main',
        ...(extra.includes('-r') ? [] : ['-r', repoDir]),
        ...(extra.includes('--identity') ? [] : ['--identity', idFile]),
        ...extra,
      ],
      { env },
    );
  /** One error line (and a hint line at most) naming the file: what the server's log shows beside "could not restore file". */
  const oneLine = (stderr: string, name: string) => {
    const lines = stderr.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^vault-tool: error: /);
    expect(lines[0]).toContain(name);
    expect(lines.slice(1).every((l) => l.startsWith('vault-tool: hint: ') || l.startsWith('vault-tool: warning: '))).toBe(true);
  };

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir('vt-wal-fetch-'));
    repoDir = join(dir, 'repo');
    const id = X25519Identity.generate();
    const signing = loadSigningKey(join(dir, 'signing.key'));
    const ctx: PushContext = {
      repo: { dest: parseDestination(repoDir, dir, { env: {} }) },
      cluster: 'main',
      recipient: { recipient: id.identity.recipient, keyId: keyIdOf(id.identity.recipient) },
      signing,
      machine: 'db1',
      now: () => new Date(),
    };
    mkdirSync(join(dir, 'pg_wal'));
    for (const [i, name] of names.entries()) {
      writeFileSync(join(dir, 'pg_wal', name), segment(1, BigInt(5 + i)));
      await walPush(ctx, join(dir, 'pg_wal', name));
    }
    idFile = join(dir, 'backup.id');
    writeFileSync(idFile, `# trusted-signer: ${signing.id} ${signing.publicKey} db1\n${id.encoded}\n`, { mode: 0o600 });
  });
  afterAll(() => cleanup());

  it('0 with the file written; 1, without a word, only when the archive answers that it does not hold the file', async () => {
    expect(await fetch(names[1]!)).toMatchObject({ code: 0, stderr: '' });
    expect(readFileSync(join(dir, 'pg_wal', 'RECOVERYXLOG')).equals(readFileSync(join(dir, 'pg_wal', names[1]!)))).toBe(true);
    rmSync(join(dir, 'pg_wal', 'RECOVERYXLOG'));
    for (const absent of [segmentName(1, 8n, MB), '00000002.history']) expect(await fetch(absent), absent).toMatchObject({ code: 1, stderr: '', stdout: '' });
    expect(existsSync(join(dir, 'pg_wal', 'RECOVERYXLOG'))).toBe(false);
  });

  it('an altered file, an untrusted signer, a key not held: above 125, one line naming the file, nothing written', async () => {
    const f = join(segs(), `${names[1]}.age`);
    const orig = readFileSync(f);
    const bad = Buffer.from(orig);
    bad[bad.length - 100] = bad[bad.length - 100]! ^ 1;
    writeFileSync(f, bad);
    try {
      const r = await fetch(names[1]!);
      expect(r.code).toBe(204);
      oneLine(r.stderr, names[1]!);
      expect(r.stderr).toContain('altered or replaced');
    } finally {
      writeFileSync(f, orig);
    }
    const stranger = loadSigningKey(join(dir, 'stranger.key'));
    const other = join(dir, 'other.id');
    const idLine = readFileSync(idFile, 'utf8').split('\n')[1]!;
    writeFileSync(other, `# trusted-signer: ${stranger.id} ${stranger.publicKey} other\n${idLine}\n`, { mode: 0o600 });
    const untrusted = await fetch(names[1]!, ['--identity', other]);
    expect(untrusted.code).toBe(204);
    oneLine(untrusted.stderr, names[1]!);
    const noKey = join(dir, 'nokey.id');
    writeFileSync(noKey, `${readFileSync(idFile, 'utf8').split('\n')[0]}\n${X25519Identity.generate().encoded}\n`, { mode: 0o600 });
    const wrongKey = await fetch(names[1]!, ['--identity', noKey]);
    expect(wrongKey.code).toBe(203);
    oneLine(wrongKey.stderr, names[1]!);
    expect(existsSync(join(dir, 'pg_wal', 'RECOVERYXLOG'))).toBe(false);
  });

  it('a repository that is not there (an unmounted folder) is no answer: above 125, never "absent"', async () => {
    const r = await fetch(names[1]!, ['-r', join(dir, 'unmounted')]);
    expect(r.code).toBe(205);
    oneLine(r.stderr, names[1]!);
    expect(r.stderr).toContain('holds no WAL archive');
    const absentThere = await fetch(segmentName(1, 9n, MB), ['-r', join(dir, 'unmounted')]);
    expect(absentThere.code).toBe(205);
  });

  it('a manifest without its file, a file or its manifest missing before archived ones: the archive is damaged, above 125', async () => {
    const f = join(segs(), `${names[1]}.age`);
    renameSync(f, `${f}.aside`);
    try {
      const r = await fetch(names[1]!);
      expect(r.code).toBe(205);
      oneLine(r.stderr, names[1]!);
    } finally {
      renameSync(`${f}.aside`, f);
    }
    const m = `${f}.manifest.json`;
    renameSync(m, `${m}.aside`);
    try {
      const r = await fetch(names[1]!);
      expect(r.code).toBe(204);
      expect(r.stderr).toContain(`without its manifest, yet ${names[2]} after it is archived`);
    } finally {
      renameSync(`${m}.aside`, m);
    }
    // Both gone, with the next one archived: a gap in the middle of the range, never "the end of the archive".
    renameSync(f, `${f}.aside`);
    renameSync(m, `${m}.aside`);
    try {
      const r = await fetch(names[1]!);
      expect(r.code).toBe(208);
      expect(r.stderr).toContain(`${names[1]} is missing from the archive, yet ${names[2]} after it is archived: a gap`);
      oneLine(r.stderr, names[1]!);
    } finally {
      renameSync(`${f}.aside`, f);
      renameSync(`${m}.aside`, m);
    }
    // The last one without its manifest (its push killed, the server gone): the end of the archive, said so.
    const last = join(segs(), `${names[2]}.age.manifest.json`);
    renameSync(last, `${last}.aside`);
    try {
      const r = await fetch(names[2]!);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('without its manifest');
    } finally {
      renameSync(`${last}.aside`, last);
    }
  });

  it('a command line that cannot run (no path, no identity, a bad name) aborts too: 202', async () => {
    const noPath = await cli(dir, ['backup', 'wal-fetch', names[1]!, '--cluster', 'main', '-r', repoDir, '--identity', idFile]);
    expect(noPath.code).toBe(202);
    const noIdentity = await cli(dir, ['backup', 'wal-fetch', names[1]!, join(dir, 'x'), '--cluster', 'main', '-r', repoDir]);
    expect(noIdentity.code).toBe(202);
    oneLine(noIdentity.stderr, names[1]!);
    expect((await fetch('../../etc/passwd')).code).toBe(202);
    expect((await fetch(names[1]!, ['--no-such-option'])).code).toBe(202);
  });

  it.skipIf(!haveBinary('rclone', ['version']))(
    'a remote that does not answer, after its retries: 201, never "absent"',
    async () => {
      // An HTTP remote on a port nobody listens on: connection refused on every try.
      writeFileSync(join(dir, 'rclone.conf'), '');
      const r = await fetch(names[1]!, ['-r', 'dead:archive'], {
        RCLONE_CONFIG: join(dir, 'rclone.conf'),
        RCLONE_CONFIG_DEAD_TYPE: 'http',
        RCLONE_CONFIG_DEAD_URL: 'http://127.0.0.1:1/',
      });
      expect(r.code).toBe(201);
      expect(r.stderr).toContain('trying again');
      expect(r.stderr.split('\n').filter((l) => l.startsWith('vault-tool: error: '))).toHaveLength(1);
    },
    30_000,
  );
});

describe('asynchronous archiving: the pusher and its acknowledgements', () => {
  let dir: string;
  let cleanup: () => void;
  let ctx: PushContext;
  let spool: Spool;
  const wal = () => join(dir, 'pg_wal');
  const ready = (name: string, data: Buffer | string) => {
    writeFileSync(join(wal(), name), data);
    writeFileSync(join(wal(), 'archive_status', `${name}.ready`), '');
  };
  const segs = () => join(dir, 'repo', 'postgres-wal', 'main', 'segments');

  beforeAll(() => {
    ({ dir, cleanup } = tempDir('vt-wal-async-'));
    const id = X25519Identity.generate();
    ctx = {
      repo: { dest: parseDestination(join(dir, 'repo'), dir, { env: {} }) },
      cluster: 'main',
      recipient: { recipient: id.identity.recipient, keyId: keyIdOf(id.identity.recipient) },
      signing: loadSigningKey(join(dir, 'signing.key')),
      machine: 'db1',
      now: () => new Date(),
    };
    mkdirSync(join(wal(), 'archive_status'), { recursive: true });
    spool = openSpool(join(dir, 'spool'));
  });
  afterAll(() => cleanup());

  it('an acknowledgement names the file as coreutils stat -c %d:%i:%s:%.9Y:%.9Z prints it', () => {
    writeFileSync(join(dir, 'f'), 'x');
    expect(identityAt(join(dir, 'f'))).toBe(execFileSync('stat', ['-c', '%d:%i:%s:%.9Y:%.9Z', join(dir, 'f')], { encoding: 'utf8' }).trim());
    expect(identityAt(join(dir, 'nothing'))).toBeNull();
  });

  it('pushes every ready file (histories first), acknowledging each once committed; each acknowledgement is taken once, for that very file', async () => {
    for (const n of [5n, 6n, 7n]) ready(segmentName(1, n, MB), segment(1, n));
    ready('00000002.history', '1\t0/7000100\tno recovery target specified\n');
    const order: string[] = [];
    const r = await runPusher({ spool, walDir: wal(), push: ctx, jobs: 2, idleMs: 50, onPushed: (x) => order.push(x.name) });
    expect(r).toEqual({ pushed: 4, failed: 0, running: false });
    expect(order[0]).toBe('00000002.history');
    for (const n of order) {
      // Committed before acknowledged: the manifest is there.
      expect(readdirSync(segs())).toContain(`${n}.age.manifest.json`);
      expect(readFileSync(join(spool.ok, n), 'utf8')).toBe(`${identityAt(join(wal(), n))}\n`);
    }
    const n5 = segmentName(1, 5n, MB);
    expect(takeAck(spool, n5, join(wal(), n5))).toBe(true);
    expect(takeAck(spool, n5, join(wal(), n5))).toBe(false);
    // Another file under the name (a data directory made again): the acknowledgement is not its.
    const n6 = segmentName(1, 6n, MB);
    const other = readFileSync(join(wal(), n6));
    unlinkSync(join(wal(), n6));
    writeFileSync(join(wal(), n6), other);
    expect(takeAck(spool, n6, join(wal(), n6))).toBe(false);
    expect(readdirSync(spool.ok)).toContain(n6);
  });

  it('starts from an empty spool, and drops the acknowledgements of files PostgreSQL no longer lists', async () => {
    writeFileSync(join(spool.ok, 'stale'), '1:2:3:4:5\n');
    for (const f of readdirSync(join(wal(), 'archive_status'))) unlinkSync(join(wal(), 'archive_status', f));
    const n8 = segmentName(1, 8n, MB);
    ready(n8, segment(1, 8n));
    expect(await runPusher({ spool, walDir: wal(), push: ctx, jobs: 1, idleMs: 50 })).toMatchObject({ pushed: 1 });
    expect(readdirSync(spool.ok)).toEqual([n8]);
  });

  it('a file it cannot push: a failure for archive_command, no acknowledgement, tried again later', async () => {
    for (const f of readdirSync(join(wal(), 'archive_status'))) unlinkSync(join(wal(), 'archive_status', f));
    const n9 = segmentName(1, 9n, MB);
    ready(n9, segment(1, 9n, { sysid: 99n }));
    const failed: string[] = [];
    const r = await runPusher({ spool, walDir: wal(), push: ctx, jobs: 1, idleMs: 50, onFailed: (n) => failed.push(n) });
    expect(r).toMatchObject({ pushed: 0, failed: 1 });
    expect(failed).toEqual([n9]);
    expect(readdirSync(spool.ok)).toEqual([]);
    expect(takeFailure(spool, n9)).toMatch(/belongs to the cluster with system identifier 99/);
    expect(takeFailure(spool, n9)).toBeNull();
    expect(readdirSync(segs())).not.toContain(`${n9}.age.manifest.json`);
  });

  it('one pusher a spool: a second one returns at once, and archive_command sees the first', async () => {
    const first = runPusher({ spool, walDir: wal(), push: ctx, jobs: 1, idleMs: 400 });
    await new Promise((r) => setTimeout(r, 100));
    expect(runningPusher(spool)).toMatchObject({ pid: process.pid });
    expect(await runPusher({ spool, walDir: wal(), push: ctx, jobs: 1, idleMs: 400 })).toEqual({ pushed: 0, failed: 0, running: true });
    await first;
    expect(runningPusher(spool)).toBeNull();
  });
});

describe('asynchronous restores: the prefetcher', () => {
  let dir: string;
  let cleanup: () => void;
  let repo: Repo;
  let keys: ReadKeys;
  let spool: FetchSpool;
  const names = [5n, 6n, 7n, 8n, 9n].map((n) => segmentName(1, n, MB));

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir('vt-wal-prefetch-'));
    const id = X25519Identity.generate();
    let ctx: PushContext;
    ({ repo, ctx, keys } = walArchive(dir, id));
    mkdirSync(join(dir, 'pg_wal'));
    for (const [i, n] of names.entries()) {
      writeFileSync(join(dir, 'pg_wal', n), segment(1, BigInt(5 + i)));
      await walPush(ctx, join(dir, 'pg_wal', n));
    }
    spool = openFetchSpool(join(dir, 'spool'));
  });
  afterAll(() => cleanup());

  it('keeps the next segments ready, each checked in full; follows what restore_command takes; stops at the end of the archive and at a file that fails a check', async () => {
    // 000000010000000000000008 altered in the repository: never prefetched (restore_command fetches it itself, and fails).
    const bad = join(dir, 'repo', 'postgres-wal', 'main', 'segments', `${names[3]}.age`);
    const orig = readFileSync(bad);
    const altered = Buffer.from(orig);
    altered[altered.length - 100] = altered[altered.length - 100]! ^ 1;
    writeFileSync(bad, altered);
    setWant(spool, names[0]!);
    const failed: string[] = [];
    const running = runPrefetcher({ spool, repo, cluster: 'main', keys, queue: 2, idleMs: 1500, onFailed: (n) => failed.push(n) });
    const waitFor = async (f: () => boolean) => {
      for (let i = 0; i < 100 && !f(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(f()).toBe(true);
    };
    const inSpool = () => readdirSync(spool.in).filter((n) => !n.startsWith('.'));
    await waitFor(() => inSpool().length === 2);
    expect(inSpool().sort()).toEqual([names[1], names[2]]);
    expect(lockHolder(spool.root, 'prefetcher')).toMatchObject({ pid: process.pid });
    // restore_command takes 6: the prefetcher moves on, but not past 8, which fails its check.
    expect(takePrefetched(spool, names[1]!, join(dir, 'RECOVERYXLOG'))).toBe(true);
    expect(readFileSync(join(dir, 'RECOVERYXLOG')).equals(readFileSync(join(dir, 'pg_wal', names[1]!)))).toBe(true);
    await waitFor(() => failed.includes(names[3]!));
    expect(inSpool()).toEqual([names[2]]);
    // Not pending either: restore_command does not wait for it, and fetches it itself.
    await waitFor(() => readdirSync(spool.pending).length === 0);
    expect(takePrefetched(spool, names[3]!, join(dir, 'RECOVERYXLOG'))).toBe(false);
    // restore_command fetched 8 itself (after a repair): the prefetcher follows from there, to the end of the archive.
    writeFileSync(bad, orig);
    setWant(spool, names[3]!);
    await waitFor(() => inSpool().includes(names[4]!));
    expect(inSpool()).toEqual([names[4]]);
    expect(await running).toMatchObject({ running: false });
    // Gone once idle, with its files.
    expect(readdirSync(spool.in)).toEqual([]);
    expect(readdirSync(spool.ok)).toEqual([]);
    expect(readdirSync(spool.pending)).toEqual([]);
    expect(lockHolder(spool.root, 'prefetcher')).toBeNull();
    expect(existsSync(join(spool.root, 'prefetcher.pid'))).toBe(false);
  });

  it('the workers read each stored file into a buffer given back by an earlier job, and open it in place: each file still its own segment, an altered one refused', async () => {
    const pool = openPool(1);
    const reused: (boolean | undefined)[] = [];
    const watched: OpenPool = {
      size: pool.size,
      open: async (job) => {
        const r = await pool.open(job);
        reused.push(r.reused);
        return r;
      },
      recycle: (p) => pool.recycle(p),
      close: () => pool.close(),
    };
    try {
      for (const n of [names[0]!, names[1]!, names[2]!, names[4]!]) {
        const tmp = join(dir, `pool-${n}`);
        expect(await fetchToFile(repo, 'main', n, keys, watched, tmp)).toMatchObject({ status: 'restored', bytes: MB });
        expect(readFileSync(tmp).equals(readFileSync(join(dir, 'pg_wal', n)))).toBe(true);
        rmSync(tmp);
      }
      expect(reused).toEqual([false, true, true, true]);
      // An altered file in the reused buffer: refused, nothing left at the temp path; the next file is whole again.
      const bad = join(dir, 'repo', 'postgres-wal', 'main', 'segments', `${names[3]}.age`);
      const orig = readFileSync(bad);
      const altered = Buffer.from(orig);
      altered[altered.length - 100] = altered[altered.length - 100]! ^ 1;
      writeFileSync(bad, altered);
      await expect(fetchToFile(repo, 'main', names[3]!, keys, watched, join(dir, 'pool-bad'))).rejects.toThrow(/altered or replaced/);
      expect(existsSync(join(dir, 'pool-bad'))).toBe(false);
      writeFileSync(bad, orig);
      expect(await fetchToFile(repo, 'main', names[3]!, keys, watched, join(dir, 'pool-ok'))).toMatchObject({ status: 'restored' });
      expect(readFileSync(join(dir, 'pool-ok')).equals(readFileSync(join(dir, 'pg_wal', names[3]!)))).toBe(true);
      expect(reused.slice(4)).toEqual([true, true]);
    } finally {
      await pool.close();
    }
  });

  it('restore.sh hands over only the very file the prefetcher checked and recorded, waits for one it is fetching while it runs, and leaves anything else to wal-fetch', async () => {
    const asked = join(dir, 'asked');
    const script = join(spool.root, 'restore.sh');
    // wal-fetch's place taken by a command that notes what it was asked (the real one runs in the integration tests).
    // (started as the prefetcher, with --drain, it does nothing: the prefetcher here runs in this process).
    writeFileSync(
      script,
      asyncRestoreScript(
        spool.root,
        ['sh', '-c', `case "$2" in --drain) echo "$0" >> '${asked}.drain'; exit 0;; esac; echo "$0" >> '${asked}'; exit 1`],
        ['--cluster', 'main', '--async', '--spool'],
        ['--drain'],
      ),
    );
    const target = join(dir, 'RECOVERYXLOG');
    // As PostgreSQL runs its restore_command (sh -c, %f and %p in it), or with the file and path as arguments (`args`).
    const restore = async (name: string, args = false) => {
      const t = Date.now();
      const command = scriptCommand(script).replace(/%([fp%])/g, (_, c: string) => (c === 'f' ? name : c === 'p' ? target : '%'));
      try {
        await promisify(execFile)('sh', args ? [script, name, target] : ['-c', command]);
        return { code: 0, ms: Date.now() - t };
      } catch (e) {
        return { code: (e as { code: number }).code, ms: Date.now() - t };
      }
    };
    const fellBack = () => (existsSync(asked) ? readFileSync(asked, 'utf8').split('\n').filter(Boolean) : []);
    const waitFor = async (f: () => boolean) => {
      for (let i = 0; i < 100 && !f(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(f()).toBe(true);
    };
    rmSync(target, { force: true });
    setWant(spool, names[0]!);
    const running = runPrefetcher({ spool, repo, cluster: 'main', keys, queue: 3, idleMs: 4000 }); // idle long enough for every step under load
    await waitFor(() => [1, 2, 3].every((i) => existsSync(join(spool.ok, names[i]!))));
    expect(readFileSync(join(spool.ok, names[1]!), 'utf8')).toBe(`${identityAt(join(spool.in, names[1]!))}\n`);
    // Checked and recorded: moved into place by the shell alone.
    expect((await restore(names[1]!)).code).toBe(0);
    expect(readFileSync(target).equals(readFileSync(join(dir, 'pg_wal', names[1]!)))).toBe(true);
    // Its record, naming an identity no file has any more, removed by the prefetcher once it sees the file taken.
    await waitFor(() => !existsSync(join(spool.ok, names[1]!)));
    expect(fellBack()).toEqual([]);
    // Written after the prefetcher placed it (a later clock tick: the identity holds times): never handed over, wal-fetch's.
    await new Promise((r) => setTimeout(r, 50));
    writeFileSync(join(spool.in, names[2]!), readFileSync(join(dir, 'pg_wal', names[4]!)));
    expect((await restore(names[2]!)).code).toBe(1);
    expect(fellBack()).toEqual([names[2]]);
    expect(readFileSync(target).equals(readFileSync(join(dir, 'pg_wal', names[1]!)))).toBe(true);
    // Put there by anything but the prefetcher (no record): never handed over; asked of the prefetcher, whose answer is the
    // archive's: it does not hold it (exit 1, as wal-fetch says).
    writeFileSync(join(spool.in, '000000010000000000000020'), readFileSync(join(dir, 'pg_wal', names[4]!)));
    expect((await restore('000000010000000000000020')).code).toBe(1);
    expect(readFileSync(target).equals(readFileSync(join(dir, 'pg_wal', names[1]!)))).toBe(true);
    const beyond = segmentName(1, 40n, MB);
    expect((await restore(beyond)).code).toBe(1);
    // Archived but neither in the spool nor pending (behind): asked, fetched and checked by the prefetcher, handed over.
    expect((await restore(names[0]!, true)).code).toBe(0);
    expect(readFileSync(target).equals(readFileSync(join(dir, 'pg_wal', names[0]!)))).toBe(true);
    expect(fellBack()).toEqual([names[2]]);
    expect(readdirSync(spool.ask)).toEqual([]);
    await running;
    // Pending while its prefetcher runs: waited for, then taken from the spool; pending with the prefetcher gone: wal-fetch's at once.
    const later = segmentName(1, 41n, MB);
    markPending(spool, [later]);
    writeFileSync(join(spool.root, 'prefetcher.pid'), `${process.pid}\n`);
    const waiting = restore(later);
    await new Promise((r) => setTimeout(r, 400));
    writeFileSync(join(spool.in, later), readFileSync(join(dir, 'pg_wal', names[4]!)));
    writeFileSync(join(spool.ok, later), `${identityAt(join(spool.in, later))}\n`);
    rmSync(join(spool.pending, later));
    const w = await waiting;
    expect(w.code).toBe(0);
    expect(w.ms).toBeGreaterThanOrEqual(400);
    expect(readFileSync(target).equals(readFileSync(join(dir, 'pg_wal', names[4]!)))).toBe(true);
    const dead = spawnDead();
    markPending(spool, [later]);
    writeFileSync(join(spool.root, 'prefetcher.pid'), `${dead}\n`);
    expect(existsSync(join(dir, 'asked.drain'))).toBe(false);
    expect((await restore(later)).code).toBe(1);
    expect(fellBack().at(-1)).toBe(later);
    // No prefetcher running: the script started one (in the background, --drain) before wal-fetch answered; once only while it starts.
    await waitFor(() => existsSync(join(dir, 'asked.drain')));
    expect(existsSync(join(spool.root, 'starting'))).toBe(true);
    expect((await restore(later)).code).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(readFileSync(join(dir, 'asked.drain'), 'utf8')).toBe(`${later}\n`);
    rmSync(join(spool.pending, later));
    rmSync(join(spool.root, 'prefetcher.pid'));
    rmSync(join(spool.root, 'starting'));
  });

  it('restore_command with its script gone (the spool removed mid-recovery) exits 200, which stops the recovery, in dash and in bash as sh: never 1 or 2, read as the archive ending there', async () => {
    const gone = scriptCommand(join(dir, 'no-spool', 'restore.sh')).replace(/%([fp%])/g, (_, c: string) =>
      c === 'f' ? names[0]! : c === 'p' ? join(dir, 'x') : '%',
    );
    for (const shell of [['sh'], ['bash', '--posix']]) {
      const r = spawnSync(shell[0]!, [...shell.slice(1), '-c', gone], { encoding: 'utf8' });
      expect(r.status, `${shell.join(' ')}: ${r.stderr}`).toBe(200);
    }
    // A path with a space, as pg_rewind gives it (%p in full): one word.
    const script = join(dir, 'echo-args.sh');
    writeFileSync(script, `${FILE_AND_PATH.join('\n')}\nprintf '%s|%s' "$f" "$p"; exit 0\n`);
    const spaced = scriptCommand(script).replace(/%([fp%])/g, (_, c: string) => (c === 'f' ? names[0]! : c === 'p' ? '/data dir/pg_wal/X' : '%'));
    expect(spawnSync('sh', ['-c', spaced], { encoding: 'utf8' }).stdout).toBe(`${names[0]}|/data dir/pg_wal/X`);
  });

  it('a spool is made only inside a folder that is there: a prefetcher starting after its data directory was removed makes none', () => {
    const gone = join(dir, 'removed-datadir', 'vault-tool-spool');
    expect(() => openFetchSpool(gone)).toThrow(/the folder it goes in .*removed-datadir\) is not there/);
    expect(existsSync(join(dir, 'removed-datadir'))).toBe(false);
  });

  it('restore.sh --prefetch (the restore, once the data directory is ready) starts a prefetcher from the first segment, unless one runs', async () => {
    const started = join(dir, 'started');
    const root = join(dir, 'spool-p');
    const sp = openFetchSpool(root);
    const script = join(root, 'restore.sh');
    writeFileSync(script, asyncRestoreScript(root, ['sh', '-c', `echo "$0 $1 $2" >> '${started}'`], ['--cluster', 'main', '--async', '--spool'], ['--drain']));
    const waitFor = async (f: () => boolean) => {
      for (let i = 0; i < 100 && !f(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(f()).toBe(true);
    };
    // No first segment recorded: nothing to start from.
    await expect(promisify(execFile)('sh', [script, '--prefetch'])).rejects.toMatchObject({ code: 1 });
    setFirst(sp, names[0]!);
    // One running: none started.
    writeFileSync(join(root, 'prefetcher.pid'), `${process.pid}\n`);
    await promisify(execFile)('sh', [script, '--prefetch']);
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(started)).toBe(false);
    rmSync(join(root, 'prefetcher.pid'));
    await promisify(execFile)('sh', [script, '--prefetch']);
    await waitFor(() => existsSync(started));
    expect(readFileSync(started, 'utf8')).toBe(`${names[0]} ${dir}/pg_wal --drain\n`);
    expect(existsSync(join(root, 'starting'))).toBe(true);
  });

  it("stops one segment past the restore's last (SPOOL/last): the recovery reaches its target in it, and PostgreSQL asks for more itself", async () => {
    const sp = openFetchSpool(join(dir, 'spool-l'));
    setFirst(sp, names[0]!);
    setLast(sp, names[0]!);
    const fetched: string[] = [];
    await runPrefetcher({ spool: sp, repo, cluster: 'main', keys, queue: 3, idleMs: 1000, onFetched: (n) => fetched.push(n) });
    expect(fetched.sort()).toEqual([names[0], names[1]]);
    // Without it, the queue's length ahead.
    const sp2 = openFetchSpool(join(dir, 'spool-l2'));
    setFirst(sp2, names[0]!);
    const all: string[] = [];
    await runPrefetcher({ spool: sp2, repo, cluster: 'main', keys, queue: 3, idleMs: 1000, onFetched: (n) => all.push(n) });
    expect(all.sort()).toEqual([names[0], names[1], names[2]]);
  });

  it('a prefetcher the server never used leaves, once idle, the segments the restore placed; one it used takes them with it', async () => {
    const root = join(dir, 'spool-k');
    const sp = openFetchSpool(root);
    setFirst(sp, names[0]!);
    // Placed by the restore: fetched, checked and recorded before any prefetcher ran.
    const pool = openPool(1);
    try {
      const tmp = join(sp.tmp, names[0]!);
      expect(await fetchToFile(repo, 'main', names[0]!, keys, pool, tmp)).toMatchObject({ status: 'restored' });
      renameSync(tmp, join(sp.in, names[0]!));
    } finally {
      await pool.close();
    }
    writeFileSync(join(sp.ok, names[0]!), `${identityAt(join(sp.in, names[0]!))}\n`);
    const fetched: string[] = [];
    expect(await runPrefetcher({ spool: sp, repo, cluster: 'main', keys, queue: 2, idleMs: 1000, onFetched: (n) => fetched.push(n) })).toMatchObject({
      running: false,
    });
    expect(fetched).toEqual([names[1]]);
    // Never used: its own segment gone, the restore's kept, with its record (the server started later still finds it).
    expect(readdirSync(sp.in)).toEqual([names[0]]);
    expect(readdirSync(sp.ok)).toEqual([names[0]]);
    expect(takePrefetched(sp, names[0]!, join(dir, 'K0'))).toBe(true);
    // The server took it and asks for what follows: the next prefetcher is used, and takes everything with it, the files
    // placed before it ran too.
    rmSync(join(dir, 'K0'));
    const pool2 = openPool(1);
    try {
      const tmp = join(sp.tmp, names[2]!);
      expect(await fetchToFile(repo, 'main', names[2]!, keys, pool2, tmp)).toMatchObject({ status: 'restored' });
      renameSync(tmp, join(sp.in, names[2]!));
    } finally {
      await pool2.close();
    }
    writeFileSync(join(sp.ok, names[2]!), `${identityAt(join(sp.in, names[2]!))}\n`);
    setWant(sp, names[1]!);
    await runPrefetcher({ spool: sp, repo, cluster: 'main', keys, queue: 2, idleMs: 1000 });
    expect(readdirSync(sp.in)).toEqual([]);
    expect(readdirSync(sp.ok)).toEqual([]);
  });
});

/** The pid of a process that has exited. */
function spawnDead(): number {
  return Number(execFileSync('sh', ['-c', 'sh -c "exit 0" & echo $!; wait'], { encoding: 'utf8' }).trim());
}
