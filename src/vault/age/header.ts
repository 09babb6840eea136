import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { AgeError } from '../errors.js';
import { decodeB64, encodeB64 } from './base64.js';

export const VERSION_LINE = 'age-encryption.org/v1';
/** Headers longer than this are refused before any parsing work (attacker-controlled cost). */
export const MAX_HEADER = 1 << 20;

export interface Stanza {
  type: string;
  args: string[];
  body: Buffer;
}

export interface ParsedHeader {
  stanzas: Stanza[];
  /** The header bytes the MAC covers: everything up to and including "---". */
  macInput: Buffer;
  mac: Buffer;
  /** Offset of the first payload byte. */
  length: number;
}

function isVchar(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

function wrapBody(body: Uint8Array): string {
  const b = encodeB64(body);
  let out = '';
  for (let i = 0; i <= b.length; i += 64) out += b.slice(i, i + 64) + '\n';
  // A body whose base64 is a multiple of 64 characters ends with an empty line (the loop adds it).
  return out;
}

export function encodeStanza(s: Stanza): string {
  for (const a of [s.type, ...s.args]) if (!isVchar(a)) throw new AgeError('header', 'invalid stanza argument');
  return `-> ${[s.type, ...s.args].join(' ')}\n${wrapBody(s.body)}`;
}

export function headerMac(fileKey: Uint8Array, macInput: Uint8Array): Buffer {
  const key = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'header', 32));
  return createHmac('sha256', key).update(macInput).digest();
}

export function encodeHeader(stanzas: Stanza[], fileKey: Uint8Array): Buffer {
  let text = VERSION_LINE + '\n';
  for (const s of stanzas) text += encodeStanza(s);
  text += '---';
  const macInput = Buffer.from(text, 'latin1');
  const mac = headerMac(fileKey, macInput);
  return Buffer.concat([macInput, Buffer.from(' ' + encodeB64(mac) + '\n', 'latin1')]);
}

/**
 * Parses an age v1 header at the start of `buf`. Returns null when `buf` ends
 * before the header does (a streaming reader then reads more); throws
 * AgeError('header') for anything malformed.
 */
export function parseHeader(buf: Buffer, final = true): ParsedHeader | null {
  let pos = 0;
  const nextLine = (): string | null => {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) {
      if (buf.length - pos > MAX_HEADER || final) throw new AgeError('header', 'truncated header');
      return null;
    }
    const line = buf.toString('latin1', pos, nl);
    pos = nl + 1;
    return line;
  };
  if (buf.length > MAX_HEADER && buf.indexOf('\n---', 0, 'latin1') < 0) throw new AgeError('header', 'header too long');
  const first = nextLine();
  if (first === null) return null;
  if (first !== VERSION_LINE) {
    if (first.startsWith('age-encryption.org/')) throw new AgeError('header', `unsupported version: ${first.slice(0, 40)}`);
    throw new AgeError('header', 'not an age file');
  }
  const stanzas: Stanza[] = [];
  for (;;) {
    const lineStart = pos;
    const line = nextLine();
    if (line === null) return null;
    if (line.startsWith('---')) {
      if (!line.startsWith('--- ')) throw new AgeError('header', 'malformed header mac line');
      const mac = decodeB64(line.slice(4), 'header mac');
      if (mac.length !== 32) throw new AgeError('header', 'malformed header mac');
      return { stanzas, macInput: buf.subarray(0, lineStart + 3), mac, length: pos };
    }
    if (!line.startsWith('-> ')) throw new AgeError('header', 'invalid stanza');
    const parts = line.slice(3).split(' ');
    for (const p of parts) if (!isVchar(p)) throw new AgeError('header', 'invalid stanza argument');
    const chunks: Buffer[] = [];
    for (;;) {
      const b = nextLine();
      if (b === null) return null;
      if (b.length > 64) throw new AgeError('header', 'stanza body line too long');
      chunks.push(decodeB64(b, 'stanza body'));
      if (b.length < 64) break;
    }
    stanzas.push({ type: parts[0]!, args: parts.slice(1), body: Buffer.concat(chunks) });
  }
}

export function verifyHeaderMac(h: ParsedHeader, fileKey: Uint8Array): void {
  const want = headerMac(fileKey, h.macInput);
  if (!timingSafeEqual(want, h.mac)) throw new AgeError('hmac', 'header mac mismatch: the file was modified');
}
