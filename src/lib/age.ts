/**
 * The age v1 format (C2SP), on node:crypto: whole-buffer and streaming
 * encryption and decryption to X25519 recipients (`age1…`) or a passphrase.
 * Files written here open with the stock `age` tool, and the reverse.
 */
export { encryptStream, decryptStream, type StreamOptions } from '../age/bulk.js';
export { encryptBulk, decryptBulk, type BulkOptions, type BulkResult, type BulkDigest } from '../age/bulk-run.js';
export type { BulkInput, BulkOutput } from '../age/io.js';
export {
  encrypt,
  decrypt,
  readHeader,
  isPassphraseFile,
  type EncryptOptions,
  type DecryptOptions,
} from '../age/index.js';
export { X25519Identity, parseRecipient, encodeRecipient } from '../age/x25519.js';
export { armor, dearmor, isArmored } from '../age/armor.js';
export type { ParsedHeader, Stanza } from '../age/header.js';
export { AgeError, type AgeFailure } from '../errors/errors.js';
