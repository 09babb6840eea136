import { AgeError } from '../errors.js';

const B64 = /^[A-Za-z0-9+/]*$/;

/** Unpadded standard base64, as age writes it. */
export function encodeB64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

/**
 * Strict unpadded base64: only the standard alphabet, no padding, and
 * canonical (the unused trailing bits are zero), as the age spec requires.
 */
export function decodeB64(s: string, what = 'base64'): Buffer {
  if (!B64.test(s) || s.length % 4 === 1) throw new AgeError('header', `invalid ${what}`);
  const out = Buffer.from(s, 'base64');
  if (encodeB64(out) !== s) throw new AgeError('header', `non-canonical ${what}`);
  return out;
}
