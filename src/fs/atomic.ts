import { closeSync, constants, fsyncSync, lstatSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { randomHex } from './random.js';
import { basename, dirname, join } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { registerCleanup } from './cleanup.js';
import { exists, firstNonFolder } from './dirs.js';
import { fsError } from './errors.js';
import { fileKind, resolveTarget } from './target.js';

const TMP = /^\.(.+)\.(\d+)\.[0-9a-f]{8}\.tmp$/;
const LOCK_TMP = /^(.+)\.lock\.(\d+)\.[0-9a-f]{8}\.(?:tmp|stale)$/;

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The temp name writeFileAtomic uses beside `path`; sweepTempFiles removes those of dead processes. */
export const tempNameFor = (path: string) => join(dirname(path), `.${basename(path)}.${process.pid}.${randomHex(4)}.tmp`);

/**
 * Refuses a symbolic link where the tool writes a file of its own that it
 * names itself beside a path the user gave (`<key>.new`, pending evidence,
 * a drill journal, a staging marker): a link planted there would send the
 * write to whatever it names (a vault, a key, any file the user can write).
 * Only paths the user names are followed (see resolveTarget).
 */
export function refuseLink(path: string, what: string, verb: 'write' | 'read' = 'write'): void {
  let link = false;
  try {
    link = lstatSync(path).isSymbolicLink();
  } catch {
    return;
  }
  if (link)
    throw new VaultError('exists', `refusing to ${verb} ${what} ${path}: it is a symbolic link, and vault-tool never ${verb}s its own files through one`, {
      hint: 'vault-tool made no such link: look at where it points, then remove it',
    });
}

/**
 * For a write that must create a new file: any name already there counts,
 * a link that points nowhere too (following it would create the file it
 * names, wherever that is).
 */
export function refuseAnyName(path: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (st.isSymbolicLink())
    throw new VaultError('exists', `${path} already exists (a symbolic link); refusing to create a file through it`, {
      hint: 'look at where the link points, then remove it or choose another name',
    });
  throw new VaultError('exists', `${path} already exists; refusing to overwrite it`);
}

export interface AtomicWriteOptions {
  /** Refuse to replace an existing file (checked before anything is written, and again just before the rename). */
  exclusive?: boolean;
  mode?: number;
  /**
   * A file the tool names itself (see refuseLink): a link there is refused,
   * never written through. Named for the message ("the pending evidence").
   */
  ownFile?: string;
}

/**
 * Writes a file so that a crash at any instant leaves either the old or the
 * new content: temp file in the same folder (mode 0600), fsync, rename,
 * fsync the folder. `exclusive` refuses to replace an existing file (checked
 * before anything is written, and again just before the rename).
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): void {
  if (opts.ownFile !== undefined) refuseLink(path, opts.ownFile);
  if (opts.exclusive) refuseAnyName(path);
  checkWritableTarget(path, Boolean(opts.exclusive));
  // A link the user named is written through: the file it names is replaced in its own folder, the link kept.
  // The tool's own files are never links (refused above); the rename replaces the name itself.
  if (opts.ownFile === undefined) path = resolveTarget(path);
  const dir = dirname(path);
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
  if (!st.isFile()) throw new VaultError('usage', `refusing to write ${path}: it is ${fileKind(st)}, not a regular file`);
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
