import type { Worker } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';
import { openChunks, sealChunks, type Opened } from './kernel.js';
import { makeRelease } from './release.js';

// Fetched when a pool first starts: most commands never stream, and loading worker_threads costs start-up time.
const workerThreads = () => process.getBuiltinModule('node:worker_threads') as typeof WorkerThreads;

/** How much lower than the calling thread the workers run (nice values: 0 to 19, higher runs later). */
export const WORKER_NICE = 5;

/**
 * Lowers the calling thread's priority by `by` nice steps (at most to 19),
 * on Linux, where a nice value belongs to each thread; elsewhere, or where
 * it is refused, the thread keeps its priority. Self-contained (its
 * arguments only): the workers run its source text.
 */
export function lowerPriority(
  os: { getPriority(pid?: number): number; setPriority(pid: number, priority: number): void },
  fs: { readlinkSync(path: string): string },
  by: number,
): void {
  try {
    // "<pid>/task/<tid>": this thread's id, which setpriority(2) takes for a thread on Linux.
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return;
    os.setPriority(tid, Math.min(19, os.getPriority(tid) + by));
  } catch {
    // No /proc/thread-self, or not allowed: the same priority as the calling thread.
  }
}

/**
 * Lowers the scheduling weight of this process's session by `by` nice steps
 * (at most to 19) where Linux schedules a session's processes as one group
 * (autogroup: /proc/self/autogroup), and only when this process leads its
 * session (started by setsid, the group is its own alone). Nice values
 * weigh threads within a group, not against other groups: a background
 * process in a session of its own otherwise takes as much of the machine
 * as the server it works for. Any process may lower its own group's
 * weight; the kernel allows one such change a second on the whole machine,
 * and a refused one leaves the weight as it was. Elsewhere (no autogroup, or
 * a process in a cgroup of its own), nothing changes.
 */
export function lowerSessionPriority(
  fs: { readFileSync(path: string, encoding: 'utf8'): string; writeFileSync(path: string, data: string): void },
  by: number,
): void {
  try {
    // /proc/self/stat: "pid (comm) state ppid pgrp session …"; comm may hold spaces and parentheses, so read after the last ')'.
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const [pid] = stat.split(' ', 1);
    const session = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3];
    if (!pid || session !== pid) return;
    const now = /nice (-?\d+)/.exec(fs.readFileSync('/proc/self/autogroup', 'utf8'));
    if (!now) return;
    fs.writeFileSync('/proc/self/autogroup', String(Math.min(19, Number(now[1]) + by)));
  } catch {
    // No autogroup, not allowed, or another change within the second: the weight stays.
  }
}

/**
 * A small pool of worker threads that seal or open batches of STREAM chunks
 * for one stream (each has the stream's payload key). A batch is one
 * ArrayBuffer (see pump.ts): its input, then room for its output. It is
 * transferred to a worker, which writes the output in place and transfers
 * it back, so nothing is copied or allocated per batch on either side (a
 * SharedArrayBuffer would spare the transfers, but V8 copies into shared
 * memory with relaxed atomics, several times slower than memcpy). The
 * worker's code is the kernel's own source text, evaluated in the worker,
 * so the same code runs from the sources and from the bundle, with no file
 * to find. A worker is referenced only while it has work, so an abandoned
 * idle stream never holds the process open.
 *
 * The workers run WORKER_NICE steps below the calling thread: the threads
 * that move the bytes (the calling thread, libuv's pool, and the process
 * feeding a pipe or reading from one) are what a run waits on, and a worker
 * that takes a core from them stalls the whole chain, while a worker that
 * waits for a core loses nothing as long as slots are queued for it (when
 * the workers are what the run waits on, the others are blocked and the
 * workers have the cores). Where the process has a scheduling group of
 * its own (a session under autogroup, a container's cgroup), nice values
 * weigh threads within it: this shares the run's CPU differently and takes
 * nothing from other processes; elsewhere the workers also give way to
 * other processes' threads at the caller's priority.
 */
const SOURCE = `'use strict';
const { parentPort, workerData, MessageChannel } = require('node:worker_threads');
const c = require('node:crypto');
const sealChunks = (${sealChunks.toString()});
const openChunks = (${openChunks.toString()});
const release = (${makeRelease.toString()})(MessageChannel);
const { inCap, outCap, seal, nice } = workerData;
(${lowerPriority.toString()})(require('node:os'), require('node:fs'), nice);
const key = Buffer.from(workerData.key);
parentPort.on('message', (m) => {
  const input = new Uint8Array(m.buf, 0, m.len);
  const out = new Uint8Array(m.buf, inCap, outCap);
  if (seal) parentPort.postMessage({ id: m.id, buf: m.buf, len: sealChunks(c, key, m.counter, input, m.final, out, release) }, [m.buf]);
  else parentPort.postMessage({ id: m.id, buf: m.buf, opened: openChunks(c, key, m.counter, input, m.final, out, release) }, [m.buf]);
});
`;

/** One batch: its memory (given up until the job settles), its input length, its first chunk's counter, whether it ends the stream. */
export interface Job {
  buf: ArrayBuffer;
  len: number;
  counter: number;
  final: boolean;
}

/** The batch's memory, back; sealing: the bytes written to its output; opening: what verified. */
export interface Done {
  buf: ArrayBuffer;
  len: number;
  opened?: Opened;
}

/** Where a batch's output starts in its memory, and how long it may be. */
export interface Layout {
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

  constructor(size: number, key: Uint8Array, seal: boolean, layout: Layout) {
    for (let i = 0; i < size; i++) {
      // A small heap: the kernel allocates little that outlives a chunk (the cipher's buffers are released at once).
      const worker = new (workerThreads().Worker)(SOURCE, {
        eval: true,
        workerData: { key: Uint8Array.from(key), seal, nice: WORKER_NICE, ...layout },
        resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
      });
      const slot: Slot = { worker, jobs: new Map() };
      worker.unref();
      worker.on('message', (m: { id: number; buf: ArrayBuffer; len?: number; opened?: Opened }) => {
        const job = slot.jobs.get(m.id);
        if (!job) return;
        slot.jobs.delete(m.id);
        if (slot.jobs.size === 0) worker.unref();
        job.resolve(m.opened ? { buf: m.buf, len: m.opened.len, opened: m.opened } : { buf: m.buf, len: m.len! });
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
