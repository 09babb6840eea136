/**
 * age v1 (C2SP age specification) on node:crypto: X25519 and scrypt
 * recipients, extra stanzas, ASCII armor and the STREAM payload.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { AgeError } from '../errors/errors.js';
import { armor } from './armor.js';
import type { ParsedHeader } from './header.js';
import { buildHeader, newFileKey, readHeader, unwrapFileKey, type DecryptOptions, type EncryptOptions } from './file-key.js';
import { decryptPayload, encryptPayload, NONCE_SIZE, payloadKey } from './stream.js';

export { armor, dearmor, isArmored } from './armor.js';
export { parseHeader, encodeHeader, verifyHeaderMac, type Stanza, type ParsedHeader } from './header.js';
export { StreamDecryptor, StreamEncryptor, payloadKey, NONCE_SIZE, CHUNK, FULL } from './stream.js';
export { X25519Identity, parseRecipient, encodeRecipient, wrapX25519 } from './x25519.js';
export { DEFAULT_LOG_N } from './scrypt.js';
export { decodeB64, encodeB64 } from './base64.js';
export { buildHeader, newFileKey, readHeader, unwrapFileKey, isPassphraseFile, type EncryptOptions, type DecryptOptions } from './file-key.js';

export function encrypt(plaintext: Uint8Array, opts: EncryptOptions): Buffer {
  const fileKey = newFileKey();
  const header = buildHeader(fileKey, opts);
  const nonce = randomBytes(NONCE_SIZE);
  const out = Buffer.concat([header, nonce, encryptPayload(payloadKey(fileKey, nonce), plaintext)]);
  return opts.armor ? Buffer.from(armor(out)) : out;
}

/** Dearmors when needed and parses the header; no key is needed for this. */
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
// Bulk encryption (bulk.ts, bulk-run.ts) is imported from its own files: whoever only opens a vault never loads it.
