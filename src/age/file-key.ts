import { randomBytes } from 'node:crypto';
import { AgeError, VaultError } from '../errors/errors.js';
import { dearmor, isArmored } from './armor.js';
import { encodeHeader, parseHeader, verifyHeaderMac, type ParsedHeader, type Stanza } from './header.js';
import { unwrapScrypt, wrapScrypt } from './scrypt.js';
import { checkScryptAlone } from './parse.js';
export { isPassphraseFile } from './parse.js';
import { parseRecipient, wrapX25519, X25519Identity } from './x25519.js';

/** The file key: made and wrapped into a header on encryption, unwrapped (and the header MAC checked) on decryption. */
export interface EncryptOptions {
  /** X25519 recipients: `age1…` strings, or raw 32-byte points. */
  recipients?: (string | Uint8Array)[];
  passphrase?: Uint8Array;
  logN?: number;
  /** Extra stanzas placed before the recipient stanzas; identities ignore them, the header MAC covers them. */
  extraStanzas?: Stanza[];
  armor?: boolean;
}

export interface DecryptOptions {
  /** X25519 identities: `AGE-SECRET-KEY-1…` strings, or parsed ones. */
  identities?: (X25519Identity | string)[];
  passphrase?: Uint8Array;
}

export function newFileKey(): Buffer {
  return randomBytes(16);
}

export function buildHeader(fileKey: Uint8Array, opts: EncryptOptions): Buffer {
  const stanzas: Stanza[] = [...(opts.extraStanzas ?? [])];
  // A caller's mistakes are usage errors, not damaged files.
  if (opts.passphrase) {
    if (opts.recipients?.length || opts.extraStanzas?.length) throw new VaultError('usage', "can't encrypt to both recipients and passphrases");
    stanzas.push(wrapScrypt(opts.passphrase, fileKey, opts.logN));
  } else {
    if (!opts.recipients?.length) throw new VaultError('usage', 'no recipients: give at least one recipient or a passphrase');
    for (const r of opts.recipients) stanzas.push(wrapX25519(typeof r === 'string' ? parseRecipient(r) : r, fileKey));
  }
  return encodeHeader(stanzas, fileKey);
}

export function readHeader(file: Uint8Array): { header: ParsedHeader; binary: Buffer } {
  const raw = isArmored(file) ? dearmor(file) : file;
  const binary = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const header = parseHeader(binary, true)!;
  return { header, binary };
}

export function unwrapFileKey(header: ParsedHeader, opts: DecryptOptions): Buffer {
  const { stanzas } = header;
  checkScryptAlone(stanzas);
  let fileKey: Buffer | null = null;
  if (opts.passphrase) fileKey = unwrapScrypt(opts.passphrase, stanzas);
  for (const id of opts.identities ?? []) {
    if (fileKey) break;
    fileKey = (typeof id === 'string' ? X25519Identity.parse(id) : id).unwrap(stanzas);
  }
  if (!fileKey) throw new AgeError('no-match', 'no identity matched any of the recipients');
  verifyHeaderMac(header, fileKey);
  return fileKey;
}
