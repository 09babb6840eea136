import { AgeError } from '../errors/errors.js';
import { fromBase64, latin1, toBase64 } from './bytes.js';

const BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';
const END = '-----END AGE ENCRYPTED FILE-----';
const PADDED_B64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function isArmored(buf: Uint8Array): boolean {
  return latin1(buf, 0, Math.min(buf.byteLength, 64 + BEGIN.length))
    .trimStart()
    .startsWith('-----BEGIN');
}

export function armor(data: Uint8Array): string {
  const b = toBase64(data);
  const lines = [BEGIN];
  for (let i = 0; i < b.length; i += 64) lines.push(b.slice(i, i + 64));
  lines.push(END);
  return lines.join('\n') + '\n';
}

/**
 * Strict PEM-like decoding as the age spec defines it: whitespace may
 * surround the armor, lines may end in CRLF, every body line but the last is
 * exactly 64 columns, padding is required and canonical, nothing else.
 */
export function dearmor(buf: Uint8Array): Uint8Array {
  const text = latin1(buf).replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines[0] !== BEGIN) throw new AgeError('armor', 'invalid armor begin line');
  if (lines.length < 2 || lines[lines.length - 1] !== END) throw new AgeError('armor', 'invalid armor end line');
  const body = lines.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const l = body[i]!;
    const last = i === body.length - 1;
    if (l.length === 0 || l.length > 64 || (!last && l.length !== 64)) throw new AgeError('armor', 'invalid armor line length');
  }
  const b64 = body.join('');
  const out = PADDED_B64.test(b64) && b64.length % 4 === 0 ? fromBase64(b64) : null;
  if (!out) throw new AgeError('armor', 'invalid armor encoding');
  if (toBase64(out) !== b64) throw new AgeError('armor', 'non-canonical armor encoding');
  return out;
}
