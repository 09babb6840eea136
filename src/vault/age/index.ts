/**
 * age v1 (C2SP age specification) on node:crypto: X25519 and scrypt
 * recipients, extra stanzas, ASCII armor and the STREAM payload.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { AgeError } from '../errors.js';
import { armor, dearmor, isArmored } from './armor.js';
import { encodeHeader, parseHeader, verifyHeaderMac, type ParsedHeader, type Stanza } from './header.js';
import { unwrapScrypt, wrapScrypt } from './scrypt.js';
import { decryptPayload, encryptPayload, NONCE_SIZE, payloadKey } from './stream.js';
import { wrapX25519, X25519Identity } from './x25519.js';

export { armor, dearmor, isArmored } from './armor.js';
export { parseHeader, encodeHeader, verifyHeaderMac, type Stanza, type ParsedHeader } from './header.js';
export { StreamDecryptor, StreamEncryptor, payloadKey, NONCE_SIZE, CHUNK } from './stream.js';
export { X25519Identity, parseRecipient, encodeRecipient, wrapX25519 } from './x25519.js';
export { DEFAULT_LOG_N } from './scrypt.js';
export { decodeB64, encodeB64 } from './base64.js';

export interface EncryptOptions {
  /** X25519 recipients as raw 32-byte points. */
  recipients?: Uint8Array[];
  passphrase?: Uint8Array;
  logN?: number;
  /** Extra stanzas placed before the recipient stanzas; identities ignore them, the header MAC covers them. */
  extraStanzas?: Stanza[];
  armor?: boolean;
}

export interface DecryptOptions {
  identities?: X25519Identity[];
  passphrase?: Uint8Array;
}

export function newFileKey(): Buffer {
  return randomBytes(16);
}

export function buildHeader(fileKey: Uint8Array, opts: EncryptOptions): Buffer {
  const stanzas: Stanza[] = [...(opts.extraStanzas ?? [])];
  if (opts.passphrase) {
    if (opts.recipients?.length || opts.extraStanzas?.length) throw new AgeError('header', "can't encrypt to both recipients and passphrases");
    stanzas.push(wrapScrypt(opts.passphrase, fileKey, opts.logN));
  } else {
    if (!opts.recipients?.length) throw new AgeError('header', 'no recipients');
    for (const r of opts.recipients) stanzas.push(wrapX25519(r, fileKey));
  }
  return encodeHeader(stanzas, fileKey);
}

export function encrypt(plaintext: Uint8Array, opts: EncryptOptions): Buffer {
  const fileKey = newFileKey();
  const header = buildHeader(fileKey, opts);
  const nonce = randomBytes(NONCE_SIZE);
  const out = Buffer.concat([header, nonce, encryptPayload(payloadKey(fileKey, nonce), plaintext)]);
  return opts.armor ? Buffer.from(armor(out)) : out;
}

/** Dearmors when needed and parses the header; no key is needed for this. */
export function readHeader(file: Uint8Array): { header: ParsedHeader; binary: Buffer } {
  const binary = isArmored(file) ? dearmor(file) : Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const header = parseHeader(binary, true)!;
  return { header, binary };
}

export function unwrapFileKey(header: ParsedHeader, opts: DecryptOptions): Buffer {
  const { stanzas } = header;
  if (stanzas.some((s) => s.type === 'scrypt') && stanzas.length !== 1) {
    throw new AgeError('header', 'an scrypt stanza must be the only stanza');
  }
  let fileKey: Buffer | null = null;
  if (opts.passphrase) fileKey = unwrapScrypt(opts.passphrase, stanzas);
  for (const id of opts.identities ?? []) {
    if (fileKey) break;
    fileKey = id.unwrap(stanzas);
  }
  if (!fileKey) throw new AgeError('no-match', 'no identity matched any of the recipients');
  verifyHeaderMac(header, fileKey);
  return fileKey;
}

export function isPassphraseFile(header: ParsedHeader): boolean {
  return header.stanzas.length === 1 && header.stanzas[0]!.type === 'scrypt';
}

export function decrypt(file: Uint8Array, opts: DecryptOptions): { plaintext: Buffer; header: ParsedHeader } {
  const { header, binary } = readHeader(file);
  const fileKey = unwrapFileKey(header, opts);
  const rest = binary.subarray(header.length);
  if (rest.length < NONCE_SIZE) throw new AgeError('header', 'missing payload nonce');
  const nonce = rest.subarray(0, NONCE_SIZE);
  const plaintext = decryptPayload(payloadKey(fileKey, nonce), rest.subarray(NONCE_SIZE));
  return { plaintext, header };
}

/** HKDF-SHA256 helper for keys derived from a file key or identity (exported for the vault layer). */
export function derive(ikm: Uint8Array, info: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), info, length));
}
export { encryptStream, decryptStream } from './bulk.js';
