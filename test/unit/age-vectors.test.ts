import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AgeError } from '../../src/errors/errors.js';
import { dearmor, decrypt, NONCE_SIZE, payloadKey, readHeader, StreamDecryptor, unwrapFileKey, X25519Identity } from '../../src/age/index.js';
import { loadVectors } from '../helpers/vectors.js';

const FAILURE: Record<string, string> = {
  'header failure': 'header',
  'HMAC failure': 'hmac',
  'no match': 'no-match',
  'payload failure': 'payload',
  'armor failure': 'armor',
};

const vectors = loadVectors();
// Post-quantum hybrid identities (AGE-SECRET-KEY-PQ-1…) are not offered: the stock age 1.1 cannot open them either.
const unsupported = vectors.filter((v) => v.unknownKeys.length || v.identities.some((i) => i.startsWith('AGE-SECRET-KEY-PQ-')));
const supported = vectors.filter((v) => !unsupported.includes(v));

/** Streams the payload chunk by chunk, recording what was released before any failure. */
function streamDecrypt(file: Buffer, ids: X25519Identity[], passphrase?: Buffer): { released: Buffer; error?: unknown } {
  const released: Buffer[] = [];
  try {
    const binary = file;
    const { header } = readHeader(binary);
    const fileKey = unwrapFileKey(header, { identities: ids, passphrase });
    const rest = binary.subarray(header.length);
    if (rest.length < NONCE_SIZE) throw new AgeError('header', 'missing payload nonce');
    const d = new StreamDecryptor(payloadKey(fileKey, rest.subarray(0, NONCE_SIZE)));
    const body = rest.subarray(NONCE_SIZE);
    // Feed in odd-sized pieces so chunk boundaries fall anywhere.
    for (let off = 0; off < body.length; off += 7919) released.push(...d.push(body.subarray(off, off + 7919)));
    released.push(d.final());
    return { released: Buffer.concat(released) };
  } catch (error) {
    return { released: Buffer.concat(released), error };
  }
}

describe('C2SP age test vectors', () => {
  it(`covers the suite (${supported.length} run, ${unsupported.length} skipped: post-quantum hybrid identities not offered)`, () => {
    expect(vectors.length).toBeGreaterThan(100);
    expect(supported.length).toBeGreaterThan(110);
    for (const v of unsupported) expect(v.name).toMatch(/hybrid/);
  });

  for (const v of supported) {
    it(v.name, () => {
      const ids = v.identities.map((s) => X25519Identity.parse(s));
      const passphrase = v.passphrases[0] ? Buffer.from(v.passphrases[0]) : undefined;
      let file = v.file;
      if (v.armored) {
        try {
          file = Buffer.from(dearmor(v.file));
        } catch (e) {
          expect(e).toBeInstanceOf(AgeError);
          expect((e as AgeError).failure).toBe(FAILURE[v.expect]);
          return;
        }
      }
      // Only scrypt_double carries two passphrases; either must fail the same way, try the first.
      const whole = (() => {
        try {
          return { plaintext: decrypt(file, { identities: ids, passphrase }).plaintext };
        } catch (error) {
          return { error };
        }
      })();
      const streamed = streamDecrypt(file, ids, passphrase);
      if (v.expect === 'success') {
        expect(whole.error).toBeUndefined();
        expect(createHash('sha256').update(whole.plaintext!).digest('hex')).toBe(v.payload);
        expect(streamed.error).toBeUndefined();
        expect(createHash('sha256').update(streamed.released).digest('hex')).toBe(v.payload);
        return;
      }
      expect(whole.error).toBeInstanceOf(AgeError);
      expect((whole.error as AgeError).failure).toBe(FAILURE[v.expect]);
      expect((streamed.error as AgeError).failure).toBe(FAILURE[v.expect]);
      if (v.expect === 'payload failure' && v.payload) {
        expect(createHash('sha256').update(streamed.released).digest('hex')).toBe(v.payload);
      }
    });
  }
});
