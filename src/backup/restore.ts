import { closeSync, createWriteStream, read as fsRead, mkdtempSync, openSync, rmSync, statSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VaultError } from '../errors/errors.js';
import type { VaultDocument } from '../vault/document.js';
import { checkOutput } from '../fs/output.js';
import { firstNonFolder } from '../fs/dirs.js';
import { fileKind } from '../fs/target.js';
import { createPendingFile } from '../fs/pending.js';
import { counted, counter, type OnProgress } from '../fs/progress.js';
import { externalTimeoutMs } from '../tool/bound.js';
import type { BackupKind, Env, Landing, Restorer, RestoreRequest, RunBounds } from './kind.js';
import { kindNamed } from './kinds/index.js';
import { backupKeys, peekBackupState, type BackupKey } from './keys.js';
import { checkSignature, type BackupManifest } from './manifest.js';
import { consume, type Consumed } from './pipeline.js';
import { componentDest, openFile, type Listed, type Repo } from './repo.js';
import { connectedDatabase } from './db-target.js';
import { pathTarget } from './protect.js';
import { bounded } from './tool.js';

/**
 * Restores, planned then carried out. `planRestore` checks everything a
 * restore needs without writing anything (the backup is trusted and its key
 * held, the target is one the kind can restore into, and the target's own
 * checks pass: a database holding tables, files in the way, an existing
 * output file are refused without `force`) and returns the plan a dry run
 * prints; `executeRestore` carries it out.
 *
 * Restores never pipe unverified plaintext into a live target: the whole
 * backup is decrypted and checked first (a first pass), and only then
 * decrypted into the target, from the same open file (a file swapped in
 * between is not read), whose SHA-256 is checked again. What a failed
 * restore made (a database it created, a staging folder, folders) is
 * removed again.
 */
export interface RestoreRunOptions {
  /** The time bound of each tool (the full check and the restore itself), in milliseconds; default 6 hours. */
  timeoutMs?: number;
  /** The time bound of quick calls (psql's table count, createdb); default: the run's bound (VAULT_TOOL_TIMEOUT). */
  callTimeoutMs?: number;
  /** Told each tool's process group (the drill journals it). */
  onStart?: (pid: number) => void;
  /** Told how the restore goes (`item`: COMPONENT/FILE): the fetch from a remote, the full check, the restore, each with its bytes. */
  onProgress?: OnProgress;
}

export interface RestorePlan {
  /** COMPONENT/FILE. */
  backup: string;
  manifest: BackupManifest;
  key: BackupKey;
  kind: BackupKind;
  target: Restorer;
  /** What the run will do, in order (the dry run's lines). */
  steps: string[];
}

const HOURS_6 = 6 * 3_600_000;

const boundsOf = (env: Env, o: RestoreRunOptions): RunBounds => ({
  timeoutMs: o.timeoutMs ?? HOURS_6,
  callMs: o.callTimeoutMs ?? externalTimeoutMs(env),
  ...(o.onStart ? { onStart: o.onStart } : {}),
});

/** The manifest of a listed backup that can be used at all (a problem, such as no manifest, is an integrity error naming it). */
export function usableManifest(b: Listed, name: string): BackupManifest {
  if (!b.manifest || b.problem) throw new VaultError('integrity', `${name}: ${b.problem ?? 'no manifest'}`);
  return b.manifest;
}

/**
 * The key a backup needs, if it may be restored: its manifest must be signed
 * by a host the vault trusts (anyone can encrypt to the backup recipient),
 * and not record a failed verification.
 */
export function restorableKey(doc: VaultDocument, m: BackupManifest, name: string): BackupKey {
  const sig = checkSignature(m, peekBackupState(doc).signers);
  if (!sig.ok) throw new VaultError('integrity', `${name}: ${sig.message}: it is not restored`, { code: 'backup-untrusted' });
  if (m.verification && !m.verification.ok)
    throw new VaultError('verify-failed', `${name}: its last verification failed (${m.verification.message}): it is not restored`, {
      code: 'backup-failed-verification',
    });
  const key = backupKeys(doc).find((k) => k.keyId === m.keyId);
  if (!key) throw new VaultError('wrong-key', `the vault does not hold backup key ${m.keyId}, which ${name} needs`, { code: 'backup-key-gone' });
  return key;
}

/** Any backup into a file (mode 0600), never over one without `force`, never over a file the tool guards. */
export function intoFile(out: string, force: boolean): Restorer {
  return {
    where: out,
    label: out,
    record: { force },
    guard: () => pathTarget('file', out),
    precheck: async () => {
      checkOutput(out, 'data', { force });
    },
    async land(): Promise<Landing> {
      const f = createPendingFile(out, { exclusive: !force, check: (p) => checkOutput(p, 'data', { force }) });
      return {
        staged: true,
        consumer: { kind: 'inline', label: out, consume: (r) => pipeline(r, f.stream) },
        commit: async () => {
          await f.commit();
        },
        abort: () => f.abort(),
      };
    },
  };
}

/**
 * A folder to restore into is one, or is not there yet (it is made): a file
 * or a device there, or a file where one of its parents should be, is
 * refused before the backup is read.
 */
function checkFolderTarget(dir: string): void {
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw new VaultError('usage', `cannot restore into ${dir}: ${firstNonFolder(dir)} is not a folder`);
    return;
  }
  if (!st.isDirectory()) throw new VaultError('usage', `cannot restore into ${dir}: it is ${st.isFile() ? 'a file' : fileKind(st)}, not a folder`);
}

/**
 * The restore target of a request: into a file when it names one, else
 * where the kind restores to. A kind that restores only into a file, or
 * elsewhere, is a usage error.
 */
export function restoreTarget(kind: BackupKind, req: RestoreRequest & { out?: string }, name: string): Restorer {
  if (req.out !== undefined) return intoFile(req.out, Boolean(req.force));
  if (!kind.restore) throw new VaultError('usage', `${name} is a ${kind.name} backup; it is restored only into a file`);
  if (kind.restore.needs === 'database' && !req.database) throw new VaultError('usage', `${name}: into which database?`);
  if (kind.restore.needs === 'dir' && !req.dir) throw new VaultError('usage', `${name}: into which folder?`);
  if (kind.restore.needs === 'bucket' && !req.to === !req.dir)
    throw new VaultError('usage', `${name}: into which bucket prefix, or which folder (one of them)?`);
  if (req.dir !== undefined) checkFolderTarget(req.dir);
  const t = kind.restore.target(req);
  // A database as libpq reaches it (a service, PGDATABASE, another spelling of the host): the name read from --dbname alone is not enough
  // to tell whether the policy protects it. The globals go into `postgres` when no database is named, as their restorer does, and
  // write the server's roles: they are protected when any database there is.
  return {
    ...t,
    guard: async (env) => {
      const g = await t.guard(env);
      return g.type === 'databases' ? connectedDatabase(g, req.database ?? 'postgres', env, kind.name === 'postgres-globals') : g;
    },
  };
}

/** Plans a restore into a target (`restoreTarget`): the target's checks run now, and nothing is written. */
export async function planRestore(m: BackupManifest, key: BackupKey, target: Restorer, env: Env, o: RestoreRunOptions = {}): Promise<RestorePlan> {
  const backup = `${m.component}/${m.file}`;
  const kind = kindNamed(m.kind);
  await target.precheck(env, boundsOf(env, o));
  const check = target.check ? 'its own first pass' : kind.verifier(env).label;
  return {
    backup,
    manifest: m,
    key,
    kind,
    target,
    steps: [
      `decrypt ${backup} (made ${m.finishedAt}) with backup key ${m.keyId} and check it in full (${check}), both SHA-256s against its signed manifest`,
      `then decrypt it again into ${target.where}, its SHA-256s checked again`,
    ],
  };
}

/** The stored file opened once, read as often as needed from the same inode (a remote one is fetched once, still encrypted). */
async function pin(repo: Repo, m: BackupManifest, onProgress?: OnProgress): Promise<{ open: (onBytes?: (n: number) => void) => Readable; close: () => void }> {
  let path = componentDest(repo, m.component).localPath(m.file);
  let cleanup: () => void = () => {};
  if (path === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'vault-tool-restore-'));
    cleanup = () => rmSync(dir, { recursive: true, force: true });
    path = join(dir, 'backup.age');
    try {
      const fetched = counter(onProgress, { item: `${m.component}/${m.file}`, phase: 'fetching it from the repository', total: m.ciphertext.size });
      await pipeline(counted(openFile(repo, m.component, m.file), fetched), createWriteStream(path, { mode: 0o600, flags: 'wx' }));
    } catch (e) {
      cleanup();
      throw e;
    }
  }
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    cleanup();
    throw new VaultError('not-found', `${m.component}/${m.file} cannot be opened: ${(e as NodeJS.ErrnoException).code}`);
  }
  return {
    // Positioned reads of the one descriptor (never closed by a stream, even one destroyed by an error).
    open: (onBytes?: (n: number) => void) => {
      let pos = 0;
      return new Readable({
        highWaterMark: 1 << 20,
        read(size) {
          const buf = Buffer.allocUnsafe(Math.max(size, 1 << 16));
          fsRead(fd, buf, 0, buf.length, pos, (err, n) => {
            if (err) return this.destroy(err);
            if (n === 0) return this.push(null);
            pos += n;
            onBytes?.(n);
            this.push(buf.subarray(0, n));
          });
        },
      });
    },
    close: () => {
      closeSync(fd);
      cleanup();
    },
  };
}

const matches = (c: Consumed, m: BackupManifest) => c.ciphertext.sha256 === m.ciphertext.sha256 && c.plaintext.sha256 === m.plaintext.sha256;

/**
 * The restore tool failed on data that passed the full check: not a
 * verification failure but a failed restore (exit 1), said as the target
 * explains it (a role the dump needs is missing), with what is left.
 */
function landingFailed(e: unknown, target: Restorer, landing: Landing): unknown {
  if (!(e instanceof VaultError) || e.kind !== 'verify-failed') return e;
  const left = landing.staged ? ': nothing was written' : '';
  const known = target.explain?.(e.message);
  if (known) return new VaultError('io', `${known.message} (${e.message})${left}`, { code: known.code });
  return new VaultError('io', `${e.message}${left}`, { code: 'restore-failed' });
}

/** Carries a plan out: the full check, then the restore; what it restored into. */
export async function executeRestore(repo: Repo, plan: RestorePlan, env: Env, o: RestoreRunOptions = {}): Promise<string> {
  const { manifest: m, key, target, backup: name } = plan;
  const b = boundsOf(env, o);
  const run = { timeoutMs: b.timeoutMs, ...(b.onStart ? { onStart: b.onStart } : {}) };
  const file = await pin(repo, m, o.onProgress);
  let landing: Landing | undefined;
  // Both passes read the stored file: their bytes against its size.
  const pass = (phase: string) => counter(o.onProgress, { item: name, phase, total: m.ciphertext.size });
  try {
    const own = target.check?.(env, b);
    const checker = own ? own.consumer : bounded(plan.kind.verifier(env), run);
    const checked = await consume(file.open(pass(`checking in full (${checker.label})`)), [key.identity], checker);
    if (!matches(checked, m)) throw new VaultError('verify-failed', `${name} is not the backup its manifest describes (SHA-256 differs): nothing was restored`);
    own?.after();
    landing = await target.land(env, b);
    const into = landing;
    const again = await consume(file.open(pass(`restoring into ${target.where}`)), [key.identity], bounded(landing.consumer, run)).catch((e: unknown) => {
      throw landingFailed(e, target, into);
    });
    if (!matches(again, m))
      throw new VaultError(
        'verify-failed',
        `${name} changed while it was being restored (SHA-256 differs from the checked pass)${landing.staged ? ': nothing was written' : `: check ${target.label}`}`,
      );
    const done = landing;
    landing = undefined;
    await done.commit();
    return target.label;
  } finally {
    file.close();
    // A failed restore leaves nothing half-written: what it made goes.
    await landing?.abort();
  }
}

/** A restore planned and carried out at once (the drill plans its own steps first). */
export async function restoreBackup(repo: Repo, m: BackupManifest, key: BackupKey, target: Restorer, env: Env, o: RestoreRunOptions = {}): Promise<string> {
  return executeRestore(repo, await planRestore(m, key, target, env, o), env, o);
}

/**
 * Decrypts a backup into a consumer that may stop early (a table of
 * contents is at its head): the rest of the stream is cut on purpose, so a
 * failure after the consumer finished is not one.
 */
export async function readBackupInto(repo: Repo, m: BackupManifest, key: BackupKey, into: (r: Readable) => Promise<void>, label: string): Promise<void> {
  const file = await pin(repo, m);
  let done = false;
  try {
    await consume(file.open(), [key.identity], {
      kind: 'inline',
      label,
      consume: async (r) => {
        await into(r);
        done = true;
      },
    });
  } catch (e) {
    if (!done) throw e;
  } finally {
    file.close();
  }
}

/**
 * A small backup's plaintext in memory, after the same full check as a
 * restore (a Kubernetes backup, applied through the cluster client).
 */
export async function readBackup(repo: Repo, m: BackupManifest, key: BackupKey, env: Env, limit: number): Promise<Buffer> {
  if (m.plaintext.size > limit)
    throw new VaultError('invalid', `${m.component}/${m.file} holds ${m.plaintext.size} bytes, more than the ${limit} this restore reads into memory`);
  const file = await pin(repo, m);
  try {
    const checked = await consume(file.open(), [key.identity], kindNamed(m.kind).verifier(env));
    if (!matches(checked, m))
      throw new VaultError('verify-failed', `${m.component}/${m.file} is not the backup its manifest describes (SHA-256 differs): nothing was restored`);
    const chunks: Buffer[] = [];
    let n = 0;
    const again = await consume(file.open(), [key.identity], {
      kind: 'inline',
      label: 'memory',
      consume: async (r) => {
        for await (const c of r) {
          n += (c as Buffer).length;
          if (n > limit) throw new VaultError('invalid', `${m.component}/${m.file} is larger than its manifest says`);
          chunks.push(c as Buffer);
        }
      },
    });
    if (!matches(again, m)) throw new VaultError('verify-failed', `${m.component}/${m.file} changed while it was being read: nothing was restored`);
    return Buffer.concat(chunks);
  } finally {
    file.close();
  }
}
