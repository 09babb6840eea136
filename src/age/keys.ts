import { VaultError } from '../errors/errors.js';
import { bech32Decode, bech32Encode } from './bech32.js';

/**
 * The text forms of X25519 keys (bech32 `AGE-SECRET-KEY-1…` identities and
 * `age1…` recipients), with no Node API: shared with the recovery kit.
 */

/** The 32-byte scalar of an `AGE-SECRET-KEY-1…` identity; refuses bad checksums, case and lengths. */
export function identityScalar(s: string): Uint8Array {
  const d = bech32Decode(s);
  if (d?.hrp !== 'age-secret-key-' || s !== s.toUpperCase() || d.data.length !== 32) {
    throw new VaultError('integrity', 'invalid AGE-SECRET-KEY-1 identity (bad checksum, case or length)');
  }
  return d.data;
}

export const encodeIdentity = (scalar: Uint8Array): string => bech32Encode('AGE-SECRET-KEY-', scalar, true);

/** The 32-byte point of an `age1…` recipient. */
export function recipientPoint(s: string): Uint8Array {
  const d = bech32Decode(s);
  if (d?.hrp !== 'age' || s !== s.toLowerCase() || d.data.length !== 32) {
    // Never echo the input: it may be a secret key given by mistake.
    if (/^age-secret-key-/i.test(s.trim())) {
      throw new VaultError(
        'usage',
        'that is a secret key (AGE-SECRET-KEY-1…), not a recipient: give its public recipient (age1…)',
        'it was on the command line, where other users of this machine can see it: treat it as exposed',
      );
    }
    throw new VaultError(
      'invalid',
      `invalid age recipient (${s.length} characters${s.startsWith('age1') ? '' : ', not starting with age1'})`,
      'an X25519 recipient looks like age1… (62 characters)',
    );
  }
  return d.data;
}

export const encodeRecipient = (point: Uint8Array): string => bech32Encode('age', point);

/**
 * X25519 clamps every scalar before use, so scalars differing only in the
 * clamped bits are the same key. Keys made here are canonical (clamped) from
 * the start; escrow splits the canonical form, so that any recovered scalar
 * that is not canonical is known to be wrong.
 */
export function isClamped(scalar: Uint8Array): boolean {
  return scalar.length === 32 && (scalar[0]! & 7) === 0 && (scalar[31]! & 0xc0) === 0x40;
}
