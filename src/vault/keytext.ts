import { sha256 } from '@noble/hashes/sha2.js';
import { VaultError } from '../errors/errors.js';
import { isArmored } from '../age/armor.js';
import { latin1, toHex, utf8 } from '../age/bytes.js';
import { identityScalar } from '../age/keys.js';

export { identityScalar, encodeIdentity } from '../age/keys.js';

/**
 * The key file's text format and the key id, with no Node API: the browser
 * recovery kit reads and writes vault.key with this same code. The X25519
 * arithmetic (scalar to recipient) is each platform's own, passed in.
 */

/** A key id names a recipient without revealing anything: 16 hex digits of SHA-256 over the age1… string. */
export function keyIdOf(recipient: string): string {
  return toHex(sha256(utf8('vault-tool key id v1\n' + recipient))).slice(0, 16);
}

export interface KeyText {
  /** The identity line. */
  secret: string;
  recipient: string;
  keyId: string;
  createdAt?: string;
}

/** The plaintext identity file: comments the stock `age` ignores, then the identity line. */
export function formatKeyText(key: KeyText, now: () => Date = () => new Date()): string {
  return [
    '# vault-tool vault key: anyone holding this file can open the vault; keep it apart from secrets.vault',
    `# created: ${key.createdAt ?? now().toISOString()}`,
    `# public key: ${key.recipient}`,
    `# key id: ${key.keyId}`,
    key.secret,
    '',
  ].join('\n');
}

/** Whether a key file's bytes are an age file (a passphrase-protected key), armored or not. */
export function isProtectedKeyFile(data: Uint8Array): boolean {
  return isArmored(data) || latin1(data, 0, Math.min(data.byteLength, 22)) === 'age-encryption.org/v1\n';
}

/**
 * Parses a plaintext identity file; comment lines naming the public key or
 * key id must agree with it. `recipientOf` turns the scalar into its age1…
 * recipient (X25519 on each platform's crypto).
 */
export function parseKeyText(text: string, recipientOf: (scalar: Uint8Array) => string): KeyText & { scalar: Uint8Array } {
  // Saved by an editor that marks UTF-8 (Notepad): said as such, not as a file that is no key.
  if (text.startsWith('\uFEFF'))
    throw new VaultError('integrity', 'key file begins with a UTF-8 byte-order mark (an editor saved it so): save it without one, as plain text');
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
  const scalar = identityScalar(identityLine);
  const recipient = recipientOf(scalar);
  const keyId = keyIdOf(recipient);
  if ((pub !== undefined && pub !== recipient) || (id !== undefined && id !== keyId)) {
    throw new VaultError('integrity', 'key file comments do not match its identity: the file was edited or corrupted');
  }
  return { secret: identityLine, scalar, recipient, keyId, ...(createdAt ? { createdAt } : {}) };
}
