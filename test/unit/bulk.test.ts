import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { AgeError } from '../../src/errors/errors.js';
import { decryptStream, encryptStream } from '../../src/age/bulk.js';
import { decrypt, encrypt, parseRecipient, X25519Identity } from '../../src/age/index.js';

const id = X25519Identity.generate().identity;
const recipients = [parseRecipient(id.recipient)];

async function collect(src: Buffer, transform: NodeJS.ReadWriteStream, piece = 7777): Promise<Buffer> {
  const out: Buffer[] = [];
  async function* pieces() {
    for (let i = 0; i < src.length; i += piece) yield src.subarray(i, i + piece);
  }
  await pipeline(
    Readable.from(pieces()),
    transform,
    new Writable({
      write(c, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

describe('streaming age', () => {
  it('round-trips across chunk boundaries and interoperates with the whole-buffer API', async () => {
    for (const size of [0, 1, 65535, 65536, 65537, 3 * 65536 + 5]) {
      const msg = randomBytes(size);
      const ct = await collect(msg, encryptStream({ recipients }));
      expect(decrypt(ct, { identities: [id] }).plaintext.equals(msg), `size ${size}`).toBe(true);
      const back = await collect(encrypt(msg, { recipients }), decryptStream({ identities: [id] }), 1000);
      expect(back.equals(msg), `size ${size}`).toBe(true);
    }
  });

  it('fails a truncated or modified stream with a payload error', async () => {
    const ct = encrypt(randomBytes(200_000), { recipients });
    for (const bad of [ct.subarray(0, ct.length - 1), ct.subarray(0, ct.length - 50_000), Buffer.concat([ct, Buffer.from('x')])]) {
      await expect(collect(bad, decryptStream({ identities: [id] }))).rejects.toSatisfy((e: unknown) => e instanceof AgeError && e.failure === 'payload');
    }
    const flipped = Buffer.from(ct);
    flipped[flipped.length - 100]! ^= 1;
    await expect(collect(flipped, decryptStream({ identities: [id] }))).rejects.toThrow(/failed authentication/);
    await expect(collect(ct, decryptStream({ identities: [X25519Identity.generate().identity] }))).rejects.toThrow('no identity matched any of the recipients');
  });
});
