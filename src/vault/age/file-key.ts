import { randomBytes } from 'node:crypto';
import { AgeError } from '../errors.js';
import { dearmor, isArmored } from './armor.js';
import { encodeHeader, parseHeader, verifyHeaderMac, type ParsedHeader, type Stanza } from './header.js';
import { unwrapScrypt, wrapScrypt } from './scrypt.js';
import { wrapX25519, X25519Identity } from './x25519.js';

/** The file key: made and wrapped into a header on encryption, unwrapped (and the header MAC checked) on decryption. */
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
