import { shellWord } from '../errors/shell.js';
import { readdirSync, statSync } from 'node:fs';
import { VaultError, type ErrorDetail } from '../errors/errors.js';
import { acquireLock } from '../fs/lock.js';
import { checkWritableTarget, removeQuietly, sweepTempFiles, writeFileAtomic } from '../fs/atomic.js';
import { exists } from '../fs/dirs.js';
import { LIMITS, readFileCapped } from '../fs/read.js';
import { DEFAULT_LOG_N } from '../age/index.js';
import { formatKeyFile, isProtectedKeyFile, newKeyPath, newVaultKey, openKeyFile, protectKeyFile, type PassphraseSource, type VaultKey } from './keyfile.js';
import { newDocument, type VaultDocument } from './document.js';
import { openVault, peekVault, sealVault, type VaultMeta } from './container.js';
import { checkCopy, LINEAGE_LENGTH, loadSeen, recordSeen } from './state.js';
import { appendPrepared, evidenceHead, logAhead, planRepair, prepareAppend, recordEvidence, rolledBackName, startSegment } from './evidence.js';
import { basename, dirname, join } from 'node:path';
import { sweepStaging } from './staging.js';
import { stagePendingEvidence } from './pending-evidence.js';
import { takeDeferred } from './deferred.js';
import { vaultPaths as resolvePaths } from './paths.js';

export interface VaultPaths {
  vaultFile: string;
  keyFile: string;
}

export interface StoreOptions {
  getPassphrase?: PassphraseSource;
  /** Where the copies seen on this machine are remembered; no rollback check without it. */
  stateFile?: string;
  /** Refuse (instead of warn about) reading a vault copy older than, or forked from, one seen before. */
  strict?: boolean;
  /** Write to a copy older than (or forked from) one seen before: a deliberate rollback. */
  allowRollback?: boolean;
  onWarning?: (message: string) => void;
  lockTimeoutMs?: number;
  /** A key already in memory (recovered from shares in a drill): used instead of reading the key file, which is never touched. */
  key?: VaultKey;
  now?: () => Date;
  /**
   * After a write that added entry versions or removed entries (whether the
   * command was asked to, or did it on the way: the first backup makes the
   * backup key), with what changed and the document as written: copies of
   * the vault made before now lack the added versions.
   */
  onEntriesChanged?: (change: EntriesChange, doc: VaultDocument) => void;
  /**
   * Lines of the pending evidence beside the key file that this run wrote
   * itself (escrow combine carrying its own record in): carried without the
   * notice every other carried record gets.
   */
  ownPending?: string[];
}

/** Entry versions a write added (`name@version`) and entries it removed for good (purged). */
export interface EntriesChange {
  added: string[];
  purged: string[];
}

const versionCounts = (doc: VaultDocument) => new Map(doc.entries.map((e) => [e.name, e.versions.length]));

function entriesChange(before: Map<string, number>, doc: VaultDocument): EntriesChange {
  const added: string[] = [];
  const present = new Set<string>();
  for (const e of doc.entries) {
    present.add(e.name);
    for (const v of e.versions.slice(before.get(e.name) ?? 0)) added.push(`${e.name}@${v.version}`);
  }
  return { added, purged: [...before.keys()].filter((n) => !present.has(n)) };
}

export interface OpenedVault {
  doc: VaultDocument;
  key: VaultKey;
  meta: VaultMeta & { header: string };
}

export { resolvePaths };

const nowOf = (opts: StoreOptions) => (opts.now ?? (() => new Date()))();

/** Refuses a key file that group or others can read, naming the chmod to run. */
export function checkKeyFilePermissions(keyFile: string): void {
  let mode: number;
  try {
    const st = statSync(keyFile);
    // A folder, a pipe or a device is refused by the read, in its own words: never a chmod of /tmp.
    if (!st.isFile()) return;
    mode = st.mode;
  } catch {
    return; // readFileCapped reports the missing file precisely
  }
  if (mode & 0o077) {
    throw new VaultError(
      'insecure-permissions',
      `key file ${keyFile} is accessible by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`,
      `run: chmod 600 ${shellWord(keyFile)}`,
    );
  }
}

const REKEY_HINT: ErrorDetail = { code: 'rekey-in-progress', hint: 'a rekey is in progress: the new key is in <key file>.new' };

export async function loadKey(keyFile: string, opts: StoreOptions = {}): Promise<VaultKey> {
  if (opts.key) return opts.key;
  checkKeyFilePermissions(keyFile);
  let data: Buffer;
  try {
    data = readFileCapped(keyFile, 'key file', LIMITS.keyFile);
  } catch (e) {
    if (e instanceof VaultError && e.kind === 'not-found' && exists(newKeyPath(keyFile))) throw new VaultError('not-found', e.message, REKEY_HINT);
    if (e instanceof VaultError && e.kind === 'not-found') throw new VaultError('not-found', e.message, { code: 'key-file-missing', data: { keyFile } });
    throw e;
  }
  return openKeyFile(data, opts.getPassphrase);
}

export function readVaultFile(vaultFile: string): Buffer {
  return readFileCapped(vaultFile, 'vault file', LIMITS.vaultFile);
}

function open(paths: VaultPaths, file: Buffer, key: VaultKey): OpenedVault {
  try {
    const { doc, meta } = openVault(file, key.identity, key.keyId);
    return { doc, key, meta };
  } catch (e) {
    if (e instanceof VaultError && e.kind === 'wrong-key' && exists(newKeyPath(paths.keyFile))) throw new VaultError('wrong-key', e.message, REKEY_HINT);
    const replaced = e instanceof VaultError && e.kind === 'wrong-key' ? newestReplaced(paths.keyFile) : null;
    if (replaced)
      throw new VaultError('wrong-key', (e as VaultError).message, {
        code: 'wrong-key-replaced',
        hint: `the key file was replaced from shares; the key it replaced is kept as ${replaced}`,
        data: { keptAside: replaced, keyFile: paths.keyFile },
      });
    throw e;
  }
}

/** The newest `<key file>.replaced-<time>` beside the key file (escrow combine keeps a replaced key so), or null. */
function newestReplaced(keyFile: string): string | null {
  let names: string[];
  try {
    names = readdirSync(dirname(keyFile));
  } catch {
    return null;
  }
  const prefix = basename(keyFile) + '.replaced-';
  const found = names.filter((n) => n.startsWith(prefix)).sort();
  return found.length ? join(dirname(keyFile), found[found.length - 1]!) : null;
}

type CopyStatus = 'new' | 'same' | 'newer' | 'stale' | 'fork' | 'undetermined' | 'unknown';

interface SeenCheck {
  status: CopyStatus;
  /** What this machine remembered, when the copy is not the same or a descendant of it. */
  seen?: { generation: number; header?: string };
}

/**
 * Compares the copy with what this machine has seen. Reading a stale or
 * forked copy warns (refused with `strict`); writing to one is refused unless
 * `allowRollback`. An unreadable state file is an error under `strict`, a
 * warning otherwise.
 */
async function checkSeen(paths: VaultPaths, o: OpenedVault, opts: StoreOptions, mode: 'read' | 'write'): Promise<SeenCheck> {
  if (!opts.stateFile) return { status: 'unknown' };
  let seen;
  try {
    seen = loadSeen(opts.stateFile).vaults[o.meta.vaultId];
  } catch (e) {
    if (opts.strict) throw e;
    opts.onWarning?.(`${(e as VaultError).message}${(e as VaultError).hint ? ` (${(e as VaultError).hint})` : ''}`);
    return { status: 'unknown' };
  }
  const c = checkCopy(seen, { vaultId: o.meta.vaultId, generation: o.meta.generation, header: o.meta.header, lineage: o.doc.lineage });
  if (c.status === 'stale' || c.status === 'fork' || c.status === 'undetermined') {
    const seenCopy = { generation: c.seen.generation, ...(c.seen.header ? { header: c.seen.header } : {}) };
    if (mode === 'write') {
      if (!opts.allowRollback) {
        throw new VaultError('rollback', `refusing to write: ${c.message}`, { code: 'rollback-write' });
      }
      opts.onWarning?.(`going on from this copy (a rollback, as asked): ${c.message}`);
      return { status: c.status, seen: seenCopy };
    }
    if (opts.strict) throw new VaultError('rollback', c.message, { code: 'rollback-read' });
    opts.onWarning?.(c.message);
    return { status: c.status, seen: seenCopy };
  }
  if (mode === 'read' && c.status !== 'same') await remember(paths, o.meta, opts, false);
  return { status: c.status };
}

async function remember(paths: VaultPaths, meta: { vaultId: string; generation: number; header: string }, opts: StoreOptions, replace: boolean): Promise<void> {
  if (!opts.stateFile) return;
  const err = await recordSeen(opts.stateFile, meta.vaultId, { generation: meta.generation, header: meta.header, path: paths.vaultFile }, nowOf(opts), replace);
  if (err) opts.onWarning?.(err);
}

/** A missing key file, said with whether its vault is there (a lost key, or no vault made here yet). */
function keyMissingHere(e: unknown, paths: VaultPaths): unknown {
  if (!(e instanceof VaultError) || e.code !== 'key-file-missing') return e;
  return new VaultError('not-found', e.message, {
    code: 'key-file-missing',
    data: { keyFile: paths.keyFile, vault: exists(paths.vaultFile) ? 'here' : 'absent' },
  });
}

/** Opens and fully authenticates the vault; the key file is checked first. */
export async function readVault(paths: VaultPaths, opts: StoreOptions = {}, key?: VaultKey): Promise<OpenedVault> {
  paths = resolvePaths(paths);
  let k: VaultKey;
  try {
    k = key ?? (await loadKey(paths.keyFile, opts));
  } catch (e) {
    throw keyMissingHere(e, paths);
  }
  // Temp files a killed writer left may hold secrets (a key being written): any run removes them.
  sweepTempFiles(paths.vaultFile, paths.keyFile, newKeyPath(paths.keyFile));
  const o = open(paths, readVaultFile(paths.vaultFile), k);
  sweepStaged(opts, o.doc);
  await checkSeen(paths, o, opts, 'read');
  return o;
}

/**
 * Refuses, without writing, what a write to this opened copy would refuse: a
 * copy older than (or forked from) one this machine has seen, without
 * `allowRollback` (rollback-write). For a plan that writes to the vault
 * later (the drill's evidence record), so that its dry run says so.
 */
export async function checkWritable(paths: VaultPaths, o: OpenedVault, opts: StoreOptions = {}): Promise<void> {
  await checkSeen(resolvePaths(paths), o, opts, 'write');
}

/**
 * Removes what killed runs staged (shares in plain text) and, knowing the
 * vault, the share files they placed but the vault never recorded; says so.
 */
export function sweepStaged(opts: StoreOptions, doc?: VaultDocument): void {
  if (!opts.stateFile) return;
  const r = sweepStaging(opts.stateFile, doc);
  for (const x of r.removed) {
    opts.onWarning?.(
      `removed ${x.files} files in ${x.outDir} of share set ${x.setId}, which an interrupted run placed and the vault never recorded (nobody received those shares)`,
    );
  }
}

/** Seals and writes the document as it is (no generation step, no checks): for init and tests. */
export function writeVault(paths: VaultPaths, doc: VaultDocument, opts: { exclusive?: boolean } = {}): Buffer {
  const sealed = sealVault(doc);
  writeFileAtomic(paths.vaultFile, sealed, opts);
  return sealed;
}

/**
 * Runs `f` under the vault's exclusive lock, after sweeping the temp files
 * killed writers left beside the vault and its key files (they may hold
 * secrets).
 */
export async function withVaultLock<R>(paths: VaultPaths, opts: StoreOptions, f: () => R | Promise<R>): Promise<R> {
  paths = resolvePaths(paths);
  const release = await acquireLock(paths.vaultFile, opts.lockTimeoutMs);
  try {
    sweepTempFiles(paths.vaultFile, paths.keyFile, newKeyPath(paths.keyFile));
    sweepStaged(opts);
    return await f();
  } finally {
    release();
  }
}

/** What a mutation of the vault document returns: whether to write the vault, and the caller's result. */
export interface Mutation<R> {
  readonly write: boolean;
  readonly result: R;
}
/** The document changed: write it. */
export const changed = <R>(result: R): Mutation<R> => ({ write: true, result });
/** Nothing changed: write nothing (no new generation). */
export const unchanged = <R>(result: R): Mutation<R> => ({ write: false, result });

export type Mutate<R> = (doc: VaultDocument, key: VaultKey) => Mutation<R> | Promise<Mutation<R>>;

/**
 * The read-modify-write step, for callers that already hold the lock: reads
 * and checks the copy (a stale or forked one is refused), runs the mutation,
 * checks the evidence log against the vault's head if records were staged,
 * writes the vault (generation + 1, lineage extended), then appends the
 * records.
 */
export async function updateLocked<R>(paths: VaultPaths, opts: StoreOptions, key: VaultKey, mutate: Mutate<R>): Promise<R> {
  const o = open(paths, readVaultFile(paths.vaultFile), key);
  sweepStaged(opts, o.doc);
  const seen = await checkSeen(paths, o, opts, 'write');
  const { doc } = o;
  const before = evidenceHead(doc);
  const now = nowOf(opts);
  // A deliberate rollback (an older or forked copy, or a log holding records this copy never wrote) is itself recorded.
  const ahead = opts.allowRollback ? logAhead(paths.vaultFile, before) : null;
  const aside = ahead !== null ? rolledBackName(paths.vaultFile, now) : undefined;
  const counts = opts.onEntriesChanged ? versionCounts(doc) : undefined;
  const { write, result } = await mutate(doc, key);
  if (!write) return result;
  // Records left beside this key file when no vault could take them (a key rebuilt from shares elsewhere): carried in now.
  const carried = stagePendingEvidence(paths.keyFile, doc, now, opts.onWarning, opts.ownPending);
  // Records deferred when this vault could not be written (kept in the state folder) go into the log with this write.
  const deferred = opts.stateFile ? takeDeferred(opts.stateFile, doc.vaultId) : null;
  for (const r of deferred?.records ?? []) recordEvidence(doc, r.event, { ...r.data, deferred: { at: r.at, host: r.host, why: r.why } }, now);
  // Staged after the mutation's records, so that a new log segment (evidence.gap) stays the first record after the gap.
  if (seen.seen || ahead !== null) {
    recordEvidence(
      doc,
      'rollback',
      {
        copy: { generation: o.meta.generation, header: o.meta.header },
        ...(seen.seen ? { status: seen.status, seen: seen.seen } : {}),
        ...(ahead !== null ? { evidenceAhead: { records: ahead, keptAs: basename(aside!) } } : {}),
      },
      now,
    );
  }
  const pending = prepareAppend(paths.vaultFile, doc, before, { allowRollback: Boolean(opts.allowRollback), now, ...(aside ? { aside } : {}) });
  doc.lineage = [...(doc.lineage ?? []), { generation: o.meta.generation, header: o.meta.header }].slice(-LINEAGE_LENGTH);
  doc.generation += 1;
  doc.updatedAt = now.toISOString();
  const sealed = writeVault(paths, doc);
  await carried?.();
  if (pending) {
    try {
      appendPrepared(pending);
    } catch (e) {
      // The vault is written and holds the records; the log refuses further appends until it is repaired.
      opts.onWarning?.(
        `${(e as Error).message}; the evidence records are kept in the vault: repair the log (evidence repair) once the cause is fixed, the next change that records evidence is refused until then`,
      );
    }
  }
  await deferred?.done();
  // Said once the vault is written: a write refused before it dropped nothing.
  if (deferred?.bad) opts.onWarning?.(`dropped ${deferred.bad} unreadable deferred evidence line(s) kept in the state folder`);
  await remember(paths, peekVault(sealed), opts, seen.seen !== undefined);
  if (counts) {
    const change = entriesChange(counts, doc);
    if (change.added.length || change.purged.length) opts.onEntriesChanged!(change, doc);
  }
  return result;
}

/**
 * Read-modify-write under the vault's exclusive lock. The mutation runs on
 * the freshly read document and says whether to write it (`changed(r)`) or
 * not (`unchanged(r)`); the generation goes up by one on every write.
 */
export async function updateVault<R>(paths: VaultPaths, opts: StoreOptions, mutate: Mutate<R>): Promise<R> {
  paths = resolvePaths(paths);
  const key = await loadKey(paths.keyFile, opts);
  return withVaultLock(paths, opts, () => updateLocked(paths, opts, key, mutate));
}

export interface InitOptions extends StoreOptions {
  /** Protect vault.key with this passphrase (age scrypt, armored). */
  passphrase?: Uint8Array;
  logN?: number;
}

/** The bytes of a key file: plain, or protected with a passphrase. */
export function keyFileBytes(key: VaultKey, passphrase?: Uint8Array, logN?: number): Buffer {
  const text = formatKeyFile(key);
  return passphrase ? protectKeyFile(text, passphrase, logN) : Buffer.from(text);
}

/** Whether the key file at `path` is passphrase-protected (false when it does not exist). */
export function keyFileIsProtected(path: string): boolean {
  return exists(path) && isProtectedKeyFile(readFileCapped(path, 'key file', LIMITS.keyFile));
}

/** Creates vault.key and an empty secrets.vault; never replaces either, and checks both places before writing. */
export async function initVault(paths: VaultPaths, opts: InitOptions = {}): Promise<{ key: VaultKey; doc: VaultDocument }> {
  paths = resolvePaths(paths);
  for (const [p, what] of [
    [paths.keyFile, 'key file'],
    [paths.vaultFile, 'vault file'],
  ] as const) {
    if (exists(p)) throw new VaultError('exists', `${what} ${p} already exists; refusing to overwrite it`, { code: 'init-exists' });
    checkWritableTarget(p, true);
  }
  const now = nowOf(opts);
  const key = newVaultKey(now);
  const doc = newDocument(
    { recipient: key.recipient, keyId: key.keyId, protected: Boolean(opts.passphrase), ...(opts.passphrase ? { workFactor: opts.logN ?? DEFAULT_LOG_N } : {}) },
    now,
  );
  doc.generation = 1;
  const sealed = sealVault(doc);
  writeFileAtomic(paths.keyFile, keyFileBytes(key, opts.passphrase, opts.logN), { exclusive: true });
  try {
    writeFileAtomic(paths.vaultFile, sealed, { exclusive: true });
  } catch (e) {
    // The key file was made by this call and opens nothing yet: take it back.
    removeQuietly(paths.keyFile);
    throw e;
  }
  await remember(paths, peekVault(sealed), opts, false);
  return { key, doc };
}

/** What `evidence repair` did. */
export type RepairResult =
  | { restored: number[]; droppedPartial: boolean; gap?: undefined }
  | { restored: []; droppedPartial: boolean; gap: { from: number; to: number; missing: number; at: number } };

/**
 * Writes back the evidence records the vault holds and its log lacks, then
 * records the repair itself (which records, and whether a partial line was
 * dropped), so a cut log stays visible in the log. When the log lost more
 * than the vault holds (the vault moved or was restored without it), starts
 * a new log segment whose first record names the missing records. A log
 * edited or damaged is refused: nothing is written over it.
 */
export async function repairEvidence(paths: VaultPaths, opts: StoreOptions): Promise<RepairResult> {
  paths = resolvePaths(paths);
  const key = await loadKey(paths.keyFile, opts);
  return withVaultLock(paths, opts, async () => {
    const o = open(paths, readVaultFile(paths.vaultFile), key);
    // A copy this machine may not write to is refused before anything is written back to its log.
    if (!opts.allowRollback) await checkSeen(paths, o, opts, 'write');
    const r = planRepair(paths.vaultFile, o.doc);
    if (r.kind === 'none') return { restored: [], droppedPartial: false };
    if (r.kind === 'gap') {
      const rec = await updateLocked(paths, opts, key, (doc) => changed(startSegment(doc, r, nowOf(opts))));
      return { restored: [], droppedPartial: r.droppedPartial, gap: { from: r.from, to: r.to, missing: r.to - r.from + 1, at: rec.seq } };
    }
    await updateLocked(paths, opts, key, (doc) =>
      changed(recordEvidence(doc, 'evidence.repair', { restored: r.restored, droppedPartial: r.droppedPartial }, nowOf(opts))),
    );
    return { restored: r.restored, droppedPartial: r.droppedPartial };
  });
}
