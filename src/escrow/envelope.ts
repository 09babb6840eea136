import { VaultError } from '../errors/errors.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, fromHex, fromUtf8, toHex, utf8 } from '../age/bytes.js';

/**
 * The share envelope (docs/FORMAT.md, "Share envelope"), big-endian:
 *   version u8 (=1) | set id 8 | epoch u16 | threshold u8 | count u8 | index u8
 *   | key id 8 | label length u8 | label UTF-8 | share length u8 | share bytes
 * The text form and share files add a SHA-256 checksum around it.
 * No Node API here: the browser recovery kit decodes shares with this code.
 */
export const ENVELOPE_VERSION = 1;
export const MAX_LABEL = 48;

export interface Share {
  version: number;
  setId: string; // 16 hex
  epoch: number;
  threshold: number;
  count: number;
  index: number;
  keyId: string; // 16 hex
  label: string;
  share: Uint8Array; // shamir-secret-sharing output: y values then the x coordinate
}

export function checkParams(threshold: number, count: number): void {
  if (!Number.isInteger(count) || count < 2 || count > 255) throw new VaultError('usage', 'shares must be at least 2 and at most 255');
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > 255) throw new VaultError('usage', 'threshold must be at least 2 and at most 255');
  if (threshold > count) throw new VaultError('usage', 'threshold must be at most the number of shares');
}

export function checkLabel(label: string): string {
  if (!label || utf8(label).length > MAX_LABEL || /[\u0000-\u001f\u007f]/.test(label)) {
    throw new VaultError('usage', `custodian name must be 1 to ${MAX_LABEL} bytes of printable text: ${JSON.stringify(label.slice(0, 60))}`);
  }
  return label;
}

export function encodeEnvelope(s: Share): Uint8Array {
  const label = utf8(checkLabel(s.label));
  const head = new Uint8Array(23);
  head[0] = s.version;
  head.set(fromHex(s.setId), 1);
  head[9] = s.epoch >> 8;
  head[10] = s.epoch & 0xff;
  head[11] = s.threshold;
  head[12] = s.count;
  head[13] = s.index;
  head.set(fromHex(s.keyId), 14);
  head[22] = label.length;
  return concat(head, label, new Uint8Array([s.share.length]), s.share);
}

function labelOf(b: Uint8Array): string {
  try {
    return fromUtf8(b);
  } catch {
    throw new VaultError('bad-share', 'malformed share: the custodian name is not UTF-8');
  }
}

export function decodeEnvelope(b: Uint8Array): Share {
  const bad = (m: string) => new VaultError('bad-share', `malformed share: ${m}`);
  if (b.length < 25) throw bad('too short');
  if (b[0] !== ENVELOPE_VERSION) throw new VaultError('bad-share', `share format ${b[0]} is not supported by this vault-tool`, 'upgrade vault-tool');
  const labelLen = b[22]!;
  const shareLenAt = 23 + labelLen;
  if (b.length < shareLenAt + 1) throw bad('truncated label');
  const shareLen = b[shareLenAt]!;
  if (b.length !== shareLenAt + 1 + shareLen) throw bad('length mismatch');
  const s: Share = {
    version: b[0]!,
    setId: toHex(b.subarray(1, 9)),
    epoch: (b[9]! << 8) | b[10]!,
    threshold: b[11]!,
    count: b[12]!,
    index: b[13]!,
    keyId: toHex(b.subarray(14, 22)),
    label: labelOf(b.subarray(23, shareLenAt)),
    share: new Uint8Array(b.subarray(shareLenAt + 1)),
  };
  if (s.threshold < 2 || s.count < s.threshold || s.index < 1 || s.index > s.count) throw bad('inconsistent threshold, count or index');
  if (s.share.length < 2) throw bad('no share bytes');
  return s;
}

/** SHA-256 of the envelope, as listed in the signed manifest. */
export function shareHash(s: Share): string {
  return toHex(sha256(encodeEnvelope(s)));
}
