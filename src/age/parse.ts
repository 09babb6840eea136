import { AgeError } from '../errors/errors.js';
import { decodeB64, encodeB64 } from './base64.js';
import { concat, fromLatin1, indexOfBytes, latin1 } from './bytes.js';

/**
 * The age v1 header as text: parsing, stanza shapes and encoding, with no
 * Node API (the browser recovery kit parses with this same code). The MAC
 * and the key wrapping are the crypto of each platform.
 */
export const VERSION_LINE = 'age-encryption.org/v1';
/** Headers longer than this are refused before any parsing work (attacker-controlled cost). */
export const MAX_HEADER = 1 << 20;
/** Same cap as the reference implementation: log2(N) above 22 costs more than 4 GiB and is refused. */
export const MAX_LOG_N = 22;

export interface Stanza {
  type: string;
  args: string[];
  body: Uint8Array;
}

export interface ParsedHeader {
  stanzas: Stanza[];
  /** The header bytes the MAC covers: everything up to and including "---". */
  macInput: Uint8Array;
  mac: Uint8Array;
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

/** The header text the MAC covers (up to and including "---"), as bytes. */
export function headerMacInput(stanzas: Stanza[]): Uint8Array {
  let text = VERSION_LINE + '\n';
  for (const s of stanzas) text += encodeStanza(s);
  return fromLatin1(text + '---');
}

/** The whole header once its MAC is known. */
export function joinHeader(macInput: Uint8Array, mac: Uint8Array): Uint8Array {
  return concat(macInput, fromLatin1(' ' + encodeB64(mac) + '\n'));
}

const MAC_LINE = fromLatin1('\n---');

/**
 * Parses an age v1 header at the start of `buf`. Returns null when `buf` ends
 * before the header does (a streaming reader then reads more); throws
 * AgeError('header') for anything malformed.
 */
export function parseHeader(buf: Uint8Array, final = true): ParsedHeader | null {
  let pos = 0;
  const nextLine = (): string | null => {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) {
      if (buf.length - pos > MAX_HEADER || final) throw new AgeError('header', 'truncated header');
      return null;
    }
    const line = latin1(buf, pos, nl);
    pos = nl + 1;
    return line;
  };
  if (buf.length > MAX_HEADER && indexOfBytes(buf, MAC_LINE) < 0) throw new AgeError('header', 'header too long');
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
    const chunks: Uint8Array[] = [];
    for (;;) {
      const b = nextLine();
      if (b === null) return null;
      if (b.length > 64) throw new AgeError('header', 'stanza body line too long');
      chunks.push(decodeB64(b, 'stanza body'));
      if (b.length < 64) break;
    }
    stanzas.push({ type: parts[0]!, args: parts.slice(1), body: concat(...chunks) });
  }
}

/** An scrypt stanza must be the only one (a passphrase file has no other recipient). */
export function checkScryptAlone(stanzas: Stanza[]): void {
  if (stanzas.some((s) => s.type === 'scrypt') && stanzas.length !== 1) throw new AgeError('header', 'an scrypt stanza must be the only stanza');
}

export function isPassphraseFile(header: ParsedHeader): boolean {
  return header.stanzas.length === 1 && header.stanzas[0]!.type === 'scrypt';
}

/** The parts of an X25519 stanza, shape-checked: `-> X25519 <ephemeral share>` and a 32-byte body. */
export function x25519Stanza(s: Stanza): { share: Uint8Array; body: Uint8Array } {
  if (s.args.length !== 1) throw new AgeError('header', 'invalid X25519 stanza');
  const share = decodeB64(s.args[0]!, 'X25519 share');
  if (share.length !== 32) throw new AgeError('header', 'invalid X25519 share');
  if (s.body.length !== 32) throw new AgeError('header', 'invalid X25519 stanza body');
  return { share, body: s.body };
}

/** The parts of an scrypt stanza, shape-checked: `-> scrypt <16-byte salt> <log2 N>` (at most 22) and a 32-byte body. */
export function scryptStanza(s: Stanza): { salt: Uint8Array; logN: number; body: Uint8Array } {
  if (s.args.length !== 2) throw new AgeError('header', 'invalid scrypt stanza');
  const salt = decodeB64(s.args[0]!, 'scrypt salt');
  if (salt.length !== 16) throw new AgeError('header', 'invalid scrypt salt');
  if (!/^[1-9][0-9]{0,2}$/.test(s.args[1]!)) throw new AgeError('header', 'invalid scrypt work factor');
  const logN = Number(s.args[1]);
  if (logN > MAX_LOG_N) throw new AgeError('header', 'scrypt work factor is too high');
  if (s.body.length !== 32) throw new AgeError('header', 'invalid scrypt stanza body');
  return { salt, logN, body: s.body };
}

export const X25519_LABEL = 'age-encryption.org/v1/X25519';
export const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';
