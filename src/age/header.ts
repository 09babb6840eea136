import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { AgeError } from '../errors/errors.js';
import { headerMacInput, joinHeader, type ParsedHeader, type Stanza } from './parse.js';

/** The header MAC on node:crypto; the parsing is in parse.ts, shared with the recovery kit. */
export { VERSION_LINE, MAX_HEADER, encodeStanza, parseHeader, type Stanza, type ParsedHeader } from './parse.js';

export function headerMac(fileKey: Uint8Array, macInput: Uint8Array): Buffer {
  const key = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'header', 32));
  return createHmac('sha256', key).update(macInput).digest();
}

export function encodeHeader(stanzas: Stanza[], fileKey: Uint8Array): Buffer {
  const macInput = headerMacInput(stanzas);
  return Buffer.from(joinHeader(macInput, headerMac(fileKey, macInput)));
}

export function verifyHeaderMac(h: ParsedHeader, fileKey: Uint8Array): void {
  const want = headerMac(fileKey, h.macInput);
  if (!timingSafeEqual(want, h.mac)) throw new AgeError('hmac', 'header mac mismatch: the file was modified');
}
