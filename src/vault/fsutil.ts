import { closeSync, constants, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { hostname } from 'node:os';
import { VaultError } from './errors.js';

const TMP = /^\.(.+)\.(\d+)\.[0-9a-f]{8}\.tmp$/;
const LOCK_TMP = /^(.+)\.lock\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/**
 * The most vault-tool reads of each kind of input, checked before reading
 * (a device such as /dev/zero is read up to the cap, never without bound).
 * docs/CLI.md, "Limits", lists them.
 */
export const LIMITS = {
  vaultFile: 256 << 20,
  keyFile: 64 << 10,
  /** A value file or stdin: read up to 4 MiB, then refused by the 1 MiB rule of values (MAX_VALUE_BYTES) with its message. */
  value: 4 << 20,
  share: 64 << 10,
  /** Manifests, plans, policies, mapping files, dotenv files, kubeconfigs, Secret manifests. */
  text: 16 << 20,
  evidenceLog: 256 << 20,
  stdin: 64 << 20,
} as const;

export const formatBytes = (n: number) => (n >= 1 << 20 && n % (1 << 20) === 0 ? `${n >> 20} MiB` : n >= 1 << 10 && n % (1 << 10) === 0 ? `${n >> 10} KiB` : `${n} bytes`);

/**
 * Turns a file system error into a one-line classified VaultError: a missing
 * folder is not-found, a folder where a file belongs (or the reverse) is a
 * usage error, permissions and full disks are io errors.
 */
export function fsError(e: unknown, action: string, path: string): VaultError {
  if (e instanceof VaultError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return new VaultError('not-found', `cannot ${action} ${path}: folder ${dirname(path)} does not exist`);
    case 'EISDIR':
      return new VaultError('usage', `cannot ${action} ${path}: it is a folder`);
    case 'ENOTDIR':
      return new VaultError('usage', `cannot ${action} ${path}: a part of the path is not a folder`);
    case 'EACCES':
    case 'EPERM':
      return new VaultError('io', `cannot ${action} ${path}: permission denied`);
    case 'ENOSPC':
      return new VaultError('io', `cannot ${action} ${path}: no space left on the device`);
    case 'EDQUOT':
      return new VaultError('io', `cannot ${action} ${path}: disk quota exceeded`);
    case 'EROFS':
      return new VaultError('io', `cannot ${action} ${path}: read-only file system`);
    case 'ENAMETOOLONG':
      return new VaultError('usage', `cannot ${action} ${path}: the name is too long`);
    case 'EEXIST':
      return new VaultError('exists', `cannot ${action} ${path}: it already exists`);
    default:
      return new VaultError('io', `cannot ${action} ${path}: ${code ?? (e as Error)?.message ?? String(e)}`);
  }
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The temp name writeFileAtomic uses beside `path`; sweepTempFiles removes those of dead processes. */
export const tempNameFor = (path: string) => join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);

/**
 * Writes a file so that a crash at any instant leaves either the old or the
 * new content: temp file in the same folder (mode 0600), fsync, rename,
 * fsync the folder. `exclusive` refuses to replace an existing file (checked
 * before anything is written, and again just before the rename).
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, opts: { exclusive?: boolean; mode?: number } = {}): void {
  const dir = dirname(path);
  checkWritableTarget(path, Boolean(opts.exclusive));
  const tmp = tempNameFor(path);
  let fd: number;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, opts.mode ?? 0o600);
  } catch (e) {
    throw fsError(e, 'write', path);
  }
  const cleanup = registerCleanup(() => removeQuietly(tmp));
  try {
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      let off = 0;
      while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.exclusive && exists(path)) throw new VaultError('exists', `${path} already exists; refusing to overwrite it`);
    renameSync(tmp, path);
    fsyncDir(dir);
  } catch (e) {
    removeQuietly(tmp);
    throw fsError(e, 'write', path);
  } finally {
    cleanup();
  }
}

/** The first part of `path` that exists but is not a folder (for ENOTDIR messages). */
export function firstNonFolder(path: string): string {
  const parts: string[] = [];
  for (let p = dirname(path); p !== dirname(p); p = dirname(p)) parts.unshift(p);
  for (const p of parts) {
    try {
      if (!statSync(p).isDirectory()) return p;
    } catch {
      break;
    }
  }
  return dirname(path);
}

/** Before any byte is written: the folder exists, the target is not a folder, and (exclusive) does not exist. */
export function checkWritableTarget(path: string, exclusive: boolean): void {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new VaultError('usage', `cannot write ${path}: ${firstNonFolder(path)} is not a folder`);
    if (code !== 'ENOENT') throw fsError(e, 'write', path);
    let dst;
    try {
      dst = statSync(dirname(path));
    } catch (e2) {
      throw fsError(e2, 'write', path);
    }
    if (!dst.isDirectory()) throw new VaultError('usage', `cannot write ${path}: ${dirname(path)} is not a folder`);
    return;
  }
  if (st.isDirectory()) throw new VaultError('usage', `cannot write ${path}: it is a folder`);
  if (exclusive) throw new VaultError('exists', `${path} already exists; refusing to overwrite it`);
}

/**
 * mkdir -p without fs.mkdirSync's recursive mode (which loops forever on
 * some paths, e.g. under /proc): walks up to the first folder that exists,
 * then creates each missing one (mode 0700 by default).
 */
export function makeDirs(path: string, mode = 0o700): void {
  const missing: string[] = [];
  let p = path;
  for (let depth = 0; depth < 256; depth++) {
    try {
      if (!statSync(p).isDirectory()) throw new VaultError('usage', `cannot create folder ${path}: ${p} is not a folder`);
      break;
    } catch (e) {
      if (e instanceof VaultError) throw e;
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw new VaultError('usage', `cannot create folder ${path}: ${firstNonFolder(p)} is not a folder`);
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(e, 'create folder', path);
      missing.push(p);
      const up = dirname(p);
      if (up === p) break;
      p = up;
    }
  }
  for (const d of missing.reverse()) makeDir(d, mode, true);
}

/** mkdir of one folder whose parent exists, with a classified error. */
export function makeDir(d: string, mode = 0o700, existOk = false): void {
  try {
    mkdirSync(d, { mode });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && existOk && statSync(d).isDirectory()) return;
    // ENOENT here means the parent exists but refuses new entries (a virtual file system such as /proc).
    if (code === 'ENOENT') throw new VaultError('io', `cannot create folder ${d}: the file system does not allow it`);
    throw fsError(e, 'create folder', d);
  }
}

export function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

export function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true, recursive: true });
  } catch {
    /* already gone, or not ours to remove */
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temp files a killed writer left beside each of `paths` (only
 * those of dead processes): they may hold secrets (a key being written, a
 * value for --out). Best effort: a read-only folder is left as it is.
 */
export function sweepTempFiles(...paths: string[]): void {
  const byDir = new Map<string, Set<string>>();
  for (const p of paths) {
    const d = dirname(p);
    if (!byDir.has(d)) byDir.set(d, new Set());
    byDir.get(d)!.add(basename(p));
  }
  for (const [dir, bases] of byDir) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = TMP.exec(name) ?? LOCK_TMP.exec(name);
      if (m && bases.has(m[1]!) && !pidAlive(Number(m[2]))) removeQuietly(join(dir, name));
    }
  }
}

/**
 * Reads a whole file, refusing one larger than `limit` before reading it
 * (devices and pipes are read up to the limit, never without bound).
 */
export function readFileOr(path: string, what: string, limit: number = LIMITS.text): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new VaultError('not-found', `${what} not found: ${path}`);
    if (code === 'EACCES') throw new VaultError('io', `${what} is not readable: ${path} (permission denied)`);
    throw fsError(e, `read ${what}`, path);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new VaultError('usage', `${what} is a folder: ${path}`);
    const tooBig = () => new VaultError('invalid', `${what} ${path} is larger than ${formatBytes(limit)}, the most vault-tool reads for it`);
    if (st.isFile()) {
      if (st.size > limit) throw tooBig();
      return readFileSync(fd);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const b = Buffer.allocUnsafe(Math.min(1 << 20, limit + 1 - total));
      const n = readSync(fd, b, 0, b.length, null);
      if (n === 0) break;
      chunks.push(b.subarray(0, n));
      total += n;
      if (total > limit) throw tooBig();
    }
    return Buffer.concat(chunks, total);
  } catch (e) {
    throw fsError(e, `read ${what}`, path);
  } finally {
    closeSync(fd);
  }
}

// Cleanups to run if the process exits early (SIGINT/SIGTERM handlers call process.exit):
// locks are released and temp files holding secrets removed. SIGKILL leaves them to the
// next run's sweep and stale-lock recovery.
const cleanups = new Set<() => void>();
let exitHookInstalled = false;

export function registerCleanup(f: () => void): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of [...cleanups]) {
        try {
          c();
        } catch {
          /* exiting anyway */
        }
      }
    });
  }
  cleanups.add(f);
  return () => {
    cleanups.delete(f);
  };
}

export interface LockInfo {
  pid: number;
  host: string;
  since: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An exclusive lock: `<path>.lock` holding pid, host and time, published
 * atomically with link(). A lock left by a dead process on this host is
 * removed; otherwise the caller waits up to `timeoutMs`, then gets a
 * "locked by pid N" error. The lock is released on process exit too.
 */
export async function acquireLock(path: string, timeoutMs = 10_000): Promise<() => void> {
  const lockPath = path + '.lock';
  const deadline = Date.now() + timeoutMs;
  const me: LockInfo = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (;;) {
    // Publish the lock atomically: write it in full to a temp file, then link() it into place
    // (fails if a lock exists). A crash can never leave an empty or half-written lock.
    const tmp = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    let fd: number;
    try {
      fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (e) {
      throw fsError(e, 'create lock', lockPath);
    }
    try {
      writeSync(fd, JSON.stringify(me) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    let linked = false;
    try {
      linkSync(tmp, lockPath);
      linked = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(e, 'create lock', lockPath);
    } finally {
      unlinkSync(tmp);
    }
    if (linked) {
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        unregister();
        removeQuietly(lockPath);
      };
      const unregister = registerCleanup(release);
      return release;
    }
    let holder: LockInfo | null = null;
    try {
      holder = JSON.parse(readFileSync(lockPath, 'utf8')) as LockInfo;
    } catch {
      // Being written right now, or already removed: look again shortly.
    }
    if (holder && holder.host === me.host && !pidAlive(holder.pid)) {
      breakStaleLock(lockPath, holder);
      continue;
    }
    if (!holder && lockAgeMs(lockPath) > 5_000) {
      // Unreadable for more than a few seconds: left by an older release or damaged; no writer holds it.
      breakStaleLock(lockPath, null);
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder ? `pid ${holder.pid} on ${holder.host} since ${holder.since}` : 'another process';
      throw new VaultError('locked', `vault is locked by ${who}`, `if no vault-tool process is running there, remove ${lockPath}`);
    }
    await sleep(15 + Math.random() * 35);
  }
}

function lockAgeMs(lockPath: string): number {
  try {
    return Date.now() - statSync(lockPath).mtimeMs;
  } catch {
    return 0;
  }
}

function breakStaleLock(lockPath: string, stale: LockInfo | null): void {
  // Move it aside first, then check it is still the stale one we read: never delete a live lock.
  const aside = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
  try {
    renameSync(lockPath, aside);
  } catch {
    return;
  }
  let moved: LockInfo | null = null;
  try {
    moved = JSON.parse(readFileSync(aside, 'utf8')) as LockInfo;
  } catch {
    /* unreadable: treat as stale */
  }
  if (moved && (!stale || moved.pid !== stale.pid || moved.since !== stale.since)) {
    // We took a live lock: put it back unless someone created a new one meanwhile.
    try {
      linkSync(aside, lockPath);
    } catch {
      /* a new lock exists; the holder we displaced still runs under its own lock file */
    }
    unlinkSync(aside);
    return;
  }
  removeQuietly(aside);
}
