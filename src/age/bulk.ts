import * as crypto from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Duplex } from 'node:stream';
import { AgeError } from '../errors/errors.js';
import { parseHeader, MAX_HEADER } from './header.js';
import { buildHeader, newFileKey, unwrapFileKey, type DecryptOptions, type EncryptOptions } from './file-key.js';
import { openChunks, sealChunks, type Opened } from './kernel.js';
import { CHUNK, FULL, NONCE_SIZE, openFailure, payloadKey } from './stream.js';
import { ChunkWorkers, type Done } from './workers.js';

/** How a bulk stream spreads its work. */
export interface StreamOptions {
  /**
   * Worker threads sealing or opening chunks once the stream is past a few
   * MiB: by default one per available CPU core beyond the calling thread's
   * (at most 3, none on one core); 0 keeps all the work on the calling
   * thread.
   */
  workers?: number;
}

/** Chunks per batch: one message to a worker, one buffer of output. */
const BATCH_CHUNKS = 16;
/** Input a stream handles on the calling thread before starting its workers: small files never pay for them. */
export const WORKERS_AFTER = 4 << 20;
/** Batches dispatched and not yet handed downstream, per worker. */
const INFLIGHT_PER_WORKER = 2;

/**
 * One worker per core beyond the calling thread's (at most 3; none on one
 * core): the calling thread stays busy reading, copying into batches and
 * writing, and on two cores a second worker measured no faster while
 * costing ~45 MiB more (`npm run bench`).
 */
function defaultWorkers(): number {
  return Math.min(availableParallelism() - 1, 3);
}

interface Entry {
  /** Input bytes of the batch. */
  len: number;
  ready: boolean;
  sealed?: Buffer;
  opened?: Opened;
}

/**
 * The STREAM payload as a Duplex: input is gathered into batches of whole
 * chunks (one preallocated buffer each), sealed or opened on this thread or
 * by the workers, and handed downstream in order. A write is acknowledged
 * only while fewer than a few batches wait (for a worker or for the
 * reader), so a slow reader holds back the writer and memory stays bounded.
 */
class PayloadStream extends Duplex {
  private readonly seal: boolean;
  private readonly unit: number;
  private key: Buffer | null = null;
  private readonly workers: number;
  private pool: ChunkWorkers | null = null;
  private seen = 0;
  private batch: Buffer;
  private batchLen = 0;
  private spare: ArrayBuffer[] = [];
  private counter = 0;
  private readonly queue: Entry[] = [];
  private wantRead = false;
  private heldWrite: ((e?: Error | null) => void) | null = null;
  private finishing: ((e?: Error | null) => void) | null = null;
  /** Opening: the final chunk has been handed downstream. */
  private done = false;

  constructor(seal: boolean, opts: StreamOptions) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.seal = seal;
    this.unit = seal ? CHUNK : FULL;
    this.workers = opts.workers ?? defaultWorkers();
    this.batch = Buffer.allocUnsafeSlow(this.unit * BATCH_CHUNKS);
  }

  protected start(key: Buffer): void {
    this.key = key;
  }

  /** Payload bytes in, gathered into batches; a full batch goes out as soon as it may. */
  protected payload(data: Uint8Array): void {
    if (this.done) {
      if (data.byteLength || this.batchLen) throw new AgeError('payload', 'trailing data after the final chunk');
      return;
    }
    const cap = this.batch.byteLength;
    let off = 0;
    while (off < data.byteLength) {
      // Sealing keeps a full batch until more input shows that its last chunk is not the final one.
      if (this.batchLen === cap) this.dispatch(false);
      const take = Math.min(cap - this.batchLen, data.byteLength - off);
      this.batch.set(data.subarray(off, off + take), this.batchLen);
      this.batchLen += take;
      off += take;
      if (!this.seal && this.batchLen === cap) this.dispatch(false);
    }
    this.seen += data.byteLength;
  }

  private dispatch(final: boolean): void {
    const len = this.batchLen;
    const counter = this.counter;
    this.counter += final ? 0 : len / this.unit;
    this.batchLen = 0;
    const entry: Entry = { len, ready: false };
    this.queue.push(entry);
    if (this.workers > 0 && this.seen >= WORKERS_AFTER && !this.pool) this.pool = new ChunkWorkers(this.workers, this.key!);
    if (!this.pool) {
      const input = this.batch.subarray(0, len);
      if (this.seal) entry.sealed = sealChunks(crypto, this.key!, counter, input, final);
      else entry.opened = openChunks(crypto, this.key!, counter, input, final);
      entry.ready = true;
      this.flush();
      return;
    }
    const buf = this.batch.buffer as ArrayBuffer;
    const next = this.spare.pop();
    this.batch = next ? Buffer.from(next) : Buffer.allocUnsafeSlow(this.unit * BATCH_CHUNKS);
    this.pool.run({ seal: this.seal, counter, buf, len, final }).then(
      (d: Done) => {
        if (this.destroyed) return;
        if (this.spare.length < 2) this.spare.push(d.buf);
        if (d.sealed) entry.sealed = d.sealed;
        if (d.opened) entry.opened = d.opened;
        entry.ready = true;
        this.flush();
      },
      (e: Error) => this.destroy(e),
    );
  }

  private limit(): number {
    return this.pool ? this.workers * INFLIGHT_PER_WORKER : 1;
  }

  /** Hands finished batches downstream in order, as far as the reader wants them. */
  private flush(): void {
    while (this.queue.length && this.queue[0]!.ready && this.wantRead && !this.destroyed) {
      const e = this.queue.shift()!;
      // Batches sent before the final chunk was seen: only an empty one (the end of input) may follow it.
      if (this.done) {
        if (e.len) return void this.destroy(new AgeError('payload', 'trailing data after the final chunk'));
        continue;
      }
      if (e.sealed) {
        this.wantRead = this.push(e.sealed);
        continue;
      }
      const r = e.opened!;
      if (r.out.byteLength) this.wantRead = this.push(r.out);
      const failure = openFailure(r);
      if (failure) return void this.destroy(failure);
      if (r.last) this.done = true;
    }
    if (this.destroyed) return;
    if (this.heldWrite && this.queue.length < this.limit()) {
      const cb = this.heldWrite;
      this.heldWrite = null;
      cb();
    }
    if (this.finishing && this.queue.length === 0) {
      const cb = this.finishing;
      this.finishing = null;
      this.push(null);
      cb();
    }
  }

  protected accept(cb: (e?: Error | null) => void): void {
    if (this.queue.length < this.limit()) cb();
    else this.heldWrite = cb;
  }

  protected finishPayload(cb: (e?: Error | null) => void): void {
    this.finishing = cb;
    if (!this.done) this.dispatch(true);
    else if (this.batchLen) return void cb(new AgeError('payload', 'trailing data after the final chunk'));
    this.flush();
  }

  override _read(): void {
    this.wantRead = true;
    this.flush();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.queue.length = 0;
    this.heldWrite = null;
    this.finishing = null;
    const pool = this.pool;
    this.pool = null;
    if (!pool) return cb(err);
    pool.close().then(() => cb(err));
  }
}

class EncryptStream extends PayloadStream {
  constructor(opts: Omit<EncryptOptions, 'armor'> & StreamOptions) {
    super(true, opts);
    const fileKey = newFileKey();
    const nonce = crypto.randomBytes(NONCE_SIZE);
    const header = buildHeader(fileKey, opts);
    this.start(payloadKey(fileKey, nonce));
    this.push(Buffer.concat([header, nonce]));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.payload(chunk);
    this.accept(cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.finishPayload(cb);
  }
}

class DecryptStream extends PayloadStream {
  private readonly opts: DecryptOptions;
  private head: Buffer | null = Buffer.alloc(0);

  constructor(opts: DecryptOptions & StreamOptions) {
    super(false, opts);
    this.opts = opts;
  }

  /** Gathers the header; once it is whole and the file key unwraps, returns the payload bytes that came with it. */
  private begin(chunk: Buffer, final: boolean): Buffer | null {
    const head = this.head!.length ? Buffer.concat([this.head!, chunk]) : chunk;
    this.head = head;
    const h = parseHeader(head, final);
    if (!h) {
      if (head.length > MAX_HEADER) throw new AgeError('header', 'header too long');
      return null;
    }
    const rest = head.subarray(h.length);
    if (rest.length < NONCE_SIZE) {
      if (final) throw new AgeError('header', 'missing payload nonce');
      return null;
    }
    const fileKey = unwrapFileKey(h, this.opts);
    this.start(payloadKey(fileKey, rest.subarray(0, NONCE_SIZE)));
    this.head = null;
    return rest.subarray(NONCE_SIZE);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    try {
      const data = this.head ? this.begin(chunk, false) : chunk;
      if (data) this.payload(data);
    } catch (e) {
      return cb(e as Error);
    }
    this.accept(cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    try {
      if (this.head) this.payload(this.begin(Buffer.alloc(0), true)!);
    } catch (e) {
      return cb(e as Error);
    }
    this.finishPayload(cb);
  }
}

/**
 * Streaming age encryption and decryption for large inputs (database dumps):
 * constant memory, native-speed ChaCha20-Poly1305 spread over the CPU cores.
 * Decryption releases a chunk only after its tag verifies; a truncated,
 * reordered or modified stream ends in an AgeError ('payload').
 */
export function encryptStream(opts: Omit<EncryptOptions, 'armor'> & StreamOptions): Duplex {
  return new EncryptStream(opts);
}

export function decryptStream(opts: DecryptOptions & StreamOptions): Duplex {
  return new DecryptStream(opts);
}
