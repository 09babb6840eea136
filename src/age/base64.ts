import { AgeError } from '../errors/errors.js';
import { fromBase64, toBase64 } from './bytes.js';

const B64 = /^[A-Za-z0-9+/]*$/;

/** Unpadded standard base64, as age writes it. */
export function encodeB64(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/=+$/, '');
}

/**
 * Strict unpadded base64: only the standard alphabet, no padding, and
 * canonical (the unused trailing bits are zero), as the age spec requires.
 */
export function decodeB64(s: string, what = 'base64'): Uint8Array {
  const out = B64.test(s) && s.length % 4 !== 1 ? fromBase64(s) : null;
  if (!out) throw new AgeError('header', `invalid ${what}`);
  if (encodeB64(out) !== s) throw new AgeError('header', `non-canonical ${what}`);
  return out;
}
