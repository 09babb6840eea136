import { createHash } from 'node:crypto';
import { VaultError } from './errors.js';
import { armor, decrypt, encrypt, isArmored, readHeader, isPassphraseFile, X25519Identity, DEFAULT_LOG_N, parseRecipient } from './age/index.js';
import { bech32Decode, bech32Encode } from './age/bech32.js';

/** A key id names a recipient without revealing anything: 16 hex digits of SHA-256 over the age1… string. */
export function keyIdOf(recipient: string): string {
  return createHash('sha256').update('vault-tool key id v1\n' + recipient).digest('hex').slice(0, 16);
}

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
  return [
    '# vault-tool vault key: anyone holding this file can open the vault; keep it apart from secrets.vault',
    `# created: ${key.createdAt ?? new Date().toISOString()}`,
    `# public key: ${key.recipient}`,
    `# key id: ${key.keyId}`,
    key.secret,
    '',
  ].join('\n');
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

export function isProtectedKeyFile(data: Uint8Array): boolean {
  if (isArmored(data)) return true;
  return Buffer.from(data.buffer, data.byteOffset, Math.min(data.byteLength, 22)).toString('latin1') === 'age-encryption.org/v1\n';
}

/** Parses a plaintext identity file; comment lines naming the public key or key id must agree with it. */
export function parseKeyFile(text: string): VaultKey {
  let identityLine: string | undefined;
  let pub: string | undefined;
  let id: string | undefined;
  let createdAt: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (created|public key|key id): (.*)$/.exec(line);
      if (m?.[1] === 'public key') pub = m[2];
      else if (m?.[1] === 'key id') id = m[2];
      else if (m?.[1] === 'created') createdAt = m[2];
      else if (/age1|[0-9a-f]{16}/.test(line)) {
        // A comment naming a recipient or key id must be one of the exact lines checked below, not a mangled one.
        throw new VaultError('integrity', 'key file has a damaged public key or key id comment line');
      }
      continue;
    }
    if (!line.startsWith('AGE-SECRET-KEY-1')) throw new VaultError('integrity', 'key file is not an age identity file (expected AGE-SECRET-KEY-1… line)');
    if (identityLine) throw new VaultError('invalid', 'key file holds more than one identity; a vault key file holds exactly one');
    identityLine = line;
  }
  if (!identityLine) throw new VaultError('integrity', 'key file holds no AGE-SECRET-KEY-1 identity');
  const identity = X25519Identity.parse(identityLine);
  const recipient = identity.recipient;
  const keyId = keyIdOf(recipient);
  if ((pub !== undefined && pub !== recipient) || (id !== undefined && id !== keyId)) {
    throw new VaultError('integrity', 'key file comments do not match its identity: the file was edited or corrupted');
  }
  return { identity, recipient, keyId, secret: identityLine, ...(createdAt ? { createdAt } : {}) };
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
  return { identity, recipient: identity.recipient, keyId: keyIdOf(identity.recipient), secret: bech32Encode('AGE-SECRET-KEY-', scalar, true), ...(createdAt ? { createdAt } : {}) };
}
