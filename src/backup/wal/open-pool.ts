import type { Worker } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';
import { openChunks, type Opened } from '../../age/kernel.js';
import { makeRelease, release } from '../../age/release.js';

/**
 * Worker threads for the prefetcher's heavy work on a stored segment, so
 * that several segments are read at once beside the server's replay: the
 * read of the stored file (in a local repository), its SHA-256 (held to
 * its signed manifest before anything is opened), the opening of every
 * STREAM chunk in place (a chunk's plaintext written over its own
 * ciphertext once its tag verifies), and the plaintext written to a temp
 * file of the spool when all of it verified. A job reads into a buffer an
 * earlier job gave back: the pool's memory is a segment a worker, whatever
 * the number of segments. A file whose manifest records the SHA-256 of its
 * header and payload nonce is held to that (its start, a few hundred bytes)
 * instead of hashed whole: authenticated decryption under the key that
 * header gives is what vouches for the payload (fetch.ts, ReadOptions).
 * The calling thread parses the header
 * and unwraps the file key (the identity never leaves it: a worker gets
 * the payload key of one file), checks the page headers, and only then
 * renames the temp file into place. The workers run the kernel's own
 * source text (as age/workers.ts does), and are referenced only while
 * they have work.
 */
const SOURCE = `'use strict';
const { parentPort, MessageChannel } = require('node:worker_threads');
const c = require('node:crypto');
const fs = require('node:fs');
const openChunks = (${openChunks.toString()});
const release = (${makeRelease.toString()})(MessageChannel);
// The stored file is read into the buffer the job brings (one the calling thread gave back, reused), and opened in place:
// a chunk's plaintext is written over ciphertext already read (it starts no later than its chunk), only once its tag
// verified. One 16 MiB buffer a job, none allocated, zeroed and collected per segment.
const readInto = (buf, path, size) => {
  // The archive's own file, never one a link names; only the size its manifest gives.
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size !== size) return new Uint8Array(0);
    const b = buf && buf.byteLength >= size ? new Uint8Array(buf, 0, size) : new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const n = fs.readSync(fd, b, at, size - at, at);
      if (n === 0) break;
      at += n;
    }
    return at === size ? b : b.subarray(0, at);
  } finally {
    fs.closeSync(fd);
  }
};
parentPort.on('message', (m) => {
  const give = (msg, out) => (out ? parentPort.postMessage({ ...msg, out }, [out]) : parentPort.postMessage(msg));
  let file;
  try {
    file = m.buf ? new Uint8Array(m.buf) : readInto(m.out, m.path, m.size);
  } catch (e) {
    return give({ id: m.id, held: false, size: -1, error: String(e && e.message), own: true }, m.out);
  }
  // The buffer that goes back: the one read into (own: reused for the next jobs), or the stored file given.
  const back = file.byteLength > 0 ? file.buffer : m.out;
  const own = !m.buf;
  const reused = own && back === m.out;
  // The stored file held to its manifest: its header and payload nonce (the first m.start bytes) where the manifest records
  // their digest, else the whole file.
  const digest = (b) => c.createHash('sha256').update(b).digest('hex');
  const held =
    file.byteLength === m.size && (m.headerSha256 ? file.byteLength >= m.start && digest(file.subarray(0, m.start)) === m.headerSha256 : digest(file) === m.sha256);
  if (!held) return give({ id: m.id, held, size: file.byteLength, own, reused }, back);
  const out = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  const opened = openChunks(c, Buffer.from(m.key), 0, file.subarray(m.start), true, out, release);
  let error = '';
  if (!opened.failure && opened.last) {
    try {
      fs.writeFileSync(m.tmp, out.subarray(0, opened.len), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      error = String(e && e.message);
    }
  }
  give({ id: m.id, held, size: file.byteLength, opened, error, own, reused }, back);
});
`;

export interface OpenJob {
  /** The whole stored (age) file, given up to the worker; or its path, which the worker reads (a local repository). */
  file: ArrayBuffer | string;
  /** Its expected size (the signed manifest's). */
  size: number;
  /** What it is held to before it is opened: the whole file's SHA-256, or its first `start` bytes' (header and payload nonce; the manifest's headerSha256). */
  check: { sha256: string } | { headerSha256: string };
  /** Where the payload's first chunk starts (after the header and the payload nonce). */
  start: number;
  /** The file's payload key. */
  key: Uint8Array;
  /** The temp file the plaintext goes to when every chunk verified (made new). */
  tmp: string;
}

export interface OpenResult {
  /** The stored file was the one its manifest describes (OpenJob.check): only then was it opened. */
  held: boolean;
  size: number;
  /** Absent when the stored file was not the expected one (nothing opened). */
  opened?: Opened;
  /** The plaintext (its first opened.len bytes). */
  plaintext?: Uint8Array;
  /** Why the temp file could not be written. */
  error?: string;
  /** The stored file was read into a buffer an earlier job gave back (no new one made). */
  reused?: boolean;
}

export interface OpenPool {
  open(job: OpenJob): Promise<OpenResult>;
  /** Gives a result's plaintext buffer back, for the next job (done with it). */
  recycle(plaintext: Uint8Array | undefined): void;
  readonly size: number;
  close(): Promise<void>;
}

const workerThreads = () => process.getBuiltinModule('node:worker_threads') as typeof WorkerThreads;

export function openPool(size: number): OpenPool {
  const { Worker } = workerThreads();
  const idle: Worker[] = [];
  const all: Worker[] = [];
  const waiting: ((w: Worker | null) => void)[] = [];
  let broken: Error | null = null;
  let closing = false;
  let ids = 0;
  /** Buffers given back, for the next jobs to read into (as many as there are workers). */
  const spare: ArrayBuffer[] = [];
  /** The buffers jobs read into (a stored file given to a job, read by the calling thread, is not kept). */
  const mine = new WeakSet<ArrayBuffer>();
  /** A buffer a job is done with: kept for the next, or its memory freed now (release.ts), not at the next collection. */
  const keep = (b: ArrayBuffer) => {
    if (mine.has(b) && spare.length < size) spare.push(b);
    else release(new Uint8Array(b));
  };
  const pending = new Map<number, { resolve: (r: OpenResult) => void; reject: (e: Error) => void; worker: Worker }>();
  const give = (w: Worker) => {
    const next = waiting.shift();
    if (next) return next(w);
    w.unref();
    idle.push(w);
  };
  for (let i = 0; i < size; i++) {
    const w = new Worker(SOURCE, { eval: true });
    w.on('message', (m: { id: number; held: boolean; size: number; opened?: Opened; out?: ArrayBuffer; error?: string; own?: boolean; reused?: boolean }) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      give(w);
      if (m.out && m.own) mine.add(m.out);
      if (m.out && !m.opened) keep(m.out);
      p.resolve({
        held: m.held,
        size: m.size,
        ...(m.opened ? { opened: m.opened, plaintext: new Uint8Array(m.out!, 0, m.opened.len) } : {}),
        ...(m.error ? { error: m.error } : {}),
        reused: m.reused === true,
      });
    });
    // A worker lost fails the pool: every job now and to come (the prefetcher then leaves each segment to restore_command).
    const lost = (e: Error) => {
      if (closing) return;
      broken ??= e;
      for (const p of pending.values()) p.reject(broken);
      pending.clear();
      for (const r of waiting.splice(0)) r(null);
    };
    w.on('error', lost);
    w.on('exit', (code) => lost(new Error(`a worker thread exited (${code})`)));
    all.push(w);
    give(w);
  }
  return {
    size,
    async open(job) {
      if (broken) throw broken;
      const w = idle.pop() ?? (await new Promise<Worker | null>((r) => waiting.push(r)));
      if (!w || broken) throw broken ?? new Error('the worker threads are gone');
      w.ref();
      const id = ++ids;
      return new Promise<OpenResult>((resolve, reject) => {
        pending.set(id, { resolve, reject, worker: w });
        const where = typeof job.file === 'string' ? { path: job.file } : { buf: job.file };
        // A job that reads the file itself reads it into a buffer given back before (the stored file given is its own).
        const out = typeof job.file === 'string' ? spare.pop() : undefined;
        w.postMessage({ id, ...where, out, size: job.size, ...job.check, start: job.start, key: job.key, tmp: job.tmp }, [
          ...(typeof job.file === 'string' ? [] : [job.file]),
          ...(out ? [out] : []),
        ]);
      });
    },
    recycle(plaintext) {
      if (plaintext) keep(plaintext.buffer as ArrayBuffer);
    },
    async close() {
      closing = true;
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}
