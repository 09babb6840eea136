import { execFile, spawn } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, read as fsRead, lstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
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

const run = promisify(execFile);
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
  | { kind: 'files'; dir: string; force: boolean }
  | { kind: 'file'; out: string; force: boolean };

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
function listingTar(env: Env, names: string[]): Consumer {
  return {
    kind: 'inline',
    label: 'tar -t',
    consume: async (r) => {
      const p = spawn('tar', ['-t', '-f', '-'], { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (c: Buffer) => {
        if (out.length < 16 << 20) out += c.toString('utf8');
      });
      p.stderr.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-2048)));
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
      const code = await done;
      if (code !== 0) throw new VaultError('verify-failed', `tar -t failed (exit ${code}): ${err.trim().split('\n').slice(-1)[0] ?? ''}`);
      names.push(...out.split('\n').filter(Boolean));
    },
  };
}

async function tablesIn(dbname: string, env: Env): Promise<number | null> {
  try {
    const { stdout } = await run(
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
      { env: env as NodeJS.ProcessEnv, timeout: externalTimeoutMs(env), killSignal: 'SIGKILL' },
    );
    return Number(stdout.trim());
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

export async function restoreBackup(repo: Repo, m: BackupManifest, key: BackupKey, t: RestoreTarget, env: Env): Promise<string> {
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
    const n = await tablesIn(t.dbname, env);
    if (n) throw new VaultError('exists', `database ${t.dbname} holds ${n} table(s): restoring replaces them`, { code: 'restore-db-not-empty' });
  }
  const file = await pin(repo, m);
  try {
    const names: string[] = [];
    const checked = await consume(file.open(), [key.identity], t.kind === 'files' ? listingTar(env, names) : verifierFor(m.kind, env));
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
    let pending: PendingFile | undefined;
    switch (t.kind) {
      case 'postgres':
        if (t.create) {
          try {
            await run('createdb', ['--', t.dbname], { env: env as NodeJS.ProcessEnv, timeout: externalTimeoutMs(env), killSignal: 'SIGKILL' });
          } catch (e) {
            const err = e as NodeJS.ErrnoException & { stderr?: string };
            throw new VaultError(
              err.code === 'ENOENT' ? 'not-found' : 'io',
              `createdb ${t.dbname} failed: ${(err.stderr ?? err.message).trim().split('\n').slice(-1)[0]}`,
            );
          }
        }
        into = {
          kind: 'process',
          command: 'pg_restore',
          args: ['--clean', '--if-exists', '--single-transaction', '--exit-on-error', ...(t.noOwner ? ['--no-owner'] : []), '--dbname', t.dbname],
          env,
          label: `pg_restore into ${t.dbname}`,
        };
        break;
      case 'postgres-globals':
        into = {
          kind: 'process',
          command: 'psql',
          args: ['-X', '-q', '-v', 'ON_ERROR_STOP=0', '--dbname', t.dbname],
          env,
          label: `psql (the globals) into ${t.dbname}`,
        };
        break;
      case 'files':
        makeDirs(t.dir);
        into = {
          kind: 'process',
          command: 'tar',
          args: ['-x', '-f', '-', '-C', t.dir, t.force ? '--overwrite' : '--keep-old-files'],
          env,
          label: `tar -x into ${t.dir}`,
        };
        break;
      case 'redis':
      case 'file': {
        const out = t.kind === 'redis' ? join(t.dir, 'dump.rdb') : t.out;
        if (t.kind === 'redis') makeDirs(t.dir);
        const f = createLocalFile(out, { exclusive: !t.force });
        pending = f;
        into = { kind: 'inline', label: out, consume: (r) => pipeline(r, f.stream) };
        break;
      }
    }
    let again: Consumed;
    try {
      again = await consume(file.open(), [key.identity], into);
    } catch (e) {
      await pending?.abort();
      throw e;
    }
    if (!matches(again, m)) {
      await pending?.abort();
      throw new VaultError(
        'verify-failed',
        `${name} changed while it was being restored (SHA-256 differs from the checked pass)${pending ? ': nothing was written' : `: check ${into.label}`}`,
      );
    }
    await pending?.commit();
    return into.label;
  } finally {
    file.close();
  }
}
