import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  lchownSync,
  closeSync,
  createWriteStream,
  fstatSync,
  readSync,
  renameSync,
  lstatSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { counter, type OnProgress } from '../../fs/progress.js';
import { pipeline } from 'node:stream/promises';
import { AgeError, VaultError } from '../../errors/errors.js';
import { parseHeader } from '../../age/header.js';
import { NONCE_SIZE } from '../../age/stream.js';
import { exists, makeDir, makeDirs } from '../../fs/dirs.js';
import { checkSignature, type BackupManifest } from '../manifest.js';
import { streamSink, type Sink } from '../../age/io.js';
import { consume, type Consumed, type Started } from '../pipeline.js';
import { componentDest, openFile, type Repo } from '../repo.js';
import { continuity, describeChain, type Continuity } from './continuity.js';
import { BaseReader } from './base-check.js';
import type { ReadKeys } from './identity.js';
import { formatLsn, parseLsn, parseWalName, segnoOf, type WalFile } from './names.js';
import { recordEvidence } from '../../vault/evidence.js';
import { changed, updateVault, type StoreOptions, type VaultPaths } from '../../vault/store.js';
import { BASE_KIND } from './store.js';
import { loadArchive } from './view.js';
import { readManifests, walManifestRefusal } from './catalog.js';
import { type FetchSpool, openFetchSpool, recordPlaced, setFirst, setLast } from './prefetch.js';
import { fetchToFile } from './fetch.js';
import { openPool } from './open-pool.js';
import { type Account, accountOf, BACKGROUND_SETTINGS, commandAs, envForProcess } from '../../tool/user-env.js';

/** The restore_command script in a restore's spool. */
export const SCRIPT = 'restore.sh';

/**
 * The name of a restore's spool at the top of its data directory. A base backup of a server that was itself restored holds that
 * restore's spool under it: never extracted, whatever spool this restore names (its files are not this restore's).
 */
export const SPOOL = 'vault-tool-spool';

/** The script's first argument that starts a prefetcher and returns (the restore's own start; restore-script.ts). */
export const PREFETCH = '--prefetch';

type Env = Record<string, string | undefined>;

/**
 * A point-in-time restore, planned then carried out. The plan checks
 * everything before a byte is written: the base backup's manifest (signed
 * by a trusted host, verified, its key held), the data directory (absent or
 * empty), and the archive: every segment from the backup's start to the
 * target, on the timeline recovery will follow, committed. Carrying it out
 * writes the base into the data directory (new or empty; in one pass, tar
 * writing it as it is decrypted and checked against backup_manifest, the
 * whole stored file hashed and held to its signed SHA-256 at the end; a
 * failure removes all it wrote), `recovery.signal`, and the recovery
 * settings in `postgresql.auto.conf`; PostgreSQL, started on it, fetches
 * the WAL through restore_command and stops at the target.
 */
export interface PitrTarget {
  time?: Date;
  lsn?: string;
  name?: string;
  /** PostgreSQL's recovery_target_action (its default: pause). */
  action: 'promote' | 'pause' | 'shutdown';
  /** Stop just before the target instead of just after it. */
  exclusive?: boolean;
}

export interface PitrPlan {
  base: BackupManifest;
  cluster: string;
  dataDir: string;
  owner?: Account;
  target: PitrTarget;
  continuity: Continuity;
  /** The last segment recovery needs to reach the target (by time: the first archived after it). */
  through: string;
  /** Lines added to postgresql.auto.conf. */
  settings: [string, string][];
  /** Whether the restored cluster archives (into whatever its archive_command says). */
  archive: boolean;
  /** The spool made in the data directory, with restore.sh (PlanOptions). */
  spool?: { dir: string; script: string };
  /** Checked in full as a verification checks it (PlanOptions). */
  verify: boolean;
  warnings: string[];
}

export interface PlanOptions {
  dataDir: string;
  target: PitrTarget;
  /** The restore_command the restored server runs (`%f` and `%p` in it). */
  restoreCommand: string;
  /** The spool of asynchronous restores, made in the data directory with its restore_command script (restore-script.ts). */
  spool?: { dir: string; script: string };
  owner?: string;
  /**
   * A verification's restore (a drill's): the base checked as `backup verify` checks it, the plaintext's SHA-256 against the
   * manifest and every file against backup_manifest besides the stored file's SHA-256; a restore holds the stored file alone.
   */
  verify?: boolean;
  /** Turn archiving off in the restored cluster (a scratch or drill restore must not write into the production archive). */
  noArchive?: boolean;
}

/**
 * Why a restore refuses a WAL file under this manifest, as read by readManifests (which refuses one moved from another name),
 * or null: the one judgment every reader of the archive makes (walManifestRefusal).
 */
function refusal(m: BackupManifest | Error | undefined, keys: ReadKeys): string | null {
  return walManifestRefusal(m, keys.signers)?.message ?? null;
}

/** A value for postgresql.auto.conf: single-quoted, quotes doubled, backslashes escaped. */
export const confValue = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

/** A word for /bin/sh: bare when safe, else single-quoted. */
export const shellWord = (s: string) => (/^[A-Za-z0-9_/.,:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

async function ownerOf(user: string): Promise<Account> {
  let account: Account;
  try {
    account = await accountOf(user);
  } catch {
    throw new VaultError('not-found', `no user ${JSON.stringify(user)} on this host`);
  }
  const { uid } = account;
  // Checked before anything is written: only root gives files away.
  const me = process.getuid?.();
  if (me !== undefined && me !== 0 && me !== uid)
    throw new VaultError('usage', `the data directory cannot be given to ${user}: only root can give files to another user`);
  return account;
}

function checkEmptyDir(dir: string): void {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return;
  }
  if (!st.isDirectory()) throw new VaultError('usage', `${dir} is not a folder`);
  const inside = readdirSync(dir);
  if (inside.length)
    throw new VaultError(
      'exists',
      `${dir} is not empty (${inside.slice(0, 3).join(', ')}${inside.length > 3 ? ', …' : ''}): a restore writes only into an empty data directory`,
      {
        code: 'restore-datadir-not-empty',
      },
    );
}

export async function planPitr(repo: Repo, base: BackupManifest, keys: ReadKeys, o: PlanOptions): Promise<PitrPlan> {
  const name = `${base.component}/${base.file}`;
  if (base.kind !== 'postgres-base' || !base.component.startsWith(`${BASE_KIND}/`)) throw new VaultError('usage', `${name} is not a base backup`);
  const cluster = base.component.slice(BASE_KIND.length + 1);
  const sig = checkSignature(base, keys.signers);
  if (!sig.ok) throw new VaultError('integrity', `${name}: ${sig.message}: it is not restored`, { code: 'backup-untrusted' });
  if (base.verification && !base.verification.ok)
    throw new VaultError('verify-failed', `${name}: its last verification failed (${base.verification.message}): it is not restored`, {
      code: 'backup-failed-verification',
    });
  if (!keys.identities.some((k) => k.keyId === base.keyId))
    throw new VaultError('wrong-key', `the keys given do not hold backup key ${base.keyId}, which ${name} needs`, { code: 'backup-key-gone' });
  for (const k of ['timeline', 'startLsn', 'stopLsn', 'systemId'])
    if (!base.source[k]) throw new VaultError('integrity', `${name}: its manifest does not record the base backup's ${k}`);
  // Paths in their one form (no trailing slash, no `..`): the spool is recognized in the data directory however either was spelled.
  const dataDir = resolve(o.dataDir);
  checkEmptyDir(dataDir);
  const t = o.target;
  if ([t.time, t.lsn, t.name].filter((x) => x !== undefined).length > 1) throw new VaultError('usage', 'one recovery target at most: a time, an LSN or a name');
  const warnings: string[] = [];
  const archive = await loadArchive(repo, cluster, keys);
  if (archive.info.systemId !== base.source.systemId)
    throw new VaultError(
      'integrity',
      `${name} is of the cluster with system identifier ${base.source.systemId}; the archive of ${cluster} holds ${archive.info.systemId}'s`,
    );
  const ref = { timeline: Number(base.source.timeline), startLsn: base.source.startLsn!, stopLsn: base.source.stopLsn! };
  const whole = continuity(archive.view, ref);
  warnings.push(...archive.problems.map((p) => `${p.name} is not used: ${p.message}`), ...whole.problems);
  // The WAL recovery would read, under manifests a restore takes: the first segment under one it refuses (unreadable, or signed
  // by no trusted host) stops the recovery as a missing one would, so the plan ends there too, and says why (verify.ts alike).
  const manifests = await readManifests(repo, cluster, whole.segments);
  const stop = whole.segments.findIndex((n) => refusal(manifests.get(n), keys) !== null);
  const c: Continuity = stop < 0 ? whole : { ...whole, segments: whole.segments.slice(0, stop), missing: whole.segments[stop]! };
  const gap =
    c.missing &&
    (stop < 0
      ? `WAL segment ${c.missing} is missing from the archive`
      : `WAL segment ${c.missing} cannot be used (${refusal(manifests.get(c.missing), keys)})`);
  const segno = (n: string) => (parseWalName(n, archive.info.segmentSize) as Extract<WalFile, { kind: 'segment' }>).segno;
  const ownEnd = segnoOf(parseLsn(ref.stopLsn), archive.info.segmentSize);
  if (!whole.baseWhole || (stop >= 0 && segno(c.missing!) <= ownEnd))
    throw new VaultError(
      'verify-failed',
      `${name} cannot be restored: ${gap}, which is of its own WAL, from its start (${ref.startLsn}) to its end (${ref.stopLsn})`,
      { code: 'wal-gap' },
    );
  let through: string;
  if (t.lsn !== undefined) {
    const lsn = parseLsn(t.lsn);
    if (lsn < parseLsn(ref.stopLsn))
      throw new VaultError('usage', `target LSN ${t.lsn} is before the end of ${name} (${ref.stopLsn}): use an older base backup`, {
        code: 'pitr-before-base',
      });
    const want = segnoOf(lsn, archive.info.segmentSize);
    const have = c.segments.find((s) => segno(s) === want);
    if (!have)
      throw new VaultError(
        'verify-failed',
        gap
          ? `a recovery to ${formatLsn(lsn)} cannot reach it: ${gap}`
          : `the archive does not reach ${formatLsn(lsn)} yet (its newest segment is ${c.newest})`,
        { code: 'wal-gap' },
      );
    through = have;
  } else if (t.time !== undefined) {
    if (t.time.getTime() < Date.parse(base.startedAt))
      throw new VaultError('usage', `target time ${t.time.toISOString()} is before ${name} was made (${base.startedAt}): use an older base backup`, {
        code: 'pitr-before-base',
      });
    if (t.time.getTime() < Date.parse(base.finishedAt))
      warnings.push(
        `target time ${t.time.toISOString()} falls while ${name} was being made (${base.startedAt} to ${base.finishedAt}): PostgreSQL refuses a target before the backup's end (${ref.stopLsn}); if it does, choose a later time or an older base backup`,
      );
    // The first segment archived after the target holds the WAL written at the target (each one here under a trusted manifest).
    const pushed = (s: string) => Date.parse((manifests.get(s) as BackupManifest).finishedAt);
    const after = c.segments.find((s) => pushed(s) >= t.time!.getTime());
    if (!after) {
      const last = c.segments[c.segments.length - 1]!;
      const lastAt = (manifests.get(last) as BackupManifest).finishedAt;
      throw new VaultError(
        'verify-failed',
        gap
          ? `a recovery to ${t.time.toISOString()} cannot reach it: ${gap}, so nothing after about ${lastAt} (when ${last} was archived) can be recovered`
          : `the archive does not reach ${t.time.toISOString()} yet: its newest segment ${last} was archived at ${lastAt}`,
        { code: gap ? 'wal-gap' : 'wal-not-yet' },
      );
    }
    through = after;
  } else {
    // A named restore point, or the end of the archive: recovery reads all of it. wal-fetch never lets a gap pass for the end of
    // the archive (recovery would end early and promote there without a word): the server stops with an error at it.
    through = c.segments[c.segments.length - 1]!;
    if (gap && t.name === undefined)
      throw new VaultError(
        'verify-failed',
        `${gap}: a recovery to the end of the archive would stop there, the server with an error; the last WAL it can replay is ${through} (archived at ${(manifests.get(through) as BackupManifest).finishedAt})`,
        { code: 'wal-gap' },
      );
    if (gap)
      warnings.push(
        `${gap}: a recovery reaches restore point ${JSON.stringify(t.name)} only if it was made before ${c.missing} (in ${through} or earlier); past it, the server stops with an error there`,
      );
  }
  // Every recovery target is set, the unused ones empty and first: a base backup of a server that was itself restored may carry
  // another restore's targets in its postgresql.auto.conf (PostgreSQL ignores them outside recovery); the last line of a setting
  // wins, and PostgreSQL refuses a second target while one is set, so the chosen one comes after the others are cleared.
  const targets: [string, string | undefined][] = [
    ['recovery_target', undefined],
    ['recovery_target_xid', undefined],
    ['recovery_target_time', t.time ? t.time.toISOString().replace('T', ' ').replace('Z', '+00') : undefined],
    ['recovery_target_lsn', t.lsn ? formatLsn(parseLsn(t.lsn)) : undefined],
    ['recovery_target_name', t.name],
  ];
  const settings: [string, string][] = [
    ['restore_command', confValue(o.restoreCommand)],
    ['recovery_target_timeline', confValue(String(c.timeline))],
    ...targets.filter(([, v]) => v === undefined).map(([k]): [string, string] => [k, confValue('')]),
    ...targets.filter(([, v]) => v !== undefined).map(([k, v]): [string, string] => [k, confValue(v!)]),
    ['recovery_target_action', confValue(t.action)],
    ['recovery_target_inclusive', confValue(t.exclusive ? 'off' : 'on')],
  ];
  if (o.noArchive) settings.push(['archive_mode', confValue('off')]);
  return {
    base,
    cluster,
    dataDir,
    ...(o.owner ? { owner: await ownerOf(o.owner) } : {}),
    target: t,
    continuity: c,
    through,
    settings,
    archive: !o.noArchive,
    ...(o.spool ? { spool: { dir: resolve(o.spool.dir), script: o.spool.script } } : {}),
    verify: o.verify === true,
    warnings,
  };
}

/** A stored base backup that is not the one its signed manifest describes: refused, and nothing of it left in the data directory. */
const notTheBackup = (name: string, why: string) =>
  new VaultError('verify-failed', `${name} is not the backup its manifest describes (${why}): nothing was restored`);

const HEADER_DIFFERS = "its header's SHA-256 differs";

/** What is read of the stored base backup's start for its header before anything is written (an X25519 header is about 200 bytes). */
const HEAD = 64 << 10;

/**
 * The stored file's header and payload nonce held to the manifest's signed `ciphertext.headerSha256` (docs/FORMAT.md, "Backup
 * manifest"): `head` is the file's first bytes, `whole` whether they are all of it. Held before anything is written, it refuses
 * another age file, any damage to the header and any accidental damage up front (a payload that does not authenticate under
 * the key it fixes fails at its first bad chunk). It does not stand for the whole file: anyone holding the backup key can
 * re-encrypt an edited payload under the same header and nonce, so the restore hashes the whole stored file in the same pass
 * and holds it to the signed SHA-256 before the restore counts (docs/THREAT-MODEL.md, "The WAL archive").
 */
function holdHead(name: string, head: Uint8Array, whole: boolean, want: string): void {
  let end = -1;
  try {
    const h = parseHeader(head, whole);
    if (h) end = h.length + NONCE_SIZE;
  } catch {
    /* not an age header: not the one backed up */
  }
  if (end < 0 || head.length < end || createHash('sha256').update(head.subarray(0, end)).digest('hex') !== want) throw notTheBackup(name, HEADER_DIFFERS);
}

/**
 * The stored base backup opened (a remote one fetched first, still encrypted), its descriptor read straight into the decryption's
 * slots; held, before anything is written, to its manifest's size and, where the manifest records it, to its header's digest.
 */
async function pin(repo: Repo, m: BackupManifest): Promise<{ fd: number; close: () => void }> {
  const d = componentDest(repo, m.component);
  let path = d.localPath(m.file) ?? '';
  let cleanup: () => void = () => {};
  if (!path) {
    const dir = mkdtempSync(join(tmpdir(), 'vault-tool-restore-'));
    cleanup = () => rmSync(dir, { recursive: true, force: true });
    path = join(dir, 'base.age');
    try {
      await pipeline(openFile(repo, m.component, m.file), createWriteStream(path, { mode: 0o600, flags: 'wx' }));
    } catch (e) {
      cleanup();
      throw e;
    }
  }
  const fd = openSync(path, 'r');
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    closeSync(fd);
    cleanup();
  };
  try {
    const name = `${m.component}/${m.file}`;
    if (fstatSync(fd).size !== m.ciphertext.size) throw notTheBackup(name, 'its size differs');
    const want = m.ciphertext.headerSha256;
    if (want) {
      const b = Buffer.alloc(Math.min(HEAD, m.ciphertext.size));
      const n = readSync(fd, b, 0, b.length, 0);
      holdHead(name, b.subarray(0, n), n === m.ciphertext.size, want);
    }
  } catch (e) {
    close();
    throw e;
  }
  return { fd, close };
}

/**
 * Whether a restore holds every file of the base to backup_manifest's SHA-256 as tar writes it: always when it verifies (a
 * drill's), otherwise only when the signed manifest records no passed verification. Once it does, the stored file held to the
 * manifest's SHA-256 and sizes (matches, at the end of the same pass, before the restore counts) and decrypted with every chunk
 * authenticated is byte for byte the tar that passed that check when the backup was made (the manifest's `verification`, signed
 * with the rest), and hashing it file by file again would only repeat it; the structure is still read (the archive ends,
 * backup_manifest's own checksum, backup_label, pg_control).
 */
export const fileChecksums = (m: BackupManifest, verify = false): boolean => verify || m.verification?.ok !== true;

/**
 * Why the stored file is not the one its signed manifest describes, or null: its whole SHA-256 (hashed as it was decrypted) and
 * size, the plaintext's size, and with `verify` the plaintext's SHA-256 too (as `backup verify` holds it). The header's digest
 * does not stand for the rest of the file (holdHead).
 */
function mismatch(c: Consumed, m: BackupManifest, verify: boolean): string | null {
  if (c.ciphertext.size !== m.ciphertext.size) return 'its size differs';
  if (c.ciphertext.sha256 !== m.ciphertext.sha256) return 'its stored bytes differ from the signed SHA-256';
  if (c.plaintext.size !== m.plaintext.size || (verify && c.plaintext.sha256 !== m.plaintext.sha256))
    return 'its decrypted data differs from the signed SHA-256';
  return null;
}

/**
 * What tar leaves out of the data directory: the spool's name always (a base backup of a server that was itself restored holds
 * that server's spool, whose files, its restore.sh and where its recovery was, are not this restore's), and this restore's own
 * spool's name where it is in the data directory under another. Both paths are resolved in the plan.
 */
const leftOut = (plan: PitrPlan): string[] =>
  plan.spool && dirname(plan.spool.dir) === plan.dataDir && basename(plan.spool.dir) !== SPOOL ? [SPOOL, basename(plan.spool.dir)] : [SPOOL];

function chownTree(path: string, uid: number, gid: number): void {
  // The link itself, never what it names: a tablespace link (pg_tblspc) points outside the data directory.
  lchownSync(path, uid, gid);
  if (lstatSync(path).isDirectory()) for (const n of readdirSync(path)) chownTree(join(path, n), uid, gid);
}

/**
 * Carries out a plan: the data directory written, ready for PostgreSQL to
 * start and recover. Where the vault is open (`vault`), the restore is
 * recorded in the evidence log first, so a restore of data never goes
 * unrecorded, whether it completes or not. A failure at any step after the
 * first write (the base not the signed one, a write that fails) removes
 * everything written: folders the restore made go, and a folder given
 * (empty) is left empty, with its mode and owner: nothing is left that
 * looks like a restored data directory.
 */
export async function executePitr(
  repo: Repo,
  plan: PitrPlan,
  keys: ReadKeys,
  env: Env,
  now: Date,
  vault?: { paths: VaultPaths; store: StoreOptions },
  onProgress?: OnProgress,
): Promise<{ dataDir: string; files: number }> {
  const m = plan.base;
  const name = `${m.component}/${m.file}`;
  const key = keys.identities.find((k) => k.keyId === m.keyId)!;
  checkEmptyDir(plan.dataDir);
  if (vault) {
    const d = describePlan(plan);
    await updateVault(vault.paths, vault.store, (doc) =>
      changed(recordEvidence(doc, 'backup.restore', { backup: d.base, into: plan.dataDir, target: d.target, repo: repo.dest.spec, through: d.through }, now)),
    );
  }
  const file = await pin(repo, m);
  const pinned = m.ciphertext.headerSha256;
  let made: string[] = [];
  let given: { mode: number; uid: number; gid: number } | undefined;
  let writing = false;
  let spool: FetchSpool | undefined;
  /** A spool outside the data directory that this restore made (removed with the rest on a failure; one given keeps the rest). */
  let spoolMade: string | undefined;
  let placing: Promise<string[]> | undefined;
  /** Files this restore wrote at the top of the spool. */
  const wrote: string[] = [];
  try {
    made = makeDirs(plan.dataDir);
    writing = true;
    // An empty folder given: PostgreSQL wants it 0700 (its mode and owner put back on a failure).
    if (!made.length) {
      const st = statSync(plan.dataDir);
      given = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      if ((st.mode & 0o077) !== 0) chmodSync(plan.dataDir, 0o700);
    }
    if (plan.spool) {
      // The spool first (tar leaves its name out: leftOut), and the first segments the recovery reads fetched into it while tar
      // writes the base, beside it: done after the pass, they were a wait of their own (bench/README.md).
      if (dirname(plan.spool.dir) !== plan.dataDir && !exists(plan.spool.dir)) spoolMade = plan.spool.dir;
      const sp = openFetchSpool(plan.spool.dir);
      spool = sp;
      writeFileSync(join(sp.root, SCRIPT), plan.spool.script, { mode: 0o600, flag: 'wx' });
      wrote.push(SCRIPT);
      // Where a prefetcher starts before restore_command has fetched a segment itself: the first the recovery reads.
      setFirst(sp, plan.continuity.segments[0]!);
      wrote.push('first');
      // And where it stops: the recovery reaches its target in `through`; PostgreSQL asks for anything after it itself.
      setLast(sp, plan.through);
      wrote.push('last');
      placing = placeFirst(repo, plan, keys, sp);
    }
    // One pass: decrypted (only authenticated bytes go on), the stored file hashed whole, the tar checked against
    // backup_manifest and written by tar as it goes; the stored file held to its signed SHA-256 at the end of the pass.
    const checked = await consume(
      file.fd,
      [key.identity],
      {
        kind: 'sink',
        label: `backup_manifest's check and tar -x into ${plan.dataDir}`,
        // Every file's SHA-256 against backup_manifest when verifying, or when no passed verification is recorded (fileChecksums).
        start: () => checkAndExtract(plan.dataDir, env, fileChecksums(m, plan.verify), leftOut(plan)),
      },
      {
        plaintextSha256: plan.verify,
        ciphertextSha256: true,
        // The header's digest held again on the very bytes decrypted (pin held a read of them before anything was written).
        ...(pinned ? { checkHead: (head: Uint8Array) => holdHead(name, head, true, pinned) } : {}),
        onBytes: counter(onProgress, { item: name, phase: 'restoring (tar -x, checked against backup_manifest)', total: m.ciphertext.size }),
      },
    ).catch((e: unknown) => {
      // Under the header its manifest names, a payload that does not open in full was altered.
      if (pinned && e instanceof AgeError && e.failure === 'payload')
        throw new VaultError(
          'integrity',
          `${name} is not the backup its manifest describes (its payload does not authenticate: ${e.message}): nothing was restored`,
        );
      throw e;
    });
    file.close();
    const why = mismatch(checked, m, plan.verify);
    if (why) throw notTheBackup(name, why);
    const wal = join(plan.dataDir, 'pg_wal');
    makeDir(wal, 0o700, true);
    makeDir(join(wal, 'archive_status'), 0o700, true);
    writeFileSync(join(plan.dataDir, 'recovery.signal'), '', { mode: 0o600 });
    const placed = (await placing) ?? [];
    appendFileSync(
      join(plan.dataDir, 'postgresql.auto.conf'),
      [
        '',
        `# vault-tool point-in-time restore of ${name} at ${now.toISOString()}: remove these lines after the recovery`,
        ...plan.settings.map(([k, v]) => `${k} = ${v}`),
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    if (plan.owner) chownTree(plan.dataDir, plan.owner.uid, plan.owner.gid);
    // Recorded once given away (a change of owner changes ctime): restore_command hands over only the files so named.
    if (spool) recordPlaced(spool, placed);
  } catch (e) {
    // Nothing half-written is left for PostgreSQL to start on (the segments being placed, written first: placeFirst never fails).
    const placedBefore = (await placing) ?? [];
    if (spoolMade) rmSync(spoolMade, { recursive: true, force: true });
    else if (spool && dirname(spool.root) !== plan.dataDir)
      // A spool given outside the data directory: what this restore wrote into it goes, the rest stays.
      for (const n of [...wrote, ...placedBefore.map((p) => join('in', p))]) rmSync(join(spool.root, n), { force: true });
    if (writing) {
      for (const n of made.length ? [made[0]!] : readdirSync(plan.dataDir).map((x) => join(plan.dataDir, x))) rmSync(n, { recursive: true, force: true });
      if (given) {
        chmodSync(plan.dataDir, given.mode);
        if (plan.owner) lchownSync(plan.dataDir, given.uid, given.gid);
      }
    }
    throw e;
  } finally {
    file.close();
  }
  // The prefetcher started now, as the server's user, rather than at the recovery's first ask: its start (node, the keys, the
  // worker threads) and the next segments are done while the server starts. Not started (no sh, a failed start): the script
  // starts one at the first file it does not find, as it would anyway.
  if (spool) await startPrefetcher(join(spool.root, SCRIPT), env, plan.owner);
  return { dataDir: plan.dataDir, files: readdirSync(plan.dataDir).length };
}

/**
 * Runs `restore.sh --prefetch` (restore-script.ts), which starts the prefetcher in its own session and returns at once. It
 * outlives the restore, as the data directory's owner when that is another user: its environment is an allow-list
 * (envForProcess: PATH, the locale, TZ, vault-tool's and rclone's non-secret settings), HOME and USER the owner's, never the
 * restore's own (a passphrase, a cloud credential); its folder the spool.
 */
async function startPrefetcher(script: string, env: Env, owner: PitrPlan['owner']): Promise<void> {
  const other = owner && process.getuid?.() === 0 && owner.uid !== 0;
  const childEnv = envForProcess(env, BACKGROUND_SETTINGS, other ? owner : undefined);
  // Never a failure of the restore, which is written in full by now: a start that throws is one not made.
  await new Promise<void>((res) => {
    try {
      // As the owner with the owner's groups (setpriv --init-groups): spawn's uid and gid alone drop the supplementary ones, by
      // which a repository or identity file may be readable.
      const sh = spawn(...commandAs(other ? owner : undefined, 'sh', [script, PREFETCH]), { env: childEnv, cwd: dirname(script), stdio: 'ignore' });
      sh.on('error', () => res());
      sh.on('close', () => res());
    } catch {
      res();
    }
  });
}

/**
 * Segments the restore puts in the spool itself, which the server reads first while the prefetcher the restore starts last
 * gets going (node's start, its keys, its worker threads): about what the server replays in that time (bench/README.md).
 */
const PLACED = 4;

/**
 * The first segments the recovery reads, fetched and checked in full as a
 * prefetcher does (two at a time, on worker threads), into the spool's in/;
 * placed in order, up to the first that cannot be (absent, or failing a
 * check: left to restore_command, whose answer PostgreSQL acts on). Never
 * fails: a segment not placed is one restore_command fetches.
 */
async function placeFirst(repo: Repo, plan: PitrPlan, keys: ReadKeys, spool: FetchSpool): Promise<string[]> {
  const segs = plan.continuity.segments;
  const last = segs.indexOf(plan.through);
  const names = segs.slice(0, Math.min(PLACED, last < 0 ? segs.length : last + 1));
  const placed: string[] = [];
  let pool: ReturnType<typeof openPool> | undefined;
  try {
    pool = openPool(2);
    const p = pool;
    const results = await Promise.all(
      names.map((n) => {
        const tmp = join(spool.tmp, n);
        return fetchToFile(repo, plan.cluster, n, keys, p, tmp).then(
          (r) => ({ n, tmp, ok: r.status === 'restored' }),
          () => ({ n, tmp, ok: false }),
        );
      }),
    );
    for (const r of results) {
      if (!r.ok || placed.length < results.indexOf(r)) {
        rmSync(r.tmp, { force: true });
        continue;
      }
      renameSync(r.tmp, join(spool.in, r.n));
      placed.push(r.n);
    }
  } catch {
    // What was placed stays; restore_command fetches the rest.
  } finally {
    await pool?.close().catch(() => undefined);
  }
  return placed;
}

/**
 * A base backup's tar stream, checked against its backup_manifest (with
 * `checksums`, every file's size and SHA-256, nothing missing or extra;
 * always, that it is a whole base backup) while `tar -x` writes it, as a sink of the decryption's own buffers: each buffer goes to tar
 * first and is checked while tar writes it; a check that fails stops tar at
 * once and fails the read. The verdict: the check passed over the whole
 * stream and tar exited 0. `leave`: names at the top of the data
 * directory tar does not write (a spool, this restore's made after it),
 * though the check reads whatever the stream holds under them.
 */
function checkAndExtract(dir: string, env: Env, checksums: boolean, leave: string[]): Started {
  const reader = new BaseReader(checksums);
  // The names `leave` at the top, and everything under them, are not extracted (the member names in tar's own form: no leading ./).
  const skip = leave.length ? ['--anchored', '--no-wildcards', ...leave.map((n) => `--exclude=${n}`)] : [];
  // Records of 1 MiB, each read in full from the pipe (-B): a fifth less of tar's system time than its default 10 KiB reads.
  const tar = spawn('tar', ['-x', '-f', '-', '-b', '2048', '-B', '-C', dir, '--no-same-owner', '--keep-old-files', ...skip], {
    env: env as NodeJS.ProcessEnv,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  tar.stderr!.setEncoding('utf8');
  tar.stderr!.on('data', (c: string) => (stderr = (stderr + c).slice(-2048)));
  const toTar = streamSink(tar.stdin!);
  const exited = new Promise<number | null>((res, rej) => {
    tar.on('error', (e) =>
      rej(
        (e as NodeJS.ErrnoException).code === 'ENOENT'
          ? new VaultError('not-found', 'tar is not installed', { code: 'tool-missing', data: { tool: 'tar' } })
          : e,
      ),
    );
    tar.on('close', (code) => res(code));
  });
  const kill = () => tar.kill('SIGKILL');
  const done = exited.then((code) => {
    if (code !== 0)
      throw new VaultError('backup-failed', `tar -x into ${dir} failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join('; ') || 'no message'}`);
  });
  const sink: Sink = {
    async write(buf) {
      const written = toTar.write(buf);
      try {
        reader.push(buf);
      } catch (e) {
        kill();
        written.catch(() => undefined);
        throw e;
      }
      await written;
    },
    async end() {
      try {
        reader.finish();
      } catch (e) {
        kill();
        throw e;
      }
      await toTar.end();
      await done;
    },
    fail: (e) => {
      kill();
      toTar.fail(e);
    },
  };
  return { sink, done, kill };
}

export const describePlan = (p: PitrPlan) => ({
  base: `${p.base.component}/${p.base.file}`,
  dataDir: p.dataDir,
  timeline: p.continuity.timeline,
  chain: describeChain(p.continuity.chain),
  from: p.continuity.segments[0],
  through: p.through,
  newest: p.continuity.newest,
  target: {
    ...(p.target.time ? { time: p.target.time.toISOString() } : {}),
    ...(p.target.lsn ? { lsn: p.target.lsn } : {}),
    ...(p.target.name ? { name: p.target.name } : {}),
    action: p.target.action,
  },
  owner: p.owner?.user,
  archive: p.archive,
  warnings: p.warnings,
});
