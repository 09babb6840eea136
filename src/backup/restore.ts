import { spawn } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, read as fsRead, lstatSync, mkdtempSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, normalize } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VaultError } from '../errors/errors.js';
import type { VaultDocument } from '../vault/document.js';
import { checkWritableTarget } from '../fs/atomic.js';
import { makeDirs } from '../fs/dirs.js';
import { checkOutput } from '../fs/output.js';
import { externalTimeoutMs } from '../dest/timeout.js';
import { checkDbname, verifierFor } from './components.js';
import { backupKeys, peekBackupState, type BackupKey } from './keys.js';
import { checkSignature, type BackupManifest } from './manifest.js';
import { consume, type Consumed, type Consumer } from './pipeline.js';
import { componentDest, createLocalFile, openFile, type PendingFile, type Repo } from './repo.js';
import { randomHex } from '../fs/random.js';
import { bounded, runTool, toolMessage } from './tool.js';

type Env = Record<string, string | undefined>;

/**
 * Where a backup goes back to. Restores never pipe unverified plaintext into
 * a live target: the whole backup is decrypted and checked first (a first
 * pass), and only then decrypted into the native tool, from the same open
 * file (a file swapped in between is not read), whose SHA-256 is checked
 * again. Nothing is replaced without `force`: an existing database that
 * holds tables, files the archive would overwrite, an existing output file.
 */
export type RestoreTarget =
  | { kind: 'postgres'; dbname: string; create: boolean; noOwner?: boolean; force?: boolean }
  | { kind: 'postgres-globals'; dbname: string }
  | { kind: 'redis'; dir: string; force: boolean }
  /** `sameOwner`: keep the archive's owners and modes (setuid bits included); by default files belong to whoever restores them, under their umask. */
  | { kind: 'files'; dir: string; force: boolean; sameOwner?: boolean }
  | { kind: 'file'; out: string; force: boolean };

/** How long each tool may run, and who is told its process group (the drill journals it). */
export interface RestoreRunOptions {
  /** The time bound of each tool (the full check and the restore itself), in milliseconds; default 6 hours. */
  timeoutMs?: number;
  /** The time bound of quick calls (psql's table count, createdb); default 2 minutes. */
  callTimeoutMs?: number;
  onStart?: (pid: number) => void;
}

const HOURS_6 = 6 * 3_600_000;

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

/** The stored file opened once, read as often as needed from the same inode (a remote one is fetched once, still encrypted). */
async function pin(repo: Repo, m: BackupManifest): Promise<{ open: () => Readable; close: () => void }> {
  const d = componentDest(repo, m.component);
  let path = d.kind === 'folder' ? join(d.path, m.file) : '';
  let cleanup: () => void = () => {};
  if (d.kind !== 'folder') {
    const dir = mkdtempSync(join(tmpdir(), 'vault-tool-restore-'));
    cleanup = () => rmSync(dir, { recursive: true, force: true });
    path = join(dir, 'backup.age');
    try {
      await pipeline(openFile(repo, m.component, m.file), createWriteStream(path, { mode: 0o600, flags: 'wx' }));
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
    open: () => {
      let pos = 0;
      return new Readable({
        highWaterMark: 1 << 20,
        read(size) {
          const buf = Buffer.allocUnsafe(Math.max(size, 1 << 16));
          fsRead(fd, buf, 0, buf.length, pos, (err, n) => {
            if (err) return this.destroy(err);
            if (n === 0) return this.push(null);
            pos += n;
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

/** The check pass of a files backup: tar -t, keeping the names, so conflicts are found before anything is extracted. */
function listingTar(env: Env, names: string[], timeoutMs: number, onStart?: (pid: number) => void): Consumer {
  return {
    kind: 'inline',
    label: 'tar -t',
    consume: async (r) => {
      const p = spawn('tar', ['-t', '-f', '-'], { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      if (p.pid) onStart?.(p.pid);
      let expired = false;
      const timer = setTimeout(() => {
        expired = true;
        try {
          process.kill(-(p.pid ?? 0), 'SIGKILL');
        } catch {
          /* gone */
        }
      }, timeoutMs);
      let out = '';
      let err = '';
      p.stdout.on('data', (c: Buffer) => {
        if (out.length < 16 << 20) out += c.toString('utf8');
      });
      p.stderr.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-8192)));
      const done = new Promise<number | null>((res, rej) => {
        p.on('error', (e) =>
          rej(
            new VaultError(
              (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not-found' : 'io',
              `tar could not be run: ${(e as NodeJS.ErrnoException).code ?? e.message}`,
            ),
          ),
        );
        p.on('close', res);
      });
      p.stdin.on('error', () => undefined);
      await pipeline(r, p.stdin).catch(() => undefined);
      const code = await done.finally(() => clearTimeout(timer));
      if (expired) throw new VaultError('io', `tar -t did not finish within ${Math.round(timeoutMs / 1000)} s: it was stopped`, { code: 'tool-timeout' });
      if (code !== 0) throw new VaultError('verify-failed', `tar -t failed (exit ${code}): ${toolMessage(err)}`);
      names.push(...out.split('\n').filter(Boolean));
    },
  };
}

async function tablesIn(dbname: string, env: Env, timeoutMs: number): Promise<number | null> {
  try {
    const out = await runTool(
      'psql',
      [
        '-X',
        '-A',
        '-t',
        '-v',
        'ON_ERROR_STOP=1',
        '-d',
        dbname,
        '-c',
        "select count(*) from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'",
      ],
      { env, timeoutMs },
    );
    return Number(out.trim());
  } catch {
    return null;
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
    const checked = await consume(file.open(), [key.identity], verifierFor(m.kind, env));
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

/** Moves what a staging folder holds into `dir`, folder by folder; `force` lets a file replace one that is there. */
function mergeInto(from: string, dir: string, force: boolean): void {
  for (const name of readdirSync(from)) {
    const a = join(from, name);
    const b = join(dir, name);
    let there: ReturnType<typeof lstatSync> | undefined;
    try {
      there = lstatSync(b);
    } catch {
      there = undefined;
    }
    if (!there) renameSync(a, b);
    else if (there.isDirectory() && lstatSync(a).isDirectory()) mergeInto(a, b, force);
    else if (force) {
      if (there.isDirectory()) rmSync(b, { recursive: true, force: true });
      renameSync(a, b);
    } else throw new VaultError('exists', `${b} appeared while the restore ran: nothing more was moved into place`, { code: 'restore-files-exist' });
  }
}

export async function restoreBackup(repo: Repo, m: BackupManifest, key: BackupKey, t: RestoreTarget, env: Env, o: RestoreRunOptions = {}): Promise<string> {
  const timeoutMs = o.timeoutMs ?? HOURS_6;
  const callMs = o.callTimeoutMs ?? externalTimeoutMs(env);
  const run = { timeoutMs, ...(o.onStart ? { onStart: o.onStart } : {}) };
  const compatible: Record<RestoreTarget['kind'], BackupManifest['kind'][]> = {
    postgres: ['postgres'],
    'postgres-globals': ['postgres-globals'],
    redis: ['redis'],
    files: ['files'],
    file: ['postgres', 'postgres-globals', 'redis', 'files', 'k8s', 'exec'],
  };
  const name = `${m.component}/${m.file}`;
  if (!compatible[t.kind].includes(m.kind)) throw new VaultError('usage', `${name} is a ${m.kind} backup; it cannot be restored as ${t.kind}`);
  // Before touching anything: the target, then a full check of the whole backup.
  if (t.kind === 'postgres' || t.kind === 'postgres-globals') checkDbname(t.dbname);
  if (t.kind === 'redis' && existsSync(t.dir)) checkWritableTarget(join(t.dir, 'dump.rdb'), !t.force);
  if (t.kind === 'file') {
    checkOutput(t.out, 'data', { force: t.force });
  }
  if (t.kind === 'postgres' && !t.create && !t.force) {
    const n = await tablesIn(t.dbname, env, callMs);
    if (n) throw new VaultError('exists', `database ${t.dbname} holds ${n} table(s): restoring replaces them`, { code: 'restore-db-not-empty' });
  }
  const file = await pin(repo, m);
  // What this restore made (folders, a staging folder), removed again if it fails: a failed restore leaves nothing half-written.
  const made: string[] = [];
  let createdDb: string | undefined;
  let staging: string | undefined;
  try {
    const names: string[] = [];
    const checked = await consume(
      file.open(),
      [key.identity],
      t.kind === 'files' ? listingTar(env, names, timeoutMs, o.onStart) : bounded(verifierFor(m.kind, env), run),
    );
    if (!matches(checked, m)) throw new VaultError('verify-failed', `${name} is not the backup its manifest describes (SHA-256 differs): nothing was restored`);
    if (t.kind === 'files' && !t.force) {
      const clash = names
        .map((n) => normalize(n))
        .filter((n) => {
          try {
            return !lstatSync(join(t.dir, n)).isDirectory();
          } catch {
            return false;
          }
        });
      if (clash.length)
        throw new VaultError(
          'exists',
          `${clash.length} file(s) in ${t.dir} would be overwritten (${clash.slice(0, 3).join(', ')}${clash.length > 3 ? ', …' : ''}): nothing was restored`,
          { code: 'restore-files-exist' },
        );
    }
    let into: Consumer;
    let label: string;
    let pending: PendingFile | undefined;
    switch (t.kind) {
      case 'postgres':
        if (t.create) {
          await runTool('createdb', ['--', t.dbname], { env, timeoutMs: callMs, label: `createdb ${t.dbname}` });
          createdDb = t.dbname;
        }
        label = `pg_restore into ${t.dbname}`;
        into = {
          kind: 'process',
          command: 'pg_restore',
          args: ['--clean', '--if-exists', '--single-transaction', '--exit-on-error', ...(t.noOwner ? ['--no-owner'] : []), '--dbname', t.dbname],
          env,
          label,
        };
        break;
      case 'postgres-globals':
        label = `psql (the globals) into ${t.dbname}`;
        into = { kind: 'process', command: 'psql', args: ['-X', '-q', '-v', 'ON_ERROR_STOP=0', '--dbname', t.dbname], env, label };
        break;
      case 'files': {
        // Extracted into a staging folder beside the target (same file system), then moved into place: a failed extraction touches nothing in it.
        const parent = dirname(t.dir);
        made.push(...makeDirs(parent));
        staging = join(parent, `.${basename(t.dir)}.restore-${randomHex(4)}`);
        makeDirs(staging);
        label = `tar -x into ${t.dir}`;
        const owners = t.sameOwner ? ['--same-owner', '--same-permissions'] : ['--no-same-owner', '--no-same-permissions'];
        into = { kind: 'process', command: 'tar', args: ['-x', '-f', '-', '-C', staging, ...owners], env, label };
        break;
      }
      case 'redis':
      case 'file': {
        const out = t.kind === 'redis' ? join(t.dir, 'dump.rdb') : t.out;
        if (t.kind === 'redis') made.push(...makeDirs(t.dir));
        const f = createLocalFile(out, { exclusive: !t.force });
        pending = f;
        label = out;
        into = { kind: 'inline', label: out, consume: (r) => pipeline(r, f.stream) };
        break;
      }
    }
    let again: Consumed;
    try {
      again = await consume(file.open(), [key.identity], bounded(into, run));
    } catch (e) {
      await pending?.abort();
      throw e;
    }
    if (!matches(again, m)) {
      await pending?.abort();
      throw new VaultError(
        'verify-failed',
        `${name} changed while it was being restored (SHA-256 differs from the checked pass)${pending || staging ? ': nothing was written' : `: check ${label}`}`,
      );
    }
    await pending?.commit();
    if (t.kind === 'files' && staging) {
      if (!existsSync(t.dir)) renameSync(staging, t.dir);
      else mergeInto(staging, t.dir, t.force);
    }
    made.length = 0;
    createdDb = undefined;
    return label;
  } finally {
    file.close();
    if (staging) rmSync(staging, { recursive: true, force: true });
    for (const d of made.reverse()) rmSync(d, { recursive: true, force: true });
    // A database this restore created for a restore that failed holds nothing of use: it goes too.
    if (createdDb) await runTool('dropdb', ['--if-exists', '--', createdDb], { env, timeoutMs: callMs, label: `dropdb ${createdDb}` }).catch(() => undefined);
  }
}

/**
 * The number of tables a PostgreSQL backup holds, from its table of contents
 * (`pg_restore -l`, which reads only the archive's head: the rest is never
 * decrypted). The backup is the one its manifest describes (its signature
 * and key were checked by the caller); only the head is read, so its hash is
 * not.
 */
export async function tablesInBackup(repo: Repo, m: BackupManifest, key: BackupKey, env: Env, timeoutMs: number): Promise<number> {
  if (m.kind !== 'postgres') throw new VaultError('usage', `${m.component}/${m.file} is a ${m.kind} backup, not a database`);
  const file = await pin(repo, m);
  let listing: string | undefined;
  try {
    await consume(file.open(), [key.identity], {
      kind: 'inline',
      label: 'pg_restore -l',
      consume: async (r) => {
        listing = await runTool('pg_restore', ['-l'], { env, timeoutMs, input: r, label: 'pg_restore -l' });
      },
    });
  } catch (e) {
    // pg_restore -l stops reading after the table of contents: the rest of the stream is cut on purpose.
    if (listing === undefined) throw e;
  } finally {
    file.close();
  }
  // "ID; OID OID TABLE schema name owner": TABLE entries, not TABLE DATA.
  return (listing ?? '').split('\n').filter((l) => /^\d+; \d+ \d+ TABLE (?!DATA )/.test(l)).length;
}
