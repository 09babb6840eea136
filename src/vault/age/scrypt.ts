import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { AgeError } from '../errors.js';
import { decodeB64, encodeB64 } from './base64.js';
import type { Stanza } from './header.js';

const LABEL = 'age-encryption.org/v1/scrypt';
/** Same cap as the reference implementation: log2(N) above 22 costs more than 4 GiB and is refused. */
export const MAX_LOG_N = 22;
export const DEFAULT_LOG_N = 18;

function derive(passphrase: Uint8Array, salt: Buffer, logN: number): Buffer {
  const N = 2 ** logN;
  return scryptSync(passphrase, Buffer.concat([Buffer.from(LABEL), salt]), 32, { N, r: 8, p: 1, maxmem: 129 * N * 8 + (1 << 20) });
}

export function wrapScrypt(passphrase: Uint8Array, fileKey: Uint8Array, logN = DEFAULT_LOG_N): Stanza {
  const salt = randomBytes(16);
  const key = derive(passphrase, salt, logN);
  const c = createCipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: 16 });
  const body = Buffer.concat([c.update(fileKey), c.final(), c.getAuthTag()]);
  return { type: 'scrypt', args: [encodeB64(salt), String(logN)], body };
}

export function unwrapScrypt(passphrase: Uint8Array, stanzas: Stanza[]): Buffer | null {
  for (const s of stanzas) {
    if (s.type !== 'scrypt') continue;
    if (s.args.length !== 2) throw new AgeError('header', 'invalid scrypt stanza');
    const salt = decodeB64(s.args[0]!, 'scrypt salt');
    if (salt.length !== 16) throw new AgeError('header', 'invalid scrypt salt');
    if (!/^[1-9][0-9]{0,2}$/.test(s.args[1]!)) throw new AgeError('header', 'invalid scrypt work factor');
    const logN = Number(s.args[1]);
    if (logN > MAX_LOG_N) throw new AgeError('header', 'scrypt work factor is too high');
    if (s.body.length !== 32) throw new AgeError('header', 'invalid scrypt stanza body');
    const key = derive(passphrase, salt, logN);
    const d = createDecipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: 16 });
    d.setAuthTag(s.body.subarray(16));
    const fk = d.update(s.body.subarray(0, 16));
    try {
      d.final();
      return fk;
    } catch {
      return null;
    }
  }
  return null;
}
