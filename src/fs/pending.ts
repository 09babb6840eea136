import { closeSync, createWriteStream, fsyncSync, linkSync, openSync, renameSync, unlinkSync } from 'node:fs';
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
  stream: Writable;
  /** Makes the file visible under its name; returns where it is. */
  commit(): Promise<string>;
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
  const unregister = registerCleanup(() => removeQuietly(tmp));
  const stream = createWriteStream(tmp, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 });
  return {
    stream,
    explain: async (e) => fsError(e, 'write', final),
    async commit() {
      try {
        const fd = openSync(tmp, 'r');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
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
        return final;
      } catch (e) {
        removeQuietly(tmp);
        throw fsError(e, 'write', final);
      } finally {
        unregister();
      }
    },
    async abort() {
      stream.destroy();
      removeQuietly(tmp);
      unregister();
    },
  };
}
