import { type Readable, Transform } from 'node:stream';

/**
 * What a long step says as it goes (a backup, a restore, a full read, a
 * copy, a drill's steps). The library never prints: whoever shows progress
 * (the command line, on a terminal or as JSON events) is told through an
 * `OnProgress` callback, and a library caller may pass none.
 */
export interface Progress {
  /** What the work is on, when a job has several (a component, a backup, a drill step); a new item ends the one before. */
  item?: string;
  /** What is happening: a wait with no bytes yet ("waiting for Redis BGSAVE"), or the pass the bytes belong to ("checking in full"). */
  phase?: string;
  /** Bytes of this phase so far. */
  bytes?: number;
  /** The bytes this phase moves, when known exactly (a restore's: the size its manifest records). */
  total?: number;
  /** Work counted in items rather than bytes (Secrets applied): how many are done, of how many. */
  count?: number;
  of?: number;
  /** The item failed (a drill step): it ends here, as failed; the next item goes on. */
  failed?: true;
}

export type OnProgress = (p: Progress) => void;

/** A byte count that tells `onProgress` as it grows (one call per chunk; the receiver throttles). */
export function counter(onProgress: OnProgress | undefined, base: Omit<Progress, 'bytes'>): (n: number) => void {
  let bytes = 0;
  if (!onProgress) return () => {};
  onProgress({ ...base, bytes: 0 });
  return (n) => {
    bytes += n;
    onProgress({ ...base, bytes });
  };
}

/** A stream that tells `onBytes` how much passed through it (the bytes themselves unchanged). */
export function counted(r: Readable, onBytes: (n: number) => void): Readable {
  const t = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _e, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  r.on('error', (e) => t.destroy(e));
  t.on('close', () => r.destroy());
  return r.pipe(t);
}
