import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AgeError } from '../errors.js';
import { parseHeader, MAX_HEADER } from './header.js';
import { buildHeader, newFileKey, unwrapFileKey, type DecryptOptions, type EncryptOptions } from './file-key.js';
import { NONCE_SIZE, payloadKey, StreamDecryptor, StreamEncryptor } from './stream.js';

/**
 * Streaming age encryption and decryption for large inputs (database dumps):
 * constant memory (one 64 KiB chunk plus stream buffers), native-speed
 * ChaCha20-Poly1305. Decryption releases a chunk only after its tag verifies;
 * a truncated or modified stream ends in an AgeError.
 */
export function encryptStream(opts: Omit<EncryptOptions, 'armor'>): Transform {
  const fileKey = newFileKey();
  const nonce = randomBytes(NONCE_SIZE);
  const enc = new StreamEncryptor(payloadKey(fileKey, nonce));
  let started = false;
  const start = (t: Transform) => {
    if (started) return;
    started = true;
    t.push(Buffer.concat([buildHeader(fileKey, opts), nonce]));
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      start(this);
      for (const c of enc.push(chunk)) this.push(c);
      cb();
    },
    flush(cb: TransformCallback) {
      start(this);
      this.push(enc.final());
      cb();
    },
  });
}

export function decryptStream(opts: DecryptOptions): Transform {
  let head: Buffer | null = Buffer.alloc(0);
  let dec: StreamDecryptor | null = null;
  const begin = (final: boolean): Buffer | null => {
    const h = parseHeader(head!, final);
    if (!h) {
      if (head!.length > MAX_HEADER) throw new AgeError('header', 'header too long');
      return null;
    }
    const rest = head!.subarray(h.length);
    if (rest.length < NONCE_SIZE) {
      if (final) throw new AgeError('header', 'missing payload nonce');
      return null;
    }
    const fileKey = unwrapFileKey(h, opts);
    dec = new StreamDecryptor(payloadKey(fileKey, rest.subarray(0, NONCE_SIZE)));
    head = null;
    return rest.subarray(NONCE_SIZE);
  };
  return new Transform({
    transform(chunk: Buffer, _e, cb: TransformCallback) {
      try {
        let data: Buffer | null = chunk;
        if (!dec) {
          head = Buffer.concat([head!, chunk]);
          data = begin(false);
          if (!data) return cb();
        }
        for (const c of dec!.push(data)) this.push(c);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        if (!dec) {
          const data = begin(true)!;
          for (const c of dec!.push(data)) this.push(c);
        }
        this.push(dec!.final());
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
}
