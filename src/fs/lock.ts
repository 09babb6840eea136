import { closeSync, constants, fsyncSync, linkSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomHex } from './random.js';
import { hostname } from 'node:os';
import { VaultError } from '../errors/errors.js';
import { pidAlive, removeQuietly } from './atomic.js';
import { registerCleanup } from './cleanup.js';
import { fsError } from './errors.js';
import { LIMITS, readFileCapped } from './read.js';

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
 * "locked by pid N" error naming `what` is locked. The lock is released on
 * process exit too.
 */
export async function acquireLock(path: string, timeoutMs = 10_000, what = 'vault'): Promise<() => void> {
  const lockPath = path + '.lock';
  const deadline = Date.now() + timeoutMs;
  const me: LockInfo = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (;;) {
    // Publish the lock atomically: write it in full to a temp file, then link() it into place
    // (fails if a lock exists). A crash can never leave an empty or half-written lock.
    const tmp = `${lockPath}.${process.pid}.${randomHex(4)}.tmp`;
    let fd: number;
    try {
      fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (e) {
      throw fsError(e, 'create lock', lockPath);
    }
    try {
      const buf = Buffer.from(JSON.stringify(me) + '\n');
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } catch (e) {
      // A full disk or a quota: take the temp file back, and say what failed.
      closeSync(fd);
      removeQuietly(tmp);
      throw fsError(e, 'create lock', lockPath);
    }
    closeSync(fd);
    let linked = false;
    try {
      linkSync(tmp, lockPath);
      linked = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(e, 'create lock', lockPath);
    } finally {
      removeQuietly(tmp);
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
      holder = JSON.parse(readFileCapped(lockPath, 'lock', LIMITS.lock).toString('utf8')) as LockInfo;
    } catch {
      // Being written right now, or already removed: look again shortly.
    }
    if (holder && holder.host === me.host && !pidAlive(holder.pid)) {
      breakStaleLock(lockPath, holder);
      continue;
    }
    if (!holder && !lockShaped(lockPath)) {
      // Not a lock at all (a key file, a vault, anything a user named so): never removed, whatever its age.
      throw new VaultError(
        'locked',
        `${what} cannot be locked: ${lockPath} is in the way, and it is not a lock file vault-tool wrote`,
        `move ${lockPath} elsewhere (look first at what it holds: vault-tool never removes it)`,
      );
    }
    if (!holder && lockAgeMs(lockPath) > 5_000) {
      // Unreadable for more than a few seconds: left by an older release or damaged; no writer holds it.
      breakStaleLock(lockPath, null);
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder ? `pid ${holder.pid} on ${holder.host} since ${holder.since}` : 'another process';
      throw new VaultError('locked', `${what} is locked by ${who}`, `if no vault-tool process is running there, remove ${lockPath}`);
    }
    await sleep(15 + Math.random() * 35);
  }
}

/**
 * Whether the file at a lock's path can be a lock, whole or cut short: empty,
 * or one line of JSON begun (`{"pid":…`). Anything else there (a key file,
 * a vault, a pretty-printed JSON file named `….lock`) is never broken as a
 * stale lock. A file that is gone meanwhile counts as one (the next look
 * decides).
 */
function lockShaped(lockPath: string): boolean {
  let head: Buffer;
  try {
    head = readFileCapped(lockPath, 'lock', LIMITS.lock);
  } catch (e) {
    // Gone (released meanwhile) or not readable by this user: as before, its age decides. A folder, a pipe, larger than any lock: not one.
    return !(e instanceof VaultError) || e.kind === 'not-found' || e.kind === 'io';
  }
  const text = head.toString('utf8');
  // One line of JSON begun (a lock is written as one line, whatever the order of its fields), or nothing.
  return text.length === 0 || (text.startsWith('{') && !text.replace(/\n$/, '').includes('\n'));
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
  const aside = `${lockPath}.${process.pid}.${randomHex(4)}.stale`;
  try {
    renameSync(lockPath, aside);
  } catch {
    return;
  }
  let moved: LockInfo | null = null;
  try {
    moved = JSON.parse(readFileCapped(aside, 'lock', LIMITS.lock).toString('utf8')) as LockInfo;
  } catch {
    /* unreadable: treat as stale */
  }
  // What was moved aside is not the stale lock read (a live lock, or a file that is no lock at all): put it back.
  if ((moved && (!stale || moved.pid !== stale.pid || moved.since !== stale.since)) || (!moved && !lockShaped(aside))) {
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
