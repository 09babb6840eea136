import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { encodeB64 } from './base64.js';
import { scryptStanza, SCRYPT_LABEL as LABEL, type Stanza } from './parse.js';

export { MAX_LOG_N } from './parse.js';
export const DEFAULT_LOG_N = 18;

function derive(passphrase: Uint8Array, salt: Uint8Array, logN: number): Buffer {
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
    const { salt, logN } = scryptStanza(s);
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
