import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgeError } from '../../src/errors/errors.js';
import { decryptStream } from '../../src/age/bulk.js';
import { dearmor, NONCE_SIZE, payloadKey, readHeader, StreamDecryptor, unwrapFileKey, X25519Identity } from '../../src/age/index.js';
import { loadVectors, type AgeVector } from '../helpers/vectors.js';

/**
 * Every applicable C2SP CCTV age vector through the streaming path
 * (decryptStream, and StreamDecryptor on its own): in one piece, one byte at
 * a time, and in random pieces. Armored vectors are dearmored first (the
 * streams read binary age files); those whose armor is bad never reach a
 * stream. What a failing stream handed downstream before its error must be
 * exactly what the vector says was released.
 */
const FAILURE: Record<string, string> = {
  'header failure': 'header',
  'HMAC failure': 'hmac',
  'no match': 'no-match',
  'payload failure': 'payload',
};

const vectors = loadVectors().filter(
  (v) => !v.unknownKeys.length && !v.identities.some((i) => i.startsWith('AGE-SECRET-KEY-PQ-')) && v.expect !== 'armor failure',
);

function binaryOf(v: AgeVector): Buffer {
  return v.armored ? Buffer.from(dearmor(v.file)) : v.file;
}

function optsOf(v: AgeVector) {
  return { identities: v.identities.map((s) => X25519Identity.parse(s)), ...(v.passphrases[0] ? { passphrase: Buffer.from(v.passphrases[0]) } : {}) };
}

/** Writes `file` to a decryptStream in the pieces `sizes` gives (cycled), honouring backpressure; returns what came out and the error. */
async function throughStream(v: AgeVector, file: Buffer, sizes: number[], workers?: number): Promise<{ out: Buffer; error?: unknown }> {
  const d = decryptStream({ ...optsOf(v), ...(workers === undefined ? {} : { workers }) });
  const out: Buffer[] = [];
  d.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise<unknown>((res) => {
    d.on('end', () => res(undefined));
    d.on('error', (e) => res(e));
  });
  let off = 0;
  let i = 0;
  while (off < file.length && !d.destroyed) {
    const n = sizes[i++ % sizes.length]!;
    if (!d.write(file.subarray(off, off + n))) await new Promise((r) => (d.destroyed ? r(undefined) : d.once('drain', r).once('close', r)));
    off += n;
  }
  if (!d.destroyed) d.end();
  const error = await ended;
  return { out: Buffer.concat(out), ...(error ? { error } : {}) };
}

/** The same through StreamDecryptor: header whole, payload pushed in `sizes` pieces. */
function throughDecryptor(v: AgeVector, file: Buffer, sizes: number[]): { out: Buffer; error?: unknown } {
  const out: Buffer[] = [];
  try {
    const { header } = readHeader(file);
    const fileKey = unwrapFileKey(header, optsOf(v));
    const rest = file.subarray(header.length);
    if (rest.length < NONCE_SIZE) throw new AgeError('header', 'missing payload nonce');
    const d = new StreamDecryptor(payloadKey(fileKey, rest.subarray(0, NONCE_SIZE)));
    const body = rest.subarray(NONCE_SIZE);
    let i = 0;
    for (let off = 0; off < body.length; ) {
      const n = sizes[i++ % sizes.length]!;
      out.push(...d.push(body.subarray(off, off + n)));
      off += n;
    }
    out.push(d.final());
    return { out: Buffer.concat(out) };
  } catch (error) {
    return { out: Buffer.concat(out), error };
  }
}

function check(v: AgeVector, r: { out: Buffer; error?: unknown }, how: string): void {
  const sha = createHash('sha256').update(r.out).digest('hex');
  if (v.expect === 'success') {
    expect(r.error, `${v.name} ${how}`).toBeUndefined();
    expect(sha, `${v.name} ${how}`).toBe(v.payload);
    return;
  }
  expect(r.error, `${v.name} ${how}`).toBeInstanceOf(AgeError);
  expect((r.error as AgeError).failure, `${v.name} ${how}: ${(r.error as Error).message}`).toBe(FAILURE[v.expect]);
  if (v.payload) expect(sha, `${v.name} ${how}: released before the failure`).toBe(v.payload);
  else expect(r.out.length, `${v.name} ${how}`).toBe(0);
}

describe('C2SP age vectors through the streaming path', () => {
  it(`covers the suite (${vectors.length} vectors)`, () => {
    expect(vectors.length).toBeGreaterThanOrEqual(100);
    expect(vectors.filter((v) => v.expect === 'payload failure').length).toBeGreaterThanOrEqual(4);
    // The biggest vectors are past the point where a stream starts its workers.
    expect(Math.max(...vectors.map((v) => v.file.length))).toBeGreaterThan(16 << 20);
  });

  for (const v of vectors) {
    it(v.name, async () => {
      const file = binaryOf(v);
      check(v, await throughStream(v, file, [file.length || 1]), 'in one piece');
      check(v, await throughStream(v, file, [file.length || 1], 0), 'in one piece, no workers');
      check(v, throughDecryptor(v, file, [1 << 30]), 'StreamDecryptor, one piece');
      check(v, throughDecryptor(v, file, [1]), 'StreamDecryptor, one byte at a time');
      // One byte at a time through the Duplex: all of a small file; the header and the first chunks of a big one, then bigger pieces.
      const bytewise = file.length <= 300_000 ? [1] : [...Array(300_000).fill(1), 65_537];
      check(v, await throughStream(v, file, bytewise), 'one byte at a time');
    });
  }

  it('gives the same result for any split of the input (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...vectors), fc.array(fc.integer({ min: 1, max: 140_000 }), { minLength: 1, maxLength: 20 }), async (v, sizes) => {
        const file = binaryOf(v);
        check(v, await throughStream(v, file, sizes), `split ${sizes.join(',')}`);
        check(v, throughDecryptor(v, file, sizes), `StreamDecryptor split ${sizes.join(',')}`);
      }),
      { numRuns: 150 },
    );
  });
});
