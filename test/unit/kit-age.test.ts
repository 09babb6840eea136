import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AgeError } from '../../src/errors/errors.js';
import { dearmor, decrypt } from '../../src/age/index.js';
import { decryptAge, parseIdentity } from '../../src/kit/age.js';
import { loadVectors } from '../helpers/vectors.js';

/** The recovery kit's age decryption (@noble/*) against the C2SP vectors: the same outcome as the node:crypto path, vector by vector. */
const vectors = loadVectors().filter((v) => !v.unknownKeys.length && !v.identities.some((i) => i.startsWith('AGE-SECRET-KEY-PQ-')));

type Outcome = { ok: true; sha256: string } | { ok: false; failure: string };

async function outcome(f: () => Promise<Uint8Array> | Uint8Array): Promise<Outcome> {
  try {
    return {
      ok: true,
      sha256: createHash('sha256')
        .update(await f())
        .digest('hex'),
    };
  } catch (e) {
    // A vector may hold an identity that is itself malformed: that is a key failure on both paths, not an age failure.
    if (!(e instanceof AgeError)) return { ok: false, failure: `not an age failure: ${(e as Error).message}` };
    return { ok: false, failure: e.failure };
  }
}

const FAILURE: Record<string, string> = {
  'header failure': 'header',
  'HMAC failure': 'hmac',
  'no match': 'no-match',
  'payload failure': 'payload',
  'armor failure': 'armor',
};

describe('the recovery kit decrypts the C2SP age vectors as the CLI does', () => {
  it(`runs ${vectors.length} vectors`, () => expect(vectors.length).toBeGreaterThan(110));

  for (const v of vectors) {
    it(v.name, async () => {
      const passphrase = v.passphrases[0] ? new TextEncoder().encode(v.passphrases[0]) : undefined;
      const opts = { identities: v.identities, ...(passphrase ? { passphrase } : {}) };
      const kit = (file: Uint8Array) => outcome(async () => (await decryptAge(file, { ...opts, identities: v.identities.map(parseIdentity) })).plaintext);
      const node = (file: Uint8Array) => outcome(() => decrypt(file, opts).plaintext);
      // As read from a file: armor detected by its first line.
      expect(await kit(v.file)).toEqual(await node(v.file));
      // As the vector means it: armor required where it says so (dearmor is the code both paths share).
      let strict: Outcome;
      if (v.armored) {
        try {
          const binary = dearmor(v.file);
          strict = await kit(binary);
          expect(strict).toEqual(await node(binary));
        } catch (e) {
          strict = { ok: false, failure: (e as AgeError).failure };
        }
      } else strict = await kit(v.file);
      expect(strict).toEqual(v.expect === 'success' ? { ok: true, sha256: v.payload } : { ok: false, failure: FAILURE[v.expect] });
    });
  }
});
