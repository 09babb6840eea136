import * as crypto from 'node:crypto';
import { AgeError } from '../errors/errors.js';
import { openChunks, sealChunks, type Opened, type Release } from './kernel.js';

/** The age STREAM construction: 64 KiB plaintext chunks, ChaCha20-Poly1305, counter nonces. */
export const CHUNK = 64 * 1024;
export const TAG = 16;
export const NONCE_SIZE = 16;
/** A whole ciphertext chunk. */
export const FULL = CHUNK + TAG;

export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

const EMPTY = Buffer.alloc(0);
/** The incremental API holds whole buffers (a vault, a share): the chunks' cipher buffers are left to the garbage collector. */
const keep: Release = () => undefined;

/** The AgeError for a run of chunks that stopped early (null when it did not). */
export function openFailure(r: Opened): AgeError | null {
  switch (r.failure) {
    case '':
      return null;
    case 'auth':
      return new AgeError('payload', `payload chunk ${r.at} failed authentication (truncated, reordered or modified)`);
    case 'short':
      return new AgeError('payload', 'truncated payload chunk');
    case 'empty-final':
      return new AgeError('payload', 'final chunk is empty');
    case 'trailing':
      return new AgeError('payload', 'trailing data after the final chunk');
    case 'no-final':
      return new AgeError('payload', r.at === 0 ? 'missing payload' : 'truncated payload: no final chunk');
  }
}

/**
 * Incremental STREAM encryption; feed plaintext with push(), finish with
 * final(). Holds back at most one chunk (the final chunk is known only at
 * the end); each push seals what it can into one buffer.
 */
export class StreamEncryptor {
  private readonly key: Buffer;
  private counter = 0;
  private readonly pending = Buffer.allocUnsafe(CHUNK);
  private pendingLen = 0;

  constructor(key: Buffer) {
    this.key = key;
  }

  /** Returns the ciphertext of every chunk known not to be the last one. */
  push(data: Uint8Array): Buffer[] {
    let off = 0;
    const out: Buffer[] = [];
    // Keep at least one byte back: the final chunk must never be empty unless the whole stream is.
    if (this.pendingLen > 0) {
      const take = Math.min(CHUNK - this.pendingLen, data.byteLength);
      this.pending.set(data.subarray(0, take), this.pendingLen);
      this.pendingLen += take;
      off = take;
      if (this.pendingLen < CHUNK || off === data.byteLength) return out;
      out.push(this.seal(this.pending, false));
      this.pendingLen = 0;
    }
    const whole = Math.floor((data.byteLength - off - 1) / CHUNK) * CHUNK;
    if (whole > 0) {
      out.push(this.seal(data.subarray(off, off + whole), false));
      off += whole;
    }
    this.pending.set(data.subarray(off), 0);
    this.pendingLen = data.byteLength - off;
    return out;
  }

  final(): Buffer {
    const last = this.seal(this.pending.subarray(0, this.pendingLen), true);
    this.pendingLen = 0;
    return last;
  }

  private seal(pt: Uint8Array, last: boolean): Buffer {
    const chunks = last ? Math.max(1, Math.ceil(pt.byteLength / CHUNK)) : pt.byteLength / CHUNK;
    const ct = Buffer.allocUnsafeSlow(pt.byteLength + TAG * chunks);
    sealChunks(crypto, this.key, this.counter, pt, last, ct, keep);
    this.counter += last ? 1 : chunks;
    return ct;
  }
}

/**
 * Incremental STREAM decryption, releasing each chunk as soon as its tag
 * verifies (as the reference implementation does). A full-size chunk is tried
 * as a middle chunk first, then as the final one; anything after the final
 * chunk, a missing final chunk or an empty final chunk after data is an error.
 * Holds back at most one partial chunk.
 */
export class StreamDecryptor {
  private readonly key: Buffer;
  private counter = 0;
  private readonly pending = Buffer.allocUnsafe(FULL);
  private pendingLen = 0;
  private done = false;
  /** Raised on the next call, after the chunks authenticated before it were released. */
  private failure: AgeError | null = null;

  constructor(key: Buffer) {
    this.key = key;
  }

  push(data: Uint8Array): Buffer[] {
    if (this.failure) throw this.failure;
    if (this.done) {
      if (data.byteLength) throw new AgeError('payload', 'trailing data after the final chunk');
      return [];
    }
    const out: Buffer[] = [];
    let off = 0;
    if (this.pendingLen > 0) {
      const take = Math.min(FULL - this.pendingLen, data.byteLength);
      this.pending.set(data.subarray(0, take), this.pendingLen);
      this.pendingLen += take;
      off = take;
      if (this.pendingLen < FULL) return out;
      this.pendingLen = 0;
      if (!this.open(this.pending, false, out, data.byteLength > off)) return out;
    }
    const whole = Math.floor((data.byteLength - off) / FULL) * FULL;
    if (whole > 0) {
      if (!this.open(data.subarray(off, off + whole), false, out, data.byteLength > off + whole)) return out;
      off += whole;
    }
    this.pending.set(data.subarray(off), 0);
    this.pendingLen = data.byteLength - off;
    return out;
  }

  final(): Buffer {
    if (this.failure) throw this.failure;
    if (this.done) return EMPTY;
    const out: Buffer[] = [];
    this.open(this.pending.subarray(0, this.pendingLen), true, out, false);
    this.pendingLen = 0;
    if (this.failure) throw this.failure;
    return out[0] ?? EMPTY;
  }

  /** Opens whole chunks (or, with `final`, the rest); false when it stopped (the final chunk, or a failure kept for the next call). */
  private open(ct: Uint8Array, final: boolean, out: Buffer[], more: boolean): boolean {
    const pt = Buffer.allocUnsafeSlow(Math.max(0, ct.byteLength - TAG * Math.floor(ct.byteLength / FULL)));
    const r = openChunks(crypto, this.key, this.counter, ct, final, pt, keep);
    this.counter += r.chunks;
    if (r.len || final) out.push(pt.subarray(0, r.len));
    this.failure = openFailure(r);
    if (r.last) {
      this.done = true;
      if (more && !this.failure) this.failure = new AgeError('payload', 'trailing data after the final chunk');
    }
    return !this.failure && !this.done;
  }
}

export function encryptPayload(key: Buffer, plaintext: Uint8Array): Buffer {
  const e = new StreamEncryptor(key);
  const parts = e.push(plaintext);
  parts.push(e.final());
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

export function decryptPayload(key: Buffer, ciphertext: Buffer): Buffer {
  const d = new StreamDecryptor(key);
  const parts = d.push(ciphertext);
  parts.push(d.final());
  return Buffer.concat(parts);
}
