import { VaultError } from '../errors/errors.js';
import { armor, decrypt, encrypt, readHeader, isPassphraseFile, X25519Identity, DEFAULT_LOG_N, parseRecipient } from '../age/index.js';
import { bech32Decode, bech32Encode } from '../age/bech32.js';

import { formatKeyText, isProtectedKeyFile, keyIdOf, parseKeyText } from './keytext.js';

/** The text format and the key id are in keytext.ts (shared with the recovery kit); this file adds node:crypto's X25519. */
export { keyIdOf, isProtectedKeyFile };

/** The pending key of a rekey, and the previous key after it (older vault copies need it). */
export const newKeyPath = (keyFile: string) => keyFile + '.new';
export const oldKeyPath = (keyFile: string, keyId: string) => `${keyFile}.old-${keyId}`;

export interface VaultKey {
  identity: X25519Identity;
  recipient: string;
  keyId: string;
  /** The identity line, for re-writing the key file or splitting it into shares. */
  secret: string;
  createdAt?: string;
}

export function newVaultKey(now = new Date()): VaultKey {
  const { identity, encoded } = X25519Identity.generate();
  return { identity, recipient: identity.recipient, keyId: keyIdOf(identity.recipient), secret: encoded, createdAt: now.toISOString() };
}

/** The plaintext identity file: comments the stock `age` ignores, then the identity line. */
export function formatKeyFile(key: VaultKey): string {
  return formatKeyText(key);
}

/** Protects the identity file with an age scrypt passphrase, armored so it stays printable text. */
export function protectKeyFile(text: string, passphrase: Uint8Array, logN = DEFAULT_LOG_N): Buffer {
  return Buffer.from(armor(encrypt(Buffer.from(text), { passphrase, logN })));
}

/** The scrypt work factor (log2 N) of a protected key file; undefined for a plaintext one. */
export function keyFileWorkFactor(data: Uint8Array): number | undefined {
  if (!isProtectedKeyFile(data)) return undefined;
  const s = readHeader(data).header.stanzas[0];
  const logN = s?.type === 'scrypt' ? Number(s.args[1]) : NaN;
  return Number.isInteger(logN) ? logN : undefined;
}

/** Parses a plaintext identity file; comment lines naming the public key or key id must agree with it. */
export function parseKeyFile(text: string): VaultKey {
  let identity: X25519Identity | undefined;
  const k = parseKeyText(text, (scalar) => (identity = new X25519Identity(scalar)).recipient);
  return { identity: identity!, recipient: k.recipient, keyId: k.keyId, secret: k.secret, ...(k.createdAt ? { createdAt: k.createdAt } : {}) };
}

export type PassphraseSource = () => Promise<Uint8Array>;

/** Opens a key file's bytes, asking for the passphrase only when the file is protected. */
export async function openKeyFile(data: Uint8Array, getPassphrase?: PassphraseSource): Promise<VaultKey> {
  if (!isProtectedKeyFile(data)) return parseKeyFile(Buffer.from(data).toString('utf8'));
  const { header } = readHeader(data);
  if (!isPassphraseFile(header)) throw new VaultError('invalid', 'key file is an age file but not passphrase-protected');
  if (!getPassphrase) {
    throw new VaultError('passphrase', 'the key file is passphrase-protected', { code: 'passphrase-needed' });
  }
  const passphrase = await getPassphrase();
  try {
    return parseKeyFile(decrypt(data, { passphrase }).plaintext.toString('utf8'));
  } catch (e) {
    if (e instanceof VaultError && e.kind === 'wrong-key') throw new VaultError('wrong-key', 'wrong passphrase for the key file');
    throw e;
  }
}

export function assertRecipient(s: string): string {
  parseRecipient(s);
  return s;
}

/** The raw 32-byte X25519 scalar of a key (what escrow splits). */
export function keyScalar(key: VaultKey): Buffer {
  const d = bech32Decode(key.secret);
  if (!d) throw new VaultError('internal', 'vault key does not decode');
  return Buffer.from(d.data);
}

/** Rebuilds a vault key from its scalar (escrow recovery). */
export function keyFromScalar(scalar: Uint8Array, createdAt?: string): VaultKey {
  const identity = new X25519Identity(scalar);
  return {
    identity,
    recipient: identity.recipient,
    keyId: keyIdOf(identity.recipient),
    secret: bech32Encode('AGE-SECRET-KEY-', scalar, true),
    ...(createdAt ? { createdAt } : {}),
  };
}
