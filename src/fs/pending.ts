import { closeSync, createWriteStream, fstatSync, fsyncSync, linkSync, openSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { VaultError } from '../errors/errors.js';
import { checkWritableTarget, fsyncDir, refuseAnyName, removeQuietly, sweepTempFiles, tempNameFor } from './atomic.js';
import { registerCleanup } from './cleanup.js';
import { fsError } from './errors.js';
import { resolveTarget } from './target.js';

/**
 * A streaming write whose commit is the caller's to decide: bytes go to
 * `stream`, and the file appears under its name only when `commit` is
 * called (after the caller has checked what was written: a backup's dump
 * and its read-back, a restore's second pass). `abort` removes what was
 * written. The deferred counterpart of `createAtomicWriteStream` (which
 * commits when its stream ends), for backups and restores.
 */
export interface PendingFile {
  /** Where the bytes go (made on first use). */
  stream: Writable;
  /**
   * A local file's descriptor, for a writer that writes at explicit offsets
   * instead of through `stream` (never both); it stays the file's: the
   * commit syncs and closes it, the abort closes it.
   */
  fd?: number;
  /**
   * Makes the file visible under its name; returns where it is. `size`:
   * the bytes the caller wrote through `fd`; the file must hold exactly
   * that many, and the name must then be the very file written (the same
   * inode), or the commit fails and nothing is kept.
   */
  commit(o?: { size?: number }): Promise<string>;
  abort(): Promise<void>;
  /** What a failed write of `stream` means, as one error naming the file (a full disk, a failed upload). */
  explain(e: unknown): Promise<VaultError>;
}

export interface PendingFileOptions {
  /** Refuse to replace an existing file: the commit is a link() that fails if the name was taken meanwhile. */
  exclusive: boolean;
  /** The check of the target before anything is written (default: the folder exists, the target is a regular file or nothing, and with `exclusive` nothing). */
  check?: (path: string) => void;
  /** The temp file's path beside the target (default: `tempNameFor`, which `sweepTempFiles` knows). */
  temp?: (path: string) => string;
}

/**
 * A local file written through a temp file beside it (0600): fsync, then a
 * rename (or, exclusive, a link that fails if the name was taken
 * meanwhile), then an fsync of the folder. A link is written through to the
 * file it names. An abort, an error or an exit removes the temp file; a
 * SIGKILL leaves one the next write sweeps.
 */
export function createPendingFile(path: string, o: PendingFileOptions): PendingFile {
  if (o.exclusive) refuseAnyName(path);
  const final = resolveTarget(path);
  (o.check ?? ((p: string) => checkWritableTarget(p, o.exclusive)))(final);
  sweepTempFiles(final);
  const tmp = o.temp ? o.temp(final) : tempNameFor(final);
  // Opened now: a folder that cannot be written fails here, before anything runs, not later on a stream nobody listens to yet.
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o600);
  } catch (e) {
    throw fsError(e, 'write', final);
  }
  const unregister = registerCleanup(() => removeQuietly(tmp));
  let stream: Writable | undefined;
  const close = () => {
    if (fd === undefined) return;
    const f = fd;
    fd = undefined;
    try {
      closeSync(f);
    } catch {
      /* already closed */
    }
  };
  return {
    get stream() {
      stream ??= createWriteStream(tmp, { fd: fd!, autoClose: false, highWaterMark: 1 << 20 });
      return stream;
    },
    get fd() {
      return fd;
    },
    explain: async (e) => fsError(e, 'write', final),
    async commit(c = {}) {
      try {
        if (fd === undefined) throw new VaultError('io', `${final}: the write was already ended`);
        fsyncSync(fd);
        const st = fstatSync(fd);
        if (c.size !== undefined && st.size !== c.size)
          throw new VaultError('io', `cannot write ${final}: it holds ${st.size} bytes, not the ${c.size} written; nothing was kept`);
        if (o.exclusive) {
          try {
            linkSync(tmp, final);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new VaultError('exists', `${final} already exists; refusing to overwrite it`);
            throw e;
          }
          unlinkSync(tmp);
        } else renameSync(tmp, final);
        fsyncDir(dirname(final));
        // The name now holds the file written here, not one put in its place meanwhile.
        const now = statSync(final);
        if (now.ino !== st.ino || now.dev !== st.dev) throw new VaultError('io', `cannot write ${final}: another file took its place while it was written`);
        return final;
      } catch (e) {
        removeQuietly(tmp);
        throw fsError(e, 'write', final);
      } finally {
        close();
        unregister();
      }
    },
    async abort() {
      stream?.destroy();
      close();
      removeQuietly(tmp);
      unregister();
    },
  };
}
