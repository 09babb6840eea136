import { close, closeSync, constants, fsync, openSync, rename, write, writev } from 'node:fs';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import { VaultError } from '../errors/errors.js';
import { checkWritableTarget, fsyncDir, removeQuietly, tempNameFor } from './atomic.js';
import { registerCleanup } from './cleanup.js';
import { exists } from './dirs.js';
import { fsError } from './errors.js';

export interface AtomicStreamOptions {
  /** Refuse to replace an existing file (checked before the first byte and again just before the rename). */
  exclusive?: boolean;
  /** Mode of the new file (default 0600). */
  mode?: number;
  /** Aborting removes the temp file and fails the stream. */
  signal?: AbortSignal;
}

/**
 * The streaming counterpart of writeFileAtomic, for files too big to hold
 * in memory (backups): bytes go to a temp file beside `path` (mode 0600);
 * when the stream ends they are fsynced, the temp file is renamed over
 * `path` and the folder fsynced, and only then does the stream finish. An
 * error, a destroy, an abort or an exit on a signal removes the temp file;
 * a SIGKILL leaves at most the temp file, which sweepTempFiles removes on a
 * later run. Nothing ever appears under `path` but a whole file.
 */
export function createAtomicWriteStream(path: string, opts: AtomicStreamOptions = {}): Writable {
  checkWritableTarget(path, Boolean(opts.exclusive));
  const tmp = tempNameFor(path);
  let fd: number | null;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, opts.mode ?? 0o600);
  } catch (e) {
    throw fsError(e, 'write', path);
  }
  const unregister = registerCleanup(() => removeQuietly(tmp));
  let committed = false;
  const failed = (e: unknown) => fsError(e, 'write', path);

  const writeAll = (bufs: Buffer[], cb: (e?: Error | null) => void): void => {
    const step = (err: Error | null, n: number): void => {
      if (err) return cb(failed(err));
      // Drop what was written; a short write goes round again.
      while (n > 0 && bufs.length) {
        const b = bufs[0]!;
        if (n >= b.length) {
          n -= b.length;
          bufs.shift();
        } else {
          bufs[0] = b.subarray(n);
          n = 0;
        }
      }
      if (!bufs.length) return cb();
      if (bufs.length === 1) write(fd!, bufs[0]!, 0, bufs[0]!.length, null, step);
      else writev(fd!, bufs.slice(0, 1024), step);
    };
    step(null, 0);
  };

  return new Writable({
    highWaterMark: 1 << 20,
    ...(opts.signal ? { signal: opts.signal } : {}),
    write(chunk: Buffer, _enc, cb) {
      writeAll([chunk], cb);
    },
    writev(chunks, cb) {
      writeAll(
        chunks.map((c) => c.chunk as Buffer),
        cb,
      );
    },
    final(cb) {
      const f = fd!;
      fsync(f, (e) => {
        if (e) return cb(failed(e));
        // Destroyed meanwhile: the temp file is already gone.
        if (fd === null) return cb(new VaultError('interrupted', `cannot write ${path}: the stream was destroyed`));
        fd = null;
        close(f, (e2) => {
          if (e2) return cb(failed(e2));
          if (opts.exclusive && exists(path)) return cb(new VaultError('exists', `${path} already exists; refusing to overwrite it`));
          rename(tmp, path, (e3) => {
            if (e3) return cb(failed(e3));
            committed = true;
            unregister();
            try {
              fsyncDir(dirname(path));
            } catch (e4) {
              return cb(failed(e4));
            }
            cb();
          });
        });
      });
    },
    destroy(err, cb) {
      // At once, so that whoever sees the stream fail finds no temp file left.
      if (fd !== null) {
        try {
          closeSync(fd);
        } catch {
          /* closing only to remove it */
        }
        fd = null;
      }
      if (!committed) removeQuietly(tmp);
      unregister();
      cb(err);
    },
  });
}
