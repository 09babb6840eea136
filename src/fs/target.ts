import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, realpathSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { fsError } from './errors.js';

/**
 * The file a path names once a symbolic link in its last part is followed
 * (a dangling link: where it points). Writes go there, so a vault, key or
 * output kept behind a link is replaced in its real folder, and the lock,
 * log and temp files of one vault are the same whichever path names it.
 */
export function resolveTarget(path: string): string {
  const given = path;
  for (let hops = 0; hops < 40; hops++) {
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch {
      return path;
    }
    if (!st.isSymbolicLink()) return path;
    try {
      // The system's realpath: Node's own walks /dev/stdin to a path "/proc/N/fd/pipe:[M]" that is no file.
      return realpathSync.native(path);
    } catch {
      const to = readlinkSync(path);
      // /dev/stdin, /dev/fd/N, <(…): a pipe or socket the kernel names "pipe:[N]", not a path: it is read (or refused) as given.
      if (/^[a-z_]+:\[[0-9]+\]$|^anon_inode:/.test(to)) return given;
      path = resolve(dirname(path), to);
    }
  }
  throw new VaultError('usage', `cannot resolve ${path}: too many symbolic links`);
}

/** What a non-regular file is, for messages. */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Refuses to replace anything but a regular file (a device, a pipe, a socket) at `path` (links followed). */
export function checkRegularTarget(path: string): void {
  let st: Stats;
  try {
    st = lstatSync(resolveTarget(path));
  } catch {
    return;
  }
  if (!st.isFile() && !st.isDirectory()) throw new VaultError('usage', `refusing to write ${path}: it is ${fileKind(st)}, not a regular file`);
}

/**
 * The first `n` bytes of a regular file (null when it does not exist).
 * Opened without blocking, so a named pipe never hangs the reader; anything
 * but a regular file is refused.
 */
export function readHead(path: string, what: string, n = 4096): Buffer | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError(e, `read ${what}`, path);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new VaultError('usage', `${what} ${path} is ${fileKind(st)}, not a regular file`);
    const b = Buffer.alloc(Math.min(n, st.size));
    const got = b.length ? readSync(fd, b, 0, b.length, 0) : 0;
    return b.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * The vault and key files a path pair names, links followed: the lock, the
 * log, temp files, `.new` and `.old-` keys all live beside the real files,
 * whichever path (or link) named them, and writes replace the real files.
 */
export function resolvePaths<P extends { vaultFile: string; keyFile: string }>(paths: P): P {
  return { ...paths, vaultFile: resolveTarget(paths.vaultFile), keyFile: resolveTarget(paths.keyFile) };
}
