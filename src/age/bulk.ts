import * as crypto from 'node:crypto';
import { Duplex } from 'node:stream';
import { AgeError } from '../errors/errors.js';
import { parseHeader, MAX_HEADER } from './header.js';
import { buildHeader, newFileKey, unwrapFileKey, type DecryptOptions, type EncryptOptions } from './file-key.js';
import { Pump, type Batch, type StreamOptions } from './pump.js';
import { NONCE_SIZE, openFailure, payloadKey } from './stream.js';

export type { StreamOptions } from './pump.js';

/**
 * The STREAM payload as a Duplex, on the same pump as the descriptor runs:
 * written bytes are copied into the pump's slots, sealed or opened on this
 * thread or by the workers, and pushed downstream in order (as copies: a
 * stream may keep what it is given). A write is acknowledged only once its
 * bytes are in a slot, and a slot is freed only once its output has been
 * pushed to a reader that asked for it, so a slow reader holds back the
 * writer and memory stays bounded.
 */
class PayloadStream extends Duplex {
  protected readonly pump: Pump;
  private readonly sealing: boolean;
  /** The slot being filled, and how much of it is. */
  private fill: Batch | null = null;
  private fillLen = 0;
  /** Sealing: a full slot kept until more input shows that its last chunk is not the final one. */
  private held: Batch | null = null;
  /** A write not yet wholly in slots: its bytes, how far, its callback. */
  private writing: { data: Uint8Array; off: number; cb: (e?: Error | null) => void } | null = null;
  private ending = false;
  private inputClosed = false;
  private finishing: ((e?: Error | null) => void) | null = null;
  private wantRead = false;
  /** Opening: the final chunk has been pushed. */
  protected done = false;
  private stepping = false;
  private again = false;

  constructor(seal: boolean, opts: StreamOptions) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.sealing = seal;
    this.pump = new Pump(seal, opts);
    this.pump.onChange = () => this.step();
  }

  /** Payload bytes in; `cb` once they are all in slots. */
  protected payload(data: Uint8Array, cb: (e?: Error | null) => void): void {
    if (this.done && data.byteLength) return cb(new AgeError('payload', 'trailing data after the final chunk'));
    // Most writes just fit in the slot being filled.
    if (this.fill && this.fillLen + data.byteLength < this.pump.inCap) {
      this.fill.input.set(data, this.fillLen);
      this.fillLen += data.byteLength;
      return cb();
    }
    this.writing = { data, off: 0, cb };
    this.step();
  }

  protected finishPayload(cb: (e?: Error | null) => void): void {
    this.ending = true;
    this.finishing = cb;
    this.step();
  }

  /** Moves what can move: results out, input in, the end; again while anything changed under it. */
  private step(): void {
    if (this.stepping) {
      this.again = true;
      return;
    }
    this.stepping = true;
    try {
      do {
        this.again = false;
        if (this.pump.failure) return void this.destroy(this.pump.failure);
        this.out();
        if (this.destroyed) return;
        this.in();
        if (this.inputClosed && this.finishing && this.pump.pending === 0) {
          const cb = this.finishing;
          this.finishing = null;
          this.push(null);
          cb();
        }
      } while (this.again && !this.destroyed);
    } finally {
      this.stepping = false;
    }
  }

  /** Hands finished batches downstream in order, as far as the reader wants them. */
  private out(): void {
    for (let b = this.pump.head(); b && this.wantRead && !this.destroyed; b = this.pump.head()) {
      if (this.done) {
        // Batches sent before the final chunk was seen: only an empty one (the end of input) may follow it.
        if (b.len) return void this.destroy(new AgeError('payload', 'trailing data after the final chunk'));
      } else {
        if (b.outLen) this.wantRead = this.push(Buffer.from(b.output.subarray(0, b.outLen)));
        // Whoever read it may have destroyed the stream.
        if (this.destroyed) return;
        if (b.opened) {
          const failure = openFailure(b.opened);
          if (failure) return void this.destroy(failure);
          if (b.opened.last) this.done = true;
        }
      }
      this.pump.done(b);
    }
  }

  private in(): void {
    const w = this.writing;
    const cap = this.pump.inCap;
    while (w && w.off < w.data.byteLength) {
      if (!this.fill) {
        this.fill = this.pump.take();
        if (!this.fill) return;
        this.fillLen = 0;
      }
      if (this.held) {
        this.pump.submit(this.held, false);
        this.held = null;
      }
      const take = Math.min(cap - this.fillLen, w.data.byteLength - w.off);
      this.fill.input.set(w.data.subarray(w.off, w.off + take), this.fillLen);
      this.fillLen += take;
      w.off += take;
      if (this.fillLen === cap) {
        const full = this.fill;
        this.fill = null;
        full.len = cap;
        if (this.sealing) this.held = full;
        else this.pump.submit(full, false);
      }
    }
    if (w) {
      this.writing = null;
      w.cb();
    }
    if (this.ending && !this.inputClosed) this.closeInput();
  }

  /** The last batch: sealing, the one holding the final chunk (an empty one for empty input); opening, what is left. */
  private closeInput(): void {
    if (this.fill && this.fillLen) {
      this.fill.len = this.fillLen;
      this.pump.submit(this.fill, true);
    } else if (this.held) {
      this.pump.submit(this.held, true);
      this.held = null;
      if (this.fill) this.pump.giveBack(this.fill);
    } else if (!this.done) {
      this.fill ??= this.pump.take();
      if (!this.fill) return;
      this.fill.len = 0;
      this.pump.submit(this.fill, true);
    } else if (this.fill) this.pump.giveBack(this.fill);
    this.fill = null;
    this.inputClosed = true;
  }

  override _read(): void {
    this.wantRead = true;
    this.step();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.writing = null;
    this.finishing = null;
    this.pump.close().then(() => cb(err));
  }
}

class EncryptStream extends PayloadStream {
  constructor(opts: Omit<EncryptOptions, 'armor'> & StreamOptions) {
    super(true, opts);
    const fileKey = newFileKey();
    const nonce = crypto.randomBytes(NONCE_SIZE);
    const header = buildHeader(fileKey, opts);
    this.pump.start(payloadKey(fileKey, nonce));
    this.push(Buffer.concat([header, nonce]));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.payload(chunk, cb);
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
    this.pump.start(payloadKey(fileKey, rest.subarray(0, NONCE_SIZE)));
    this.head = null;
    return rest.subarray(NONCE_SIZE);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    let data: Buffer | null;
    try {
      data = this.head ? this.begin(chunk, false) : chunk;
    } catch (e) {
      return cb(e as Error);
    }
    if (data) this.payload(data, cb);
    else cb();
  }

  override _final(cb: (e?: Error | null) => void): void {
    let data: Buffer | null = null;
    try {
      if (this.head) data = this.begin(Buffer.alloc(0), true);
    } catch (e) {
      return cb(e as Error);
    }
    if (!data?.length) return this.finishPayload(cb);
    this.payload(data, (e) => (e ? cb(e) : this.finishPayload(cb)));
  }
}

/**
 * Streaming age encryption and decryption as Node Duplex streams, for
 * pipelines (`pipeline(dump, encryptStream({ recipients }), file)`): memory
 * bounded whatever the size, ChaCha20-Poly1305 spread over the CPU cores.
 * Decryption releases a chunk only after its tag verifies; a truncated,
 * reordered or modified stream ends in an AgeError ('payload'). For files
 * and pipes, encryptBulk/decryptBulk read and write by descriptor and go
 * faster.
 */
export function encryptStream(opts: Omit<EncryptOptions, 'armor'> & StreamOptions): Duplex {
  return new EncryptStream(opts);
}

export function decryptStream(opts: DecryptOptions & StreamOptions): Duplex {
  return new DecryptStream(opts);
}
