import type { Worker } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';

// Fetched when a pool first starts: most commands never stream, and loading worker_threads costs start-up time.
const workerThreads = () => process.getBuiltinModule('node:worker_threads') as typeof WorkerThreads;
import { openChunks, sealChunks, type Opened } from './kernel.js';

/**
 * A small pool of worker threads that seal or open batches of STREAM chunks
 * for one stream (each has the stream's payload key). The worker's code is
 * the kernel's own source text, evaluated in the worker, so the same code
 * runs from the sources and from the bundle, with no file to find. Input
 * buffers go to a worker and come back (transferred, not copied); output
 * buffers are the worker's, handed over. A worker is referenced only while
 * it has work, so an abandoned idle stream never holds the process open.
 */
const SOURCE = `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const c = require('node:crypto');
const sealChunks = (${sealChunks.toString()});
const openChunks = (${openChunks.toString()});
const key = Buffer.from(workerData.key);
parentPort.on('message', (m) => {
  const input = new Uint8Array(m.buf, 0, m.len);
  if (m.seal) {
    const out = sealChunks(c, key, m.counter, input, m.final);
    parentPort.postMessage({ id: m.id, buf: m.buf, out }, [m.buf, out.buffer]);
  } else {
    const r = openChunks(c, key, m.counter, input, m.final);
    parentPort.postMessage({ id: m.id, buf: m.buf, out: r.out, chunks: r.chunks, last: r.last, failure: r.failure, at: r.at }, [m.buf, r.out.buffer]);
  }
});
`;

export interface Job {
  seal: boolean;
  counter: number;
  /** The batch: a whole ArrayBuffer the caller gives up until the job settles (it comes back as `buf`). */
  buf: ArrayBuffer;
  len: number;
  final: boolean;
}

export interface Done {
  buf: ArrayBuffer;
  sealed?: Buffer;
  opened?: Opened;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, { resolve: (d: Done) => void; reject: (e: Error) => void }>;
}

export class ChunkWorkers {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private closed = false;

  constructor(size: number, key: Uint8Array) {
    for (let i = 0; i < size; i++) {
      // A small young generation: the cipher's per-chunk buffers are freed at the next scavenge instead of piling up.
      const worker = new (workerThreads().Worker)(SOURCE, {
        eval: true,
        workerData: { key: Uint8Array.from(key) },
        resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
      });
      const slot: Slot = { worker, jobs: new Map() };
      worker.unref();
      worker.on(
        'message',
        (m: { id: number; buf: ArrayBuffer; out: Uint8Array; chunks?: number; last?: boolean; failure?: Opened['failure']; at?: number }) => {
          const job = slot.jobs.get(m.id);
          if (!job) return;
          slot.jobs.delete(m.id);
          if (slot.jobs.size === 0) worker.unref();
          const out = Buffer.from(m.out.buffer, m.out.byteOffset, m.out.byteLength);
          if (m.chunks === undefined) job.resolve({ buf: m.buf, sealed: out });
          else job.resolve({ buf: m.buf, opened: { out, chunks: m.chunks, last: m.last!, failure: m.failure!, at: m.at! } });
        },
      );
      const fail = (e: Error) => {
        for (const j of slot.jobs.values()) j.reject(e);
        slot.jobs.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (!this.closed) fail(new Error(`stream worker exited with code ${code}`));
      });
      this.slots.push(slot);
    }
  }

  run(job: Job): Promise<Done> {
    if (this.closed) return Promise.reject(new Error('stream workers closed'));
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.jobs.size < slot.jobs.size) slot = s;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.jobs.set(id, { resolve, reject });
      if (slot.jobs.size === 1) slot.worker.ref();
      slot.worker.postMessage({ id, ...job }, [job.buf]);
    });
  }

  /** Stops every worker; jobs still running are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.slots) s.jobs.clear();
    await Promise.allSettled(this.slots.map((s) => s.worker.terminate()));
  }
}
