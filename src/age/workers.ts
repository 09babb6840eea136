import type { Worker } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';
import { openChunks, sealChunks, type Opened } from './kernel.js';
import { makeRelease } from './release.js';

// Fetched when a pool first starts: most commands never stream, and loading worker_threads costs start-up time.
const workerThreads = () => process.getBuiltinModule('node:worker_threads') as typeof WorkerThreads;

/**
 * A small pool of worker threads that seal or open batches of STREAM chunks
 * for one stream (each has the stream's payload key). The batches live in
 * one SharedArrayBuffer the stream owns (see pump.ts): a job names a slot,
 * the worker reads the slot's input and writes its output in place, so
 * nothing is copied or allocated per batch on either side. The worker's code
 * is the kernel's own source text, evaluated in the worker, so the same code
 * runs from the sources and from the bundle, with no file to find. A worker
 * is referenced only while it has work, so an abandoned idle stream never
 * holds the process open.
 */
const SOURCE = `'use strict';
const { parentPort, workerData, MessageChannel } = require('node:worker_threads');
const c = require('node:crypto');
const sealChunks = (${sealChunks.toString()});
const openChunks = (${openChunks.toString()});
const release = (${makeRelease.toString()})(MessageChannel);
const { mem, inCap, outCap, seal } = workerData;
const key = Buffer.from(workerData.key);
const stride = inCap + outCap;
parentPort.on('message', (m) => {
  const input = new Uint8Array(mem, m.slot * stride, m.len);
  const out = new Uint8Array(mem, m.slot * stride + inCap, outCap);
  if (seal) parentPort.postMessage({ id: m.id, len: sealChunks(c, key, m.counter, input, m.final, out, release) });
  else parentPort.postMessage({ id: m.id, opened: openChunks(c, key, m.counter, input, m.final, out, release) });
});
`;

/** One batch: the slot holding it, its input length, its first chunk's counter, whether it ends the stream. */
export interface Job {
  slot: number;
  len: number;
  counter: number;
  final: boolean;
}

/** Sealing: the bytes written to the slot's output. Opening: what verified. */
export interface Done {
  len: number;
  opened?: Opened;
}

export interface Memory {
  mem: SharedArrayBuffer;
  inCap: number;
  outCap: number;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, { resolve: (d: Done) => void; reject: (e: Error) => void }>;
}

export class ChunkWorkers {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private closed = false;

  constructor(size: number, key: Uint8Array, seal: boolean, memory: Memory) {
    for (let i = 0; i < size; i++) {
      // A small heap: the kernel allocates little that outlives a chunk (the cipher's buffers are released at once).
      const worker = new (workerThreads().Worker)(SOURCE, {
        eval: true,
        workerData: { key: Uint8Array.from(key), seal, ...memory },
        resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
      });
      const slot: Slot = { worker, jobs: new Map() };
      worker.unref();
      worker.on('message', (m: { id: number; len?: number; opened?: Opened }) => {
        const job = slot.jobs.get(m.id);
        if (!job) return;
        slot.jobs.delete(m.id);
        if (slot.jobs.size === 0) worker.unref();
        job.resolve(m.opened ? { len: m.opened.len, opened: m.opened } : { len: m.len! });
      });
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
      slot.worker.postMessage({ id, ...job });
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
