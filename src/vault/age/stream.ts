import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { AgeError } from '../errors.js';

/** The age STREAM construction: 64 KiB plaintext chunks, ChaCha20-Poly1305, counter nonces. */
export const CHUNK = 64 * 1024;
export const TAG = 16;
export const NONCE_SIZE = 16;

export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  // 11-byte big-endian counter; 2^53 chunks is far beyond any file, so the top bytes stay zero.
  n.writeUIntBE(counter, 5, 6);
  n[11] = last ? 1 : 0;
  return n;
}

function seal(key: Buffer, counter: number, last: boolean, pt: Uint8Array): Buffer {
  const c = createCipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG });
  const head = c.update(pt);
  c.final();
  return Buffer.concat([head, c.getAuthTag()]);
}

function open(key: Buffer, counter: number, last: boolean, ct: Buffer): Buffer | null {
  const d = createDecipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG });
  d.setAuthTag(ct.subarray(ct.length - TAG));
  const pt = d.update(ct.subarray(0, ct.length - TAG));
  try {
    d.final();
  } catch {
    return null;
  }
  return pt;
}

/** Incremental STREAM encryption; feed plaintext with push(), finish with final(). */
export class StreamEncryptor {
  private readonly key: Buffer;
  private counter = 0;
  private pending: Buffer[] = [];
  private pendingLen = 0;

  constructor(key: Buffer) {
    this.key = key;
  }

  /** Returns the ciphertext of every chunk known not to be the last one. */
  push(data: Uint8Array): Buffer[] {
    this.pending.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    this.pendingLen += data.byteLength;
    const out: Buffer[] = [];
    if (this.pendingLen <= CHUNK) return out;
    let buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLen);
    let off = 0;
    // Keep at least one byte back: the final chunk must never be empty unless the whole stream is.
    while (buf.length - off > CHUNK) {
      out.push(seal(this.key, this.counter++, false, buf.subarray(off, off + CHUNK)));
      off += CHUNK;
    }
    buf = buf.subarray(off);
    this.pending = [buf];
    this.pendingLen = buf.length;
    return out;
  }

  final(): Buffer {
    const rest = Buffer.concat(this.pending, this.pendingLen);
    this.pending = [];
    return seal(this.key, this.counter++, true, rest);
  }
}

/**
 * Incremental STREAM decryption, releasing each chunk as soon as its tag
 * verifies (as the reference implementation does). A full-size chunk is tried
 * as a middle chunk first, then as the final one; anything after the final
 * chunk, a missing final chunk or an empty final chunk after data is an error.
 */
export class StreamDecryptor {
  private readonly key: Buffer;
  private counter = 0;
  private buf: Buffer = Buffer.alloc(0);
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
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const out: Buffer[] = [];
    let off = 0;
    const full = CHUNK + TAG;
    while (!this.done && this.buf.length - off >= full) {
      const ct = this.buf.subarray(off, off + full);
      let pt = open(this.key, this.counter, false, ct);
      if (!pt) {
        pt = open(this.key, this.counter, true, ct);
        if (!pt) throw new AgeError('payload', `payload chunk ${this.counter} failed authentication`);
        this.done = true;
      }
      this.counter++;
      out.push(pt);
      off += full;
    }
    if (this.done && this.buf.length > off) this.failure = new AgeError('payload', 'trailing data after the final chunk');
    this.buf = off ? Buffer.from(this.buf.subarray(off)) : this.buf;
    return out;
  }

  final(): Buffer {
    if (this.failure) throw this.failure;
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    if (this.done) return Buffer.alloc(0);
    this.done = true;
    if (rest.length === 0) throw new AgeError('payload', this.counter === 0 ? 'missing payload' : 'truncated payload: no final chunk');
    if (rest.length < TAG) throw new AgeError('payload', 'truncated payload chunk');
    const pt = open(this.key, this.counter, true, rest);
    if (!pt) throw new AgeError('payload', `payload chunk ${this.counter} failed authentication (truncated or modified)`);
    if (pt.length === 0 && this.counter > 0) throw new AgeError('payload', 'final chunk is empty');
    return pt;
  }
}

export function encryptPayload(key: Buffer, plaintext: Uint8Array): Buffer {
  const e = new StreamEncryptor(key);
  const parts = e.push(plaintext);
  parts.push(e.final());
  return Buffer.concat(parts);
}

export function decryptPayload(key: Buffer, ciphertext: Buffer): Buffer {
  const d = new StreamDecryptor(key);
  const parts = d.push(ciphertext);
  parts.push(d.final());
  return Buffer.concat(parts);
}
