import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { AgeError } from '../errors/errors.js';
import { armor, dearmor, isArmored } from '../age/armor.js';
import { encodeB64 } from '../age/base64.js';
import { concat, equalBytes, utf8 } from '../age/bytes.js';
import { encodeRecipient, identityScalar } from '../age/keys.js';
import {
  checkScryptAlone,
  headerMacInput,
  joinHeader,
  parseHeader,
  scryptStanza,
  SCRYPT_LABEL,
  x25519Stanza,
  X25519_LABEL,
  type ParsedHeader,
  type Stanza,
} from '../age/parse.js';

/**
 * age v1 decryption on the pure-JavaScript primitives (@noble/*), for the
 * browser. Parsing and stanza checks are the CLI's own (age/parse.ts);
 * only the crypto differs from the node:crypto path, and both pass the same
 * C2SP vectors (test/unit/kit-age.test.ts). Encryption is only what the kit
 * writes: a passphrase-protected vault.key.
 */
const CHUNK = 64 * 1024;
const TAG = 16;
const NONCE_SIZE = 16;

export interface Identity {
  scalar: Uint8Array;
  publicKey: Uint8Array;
  recipient: string;
}

export function identityFromScalar(scalar: Uint8Array): Identity {
  const publicKey = x25519.getPublicKey(scalar);
  return { scalar, publicKey, recipient: encodeRecipient(publicKey) };
}

export const parseIdentity = (s: string): Identity => identityFromScalar(identityScalar(s));

const open = (key: Uint8Array, nonce: Uint8Array, ct: Uint8Array): Uint8Array | null => {
  try {
    return chacha20poly1305(key, nonce).decrypt(ct);
  } catch {
    return null;
  }
};

function sharedSecret(scalar: Uint8Array, point: Uint8Array): Uint8Array {
  let s: Uint8Array;
  try {
    s = x25519.getSharedSecret(scalar, point);
  } catch {
    throw new AgeError('header', 'x25519 low-order point');
  }
  if (s.every((b) => b === 0)) throw new AgeError('header', 'x25519 low-order point');
  return s;
}

/** The file key from the first X25519 stanza this identity opens; null when none is for it. */
export function unwrapX25519(stanzas: Stanza[], id: Identity): Uint8Array | null {
  for (const s of stanzas) {
    if (s.type !== 'X25519') continue;
    const { share, body } = x25519Stanza(s);
    const key = hkdf(sha256, sharedSecret(id.scalar, share), concat(share, id.publicKey), utf8(X25519_LABEL), 32);
    const fileKey = open(key, new Uint8Array(12), body);
    if (fileKey) return fileKey;
  }
  return null;
}

export async function unwrapScrypt(stanzas: Stanza[], passphrase: Uint8Array, onProgress?: (p: number) => void): Promise<Uint8Array | null> {
  for (const s of stanzas) {
    if (s.type !== 'scrypt') continue;
    const { salt, logN, body } = scryptStanza(s);
    return open(await scryptKey(passphrase, salt, logN, onProgress), new Uint8Array(12), body);
  }
  return null;
}

export function verifyHeaderMac(h: ParsedHeader, fileKey: Uint8Array): void {
  const key = hkdf(sha256, fileKey, new Uint8Array(0), utf8('header'), 32);
  if (!equalBytes(hmac(sha256, key, h.macInput), h.mac)) throw new AgeError('hmac', 'header mac mismatch: the file was modified');
}

function chunkNonce(counter: number, last: boolean): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setUint32(7, counter);
  n[6] = Math.floor(counter / 2 ** 32);
  n[11] = last ? 1 : 0;
  return n;
}

/** The STREAM payload: 64 KiB chunks, a full-size chunk tried as a middle chunk first, then as the last. */
export function decryptPayload(key: Uint8Array, ct: Uint8Array): Uint8Array {
  const out: Uint8Array[] = [];
  const full = CHUNK + TAG;
  let off = 0;
  let counter = 0;
  if (ct.length === 0) throw new AgeError('payload', 'missing payload');
  for (;;) {
    const rest = ct.length - off;
    if (rest === 0) throw new AgeError('payload', 'truncated payload: no final chunk');
    if (rest < TAG) throw new AgeError('payload', 'truncated payload chunk');
    const piece = ct.subarray(off, off + Math.min(rest, full));
    if (rest > full) {
      const pt = open(key, chunkNonce(counter, false), piece);
      if (!pt) {
        if (open(key, chunkNonce(counter, true), piece)) throw new AgeError('payload', 'trailing data after the final chunk');
        throw new AgeError('payload', `payload chunk ${counter} failed authentication`);
      }
      out.push(pt);
    } else if (rest === full) {
      const mid = open(key, chunkNonce(counter, false), piece);
      if (mid) {
        out.push(mid);
        off += full;
        counter++;
        continue;
      }
      const last = open(key, chunkNonce(counter, true), piece);
      if (!last) throw new AgeError('payload', `payload chunk ${counter} failed authentication`);
      out.push(last);
      return concat(...out);
    } else {
      const last = open(key, chunkNonce(counter, true), piece);
      if (!last) throw new AgeError('payload', `payload chunk ${counter} failed authentication (truncated or modified)`);
      if (last.length === 0 && counter > 0) throw new AgeError('payload', 'final chunk is empty');
      out.push(last);
      return concat(...out);
    }
    off += full;
    counter++;
  }
}

export interface DecryptInput {
  identities?: Identity[];
  passphrase?: Uint8Array;
  onProgress?: (p: number) => void;
}

export function readHeader(file: Uint8Array): { header: ParsedHeader; binary: Uint8Array } {
  const binary = isArmored(file) ? dearmor(file) : file;
  return { header: parseHeader(binary, true)!, binary };
}

/** Decrypts a whole age file (armored or not): the same checks, in the same order, as the CLI. */
export async function decryptAge(file: Uint8Array, o: DecryptInput): Promise<{ plaintext: Uint8Array; header: ParsedHeader; opener?: Identity }> {
  const { header, binary } = readHeader(file);
  checkScryptAlone(header.stanzas);
  let fileKey: Uint8Array | null = null;
  let opener: Identity | undefined;
  if (o.passphrase) fileKey = await unwrapScrypt(header.stanzas, o.passphrase, o.onProgress);
  for (const id of o.identities ?? []) {
    if (fileKey) break;
    fileKey = unwrapX25519(header.stanzas, id);
    if (fileKey) opener = id;
  }
  if (!fileKey) throw new AgeError('no-match', 'no identity matched any of the recipients');
  verifyHeaderMac(header, fileKey);
  const rest = binary.subarray(header.length);
  if (rest.length < NONCE_SIZE) throw new AgeError('header', 'missing payload nonce');
  const key = hkdf(sha256, fileKey, rest.subarray(0, NONCE_SIZE), utf8('payload'), 32);
  const plaintext = decryptPayload(key, rest.subarray(NONCE_SIZE));
  return { plaintext, header, ...(opener ? { opener } : {}) };
}

const DEFAULT_LOG_N = 18;

function scryptKey(passphrase: Uint8Array, salt: Uint8Array, logN: number, onProgress?: (p: number) => void): Promise<Uint8Array> {
  const N = 2 ** logN;
  return scryptAsync(passphrase, concat(utf8(SCRYPT_LABEL), salt), {
    N,
    r: 8,
    p: 1,
    dkLen: 32,
    maxmem: 129 * N * 8 + (1 << 20),
    ...(onProgress ? { onProgress } : {}),
  });
}

/** The STREAM payload, sealed: 64 KiB chunks, the last one flagged (an empty plaintext is one empty final chunk). */
export function encryptPayload(key: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const out: Uint8Array[] = [];
  let counter = 0;
  for (let off = 0; ; off += CHUNK, counter++) {
    const last = plaintext.length - off <= CHUNK;
    out.push(chacha20poly1305(key, chunkNonce(counter, last)).encrypt(plaintext.subarray(off, off + CHUNK)));
    if (last) return concat(...out);
  }
}

/** An armored age file encrypted with a passphrase (scrypt, log2 N = 18 unless told), as `init --passphrase` writes a key file. */
export async function encryptWithPassphrase(
  plaintext: Uint8Array,
  passphrase: Uint8Array,
  logN = DEFAULT_LOG_N,
  onProgress?: (p: number) => void,
): Promise<string> {
  const fileKey = randomBytes(16);
  const salt = randomBytes(16);
  const key = await scryptKey(passphrase, salt, logN, onProgress);
  const stanza: Stanza = { type: 'scrypt', args: [encodeB64(salt), String(logN)], body: chacha20poly1305(key, new Uint8Array(12)).encrypt(fileKey) };
  const macInput = headerMacInput([stanza]);
  const header = joinHeader(macInput, hmac(sha256, hkdf(sha256, fileKey, new Uint8Array(0), utf8('header'), 32), macInput));
  const nonce = randomBytes(NONCE_SIZE);
  const payload = encryptPayload(hkdf(sha256, fileKey, nonce, utf8('payload'), 32), plaintext);
  fileKey.fill(0);
  return armor(concat(header, nonce, payload));
}
