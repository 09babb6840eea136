import * as crypto from 'node:crypto';
import { availableParallelism } from 'node:os';
import { openChunks, sealChunks, type Opened } from './kernel.js';
import { release } from './release.js';
import { CHUNK, FULL, TAG } from './stream.js';
import { ChunkWorkers } from './workers.js';

/** How a bulk run spreads its work. */
export interface StreamOptions {
  /**
   * Worker threads sealing or opening chunks once the input is past a few
   * MiB: by default one per available CPU core (at most 4; none on one
   * core), the calling thread doing the reading, writing and hashing; 0
   * keeps all the work on the calling thread.
   */
  workers?: number;
}

/** Chunks per batch: one job for a worker, one slot of memory. */
export const BATCH_CHUNKS = 16;
/** Input a run handles on the calling thread before starting its workers: small files never pay for them. */
export const WORKERS_AFTER = 4 << 20;
/** Batches in flight per worker (one being worked on, one waiting), beyond those being read and written. */
const INFLIGHT_PER_WORKER = 2;

/** One worker per available core (at most 4), none on one core: the calling thread only moves bytes. */
export function defaultWorkers(): number {
  const n = availableParallelism();
  return n < 2 ? 0 : Math.min(n, 4);
}

/** A slot of the run's memory: a batch's input and, once worked on, its output. */
export interface Batch {
  /** The slot's memory: input, then output (away in a worker while it works on the batch). */
  mem: ArrayBuffer;
  /** The whole input area (inCap bytes); the batch is its first `len` bytes. */
  input: Buffer;
  /** The whole output area (outCap bytes). */
  output: Buffer;
  len: number;
  final: boolean;
  ready: boolean;
  /** Bytes of output: sealed ciphertext, or plaintext that verified. */
  outLen: number;
  opened: Opened | null;
}

/**
 * The core every bulk run shares (the Node streams of bulk.ts and the
 * runs of bulk-run.ts): a fixed set of slots, each one ArrayBuffer allocated
 * once; batches filled by the reader, sealed or opened on this
 * thread or by the workers straight in their slot, and handed back strictly
 * in order. A slot is reused only once its output has been written, so
 * memory is fixed whatever the size, and a reader with no free slot waits:
 * that is the backpressure.
 */
export class Pump {
  readonly seal: boolean;
  /** Input bytes per batch: 16 plaintext chunks (sealing), 16 ciphertext chunks (opening). */
  readonly inCap: number;
  readonly outCap: number;
  private key: Buffer | null = null;
  private readonly workers: number;
  private readonly sizeHint: number;
  private readonly free: Batch[] = [];
  private readonly queue: Batch[] = [];
  private counter = 0;
  private fed = 0;
  private pool: ChunkWorkers | null = null;
  private closed = false;
  /** A worker failed: every later call sees it. */
  failure: Error | null = null;
  /** Called when the batch at the head of the queue may have become ready, a slot was freed, or a worker failed. */
  onChange: () => void = () => undefined;

  /** `sizeHint`: the input's size when known in advance (a regular file): a big one starts the workers at once. */
  constructor(seal: boolean, opts: StreamOptions, sizeHint = 0) {
    this.seal = seal;
    this.sizeHint = sizeHint;
    this.workers = Math.max(0, Math.floor(opts.workers ?? defaultWorkers()));
    this.inCap = (seal ? CHUNK : FULL) * BATCH_CHUNKS;
    this.outCap = seal ? this.inCap + TAG * BATCH_CHUNKS : CHUNK * BATCH_CHUNKS;
    // Reading, held back (sealing keeps a full batch until it knows it is not the last), being written, and those in flight.
    const slots = 3 + (this.workers ? this.workers * INFLIGHT_PER_WORKER : 0);
    for (let i = 0; i < slots; i++) {
      const mem = new ArrayBuffer(this.inCap + this.outCap);
      this.free.push({
        mem,
        input: Buffer.from(mem, 0, this.inCap),
        output: Buffer.from(mem, this.inCap, this.outCap),
        len: 0,
        final: false,
        ready: false,
        outLen: 0,
        opened: null,
      });
    }
  }

  /** The payload key, known once the header is written or read; before the first batch. */
  start(key: Buffer): void {
    this.key = key;
    if (this.workers && this.sizeHint >= WORKERS_AFTER) this.startPool();
  }

  /** A free slot to fill, or null while every slot is busy (wait for onChange). */
  take(): Batch | null {
    return this.free.pop() ?? null;
  }

  /** A slot taken and not used. */
  giveBack(b: Batch): void {
    this.free.push(b);
  }

  /** Slots neither free nor being filled: queued, in the works, or waiting to be written. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Sends a filled slot (its first `b.len` input bytes) to be sealed or
   * opened; results come back in the order batches were submitted. A batch
   * that is not final holds whole chunks only.
   */
  submit(b: Batch, final: boolean): void {
    if (this.closed) throw new Error('the stream was closed');
    const key = this.key;
    if (!key) throw new Error('a batch before the payload key');
    b.final = final;
    b.ready = false;
    b.opened = null;
    const counter = this.counter;
    if (!final) this.counter += b.len / (this.seal ? CHUNK : FULL);
    this.fed += b.len;
    this.queue.push(b);
    if (this.workers && !this.pool && this.fed >= WORKERS_AFTER) this.startPool();
    if (!this.pool) {
      const input = b.input.subarray(0, b.len);
      if (this.seal) b.outLen = sealChunks(crypto, key, counter, input, final, b.output, release);
      else {
        b.opened = openChunks(crypto, key, counter, input, final, b.output, release);
        b.outLen = b.opened.len;
      }
      b.ready = true;
      this.onChange();
      return;
    }
    this.pool.run({ buf: b.mem, len: b.len, counter, final }).then(
      (d) => {
        if (this.closed) return;
        b.mem = d.buf;
        b.input = Buffer.from(d.buf, 0, this.inCap);
        b.output = Buffer.from(d.buf, this.inCap, this.outCap);
        b.outLen = d.len;
        b.opened = d.opened ?? null;
        b.ready = true;
        if (b === this.queue[0]) this.onChange();
      },
      (e: Error) => {
        if (this.closed) return;
        this.failure ??= e;
        this.onChange();
      },
    );
  }

  /** The next batch in order, once it is ready. */
  head(): Batch | null {
    const b = this.queue[0];
    return b?.ready ? b : null;
  }

  /** The head batch's output has been used: its slot is free again. */
  done(b: Batch): void {
    // Closed meanwhile (a stream destroyed by whoever it pushed to): nothing is reused any more.
    if (this.closed) return;
    if (this.queue[0] !== b) throw new Error('batches are finished in order');
    this.queue.shift();
    b.ready = false;
    this.free.push(b);
    this.onChange();
  }

  /** Stops the workers (a job still running is dropped); the slots are not used again. */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    const pool = this.pool;
    this.pool = null;
    if (pool) await pool.close();
  }

  private startPool(): void {
    this.pool = new ChunkWorkers(this.workers, this.key!, this.seal, { inCap: this.inCap, outCap: this.outCap });
  }
}
