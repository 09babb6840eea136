import { createPrivateKey, createPublicKey, diffieHellman, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { AgeError, VaultError } from '../errors/errors.js';
import { encodeB64 } from './base64.js';
import { encodeIdentity, encodeRecipient, identityScalar, isClamped, recipientPoint } from './keys.js';

export { encodeRecipient, isClamped };
import { x25519Stanza, X25519_LABEL as LABEL, type Stanza } from './parse.js';

/*
 * Keys go in and out of node:crypto as JWK, which Node maps to OpenSSL's raw
 * X25519 keys; the DER forms go through OpenSSL 3's decoder and encoder
 * framework, which costs about as much as the rest of opening a small vault
 * (every command that reads a key pays it). A private JWK needs an `x`
 * field but Node builds the key from `d` alone; the public key is derived
 * from the private one below.
 *
 * No key comes from generateKeyPairSync: Node (20.x) locks a generated
 * key's mutex while it exports the key as JWK, and a garbage collection
 * during the export that frees the generation job locks it again from the
 * same thread: the process hangs for good (an archive_command that never
 * returns). A key is 32 random bytes, clamped, imported as every other is.
 */
const b64url = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

function privateKeyObject(scalar: Uint8Array): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(scalar), x: '' }, format: 'jwk' });
}
function publicKeyObject(point: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(point) }, format: 'jwk' });
}
function rawPublic(k: KeyObject): Buffer {
  return Buffer.from(k.export({ format: 'jwk' }).x!, 'base64url');
}

function sharedSecret(scalar: KeyObject, point: Uint8Array): Buffer {
  let s: Buffer;
  try {
    s = diffieHellman({ privateKey: scalar, publicKey: publicKeyObject(point) });
  } catch {
    throw new AgeError('header', 'x25519 low-order point');
  }
  if (s.every((b) => b === 0)) throw new AgeError('header', 'x25519 low-order point');
  return s;
}

function aead(key: Buffer, data: Uint8Array, decrypt: boolean): Buffer | null {
  const nonce = Buffer.alloc(12);
  if (!decrypt) {
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    return Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
  }
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  d.setAuthTag(data.subarray(data.length - 16));
  const pt = d.update(data.subarray(0, data.length - 16));
  try {
    d.final();
  } catch {
    return null;
  }
  return pt;
}

/** The canonical (clamped) form of a scalar: see isClamped. */
export function clampScalar(scalar: Uint8Array): Buffer {
  const b = Buffer.from(scalar);
  b[0]! &= 248;
  b[31]! &= 127;
  b[31]! |= 64;
  return b;
}

export function parseRecipient(s: string): Buffer {
  const p = recipientPoint(s);
  return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

/** An X25519 recipient: wraps a file key so that only the matching identity unwraps it. */
export function wrapX25519(recipient: Uint8Array, fileKey: Uint8Array): Stanza {
  const eph = privateKeyObject(clampScalar(randomBytes(32)));
  const share = rawPublic(createPublicKey(eph));
  const secret = sharedSecret(eph, recipient);
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.concat([share, recipient]), LABEL, 32));
  return { type: 'X25519', args: [encodeB64(share)], body: aead(key, fileKey, false)! };
}

export class X25519Identity {
  private readonly key: KeyObject;
  readonly publicKey: Buffer;

  constructor(scalar: Uint8Array) {
    if (scalar.length !== 32) throw new VaultError('invalid', 'x25519 identity must be 32 bytes');
    this.key = privateKeyObject(scalar);
    this.publicKey = rawPublic(createPublicKey(this.key));
  }

  static generate(): { identity: X25519Identity; encoded: string } {
    const scalar = clampScalar(randomBytes(32));
    return { identity: new X25519Identity(scalar), encoded: encodeIdentity(scalar) };
  }

  static parse(s: string): X25519Identity {
    return new X25519Identity(identityScalar(s));
  }

  get recipient(): string {
    return encodeRecipient(this.publicKey);
  }

  /** Returns the file key, null when the stanza is not for this identity; throws on malformed X25519 stanzas. */
  unwrap(stanzas: Stanza[]): Buffer | null {
    for (const s of stanzas) {
      if (s.type !== 'X25519') continue;
      const { share } = x25519Stanza(s);
      const secret = sharedSecret(this.key, share);
      const key = Buffer.from(hkdfSync('sha256', secret, Buffer.concat([share, this.publicKey]), LABEL, 32));
      const fileKey = aead(key, s.body, true);
      if (fileKey) return fileKey;
    }
    return null;
  }
}
