import { closeSync, constants, fsyncSync, linkSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { hostname } from 'node:os';
import { VaultError } from './errors.js';

const TMP = /^\.(.+)\.(\d+)\.[0-9a-f]{8}\.tmp$/;
const LOCK_TMP = /^(.+)\.lock\.(\d+)\.[0-9a-f]{8}\.tmp$/;

function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a file so that a crash at any instant leaves either the old or the
 * new content: temp file in the same folder (mode 0600), fsync, rename,
 * fsync the folder. `exclusive` refuses to replace an existing file.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, opts: { exclusive?: boolean; mode?: number } = {}): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, opts.mode ?? 0o600);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  try {
    if (opts.exclusive && exists(path)) throw new VaultError('exists', `${path} already exists; refusing to overwrite it`);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
  fsyncDir(dir);
}

export function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
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

/** Removes temp files a killed writer left beside `path` (only those of dead processes). */
export function sweepTempFiles(path: string): void {
  const dir = dirname(path);
  const base = basename(path);
  for (const name of readdirSync(dir)) {
    const m = TMP.exec(name) ?? LOCK_TMP.exec(name);
    if (m && m[1] === base && !pidAlive(Number(m[2]))) {
      try {
        unlinkSync(join(dir, name));
      } catch {
        /* raced with another sweeper */
      }
    }
  }
}

export function readFileOr(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new VaultError('not-found', `${what} not found: ${path}`);
    if (code === 'EACCES') throw new VaultError('io', `${what} is not readable: ${path} (permission denied)`);
    if (code === 'EISDIR') throw new VaultError('usage', `${what} is a folder: ${path}`);
    throw new VaultError('io', `cannot read ${what} ${path}: ${code ?? (e as Error).message}`);
  }
}

export interface LockInfo {
  pid: number;
  host: string;
  since: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An exclusive lock: `<path>.lock` created with O_EXCL, holding pid, host and
 * time. A lock left by a dead process on this host is removed; otherwise the
 * caller waits up to `timeoutMs`, then gets a "locked by pid N" error.
 */
export async function acquireLock(path: string, timeoutMs = 10_000): Promise<() => void> {
  const lockPath = path + '.lock';
  const deadline = Date.now() + timeoutMs;
  const me: LockInfo = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (;;) {
    // Publish the lock atomically: write it in full to a temp file, then link() it into place
    // (fails if a lock exists). A crash can never leave an empty or half-written lock.
    const tmp = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
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
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new VaultError('io', `cannot create lock ${lockPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    } finally {
      unlinkSync(tmp);
    }
    if (linked) {
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          unlinkSync(lockPath);
        } catch {
          /* removed by hand */
        }
      };
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
  try {
    unlinkSync(aside);
  } catch {
    /* gone */
  }
}
