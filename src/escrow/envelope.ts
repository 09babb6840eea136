import { VaultError } from '../errors/errors.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, fromHex, fromUtf8, toHex, utf8 } from '../age/bytes.js';

/**
 * The share envelope (docs/FORMAT.md, "Share envelope"), big-endian:
 *   version u8 | set id 8 | epoch u16 | threshold u8 | count u8 | index u8
 *   | key id 8 | (version 2: key file created u48, ms since 1970, 0 = not recorded)
 *   | label length u8 | label UTF-8 | share length u8 | share bytes
 * Version 1 (no creation time) is still read. The text form and share files
 * add a SHA-256 checksum around it.
 * No Node API here: the browser recovery kit decodes shares with this code.
 */
export const ENVELOPE_VERSION = 2;
export const MAX_LABEL = 48;
const SUPPORTED = [1, 2];

export interface Share {
  version: number;
  setId: string; // 16 hex
  epoch: number;
  threshold: number;
  count: number;
  index: number;
  keyId: string; // 16 hex
  /**
   * The `# created:` time of the key file that was split (version 2), so a
   * key file rebuilt from shares is the original byte for byte.
   */
  keyCreatedAt?: string;
  label: string;
  share: Uint8Array; // shamir-secret-sharing output: y values then the x coordinate
}

export function checkParams(threshold: number, count: number): void {
  if (!Number.isInteger(count) || count < 2 || count > 255) throw new VaultError('usage', 'shares must be at least 2 and at most 255');
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > 255) throw new VaultError('usage', 'threshold must be at least 2 and at most 255');
  if (threshold > count)
    throw new VaultError('usage', `threshold must be at most the number of shares: ${threshold} of ${count} could never be brought together`, {
      code: 'threshold-above-shares',
      data: { threshold: String(threshold), count: String(count) },
    });
}

export function checkLabel(label: string): string {
  if (!label || utf8(label).length > MAX_LABEL || /[\u0000-\u001f\u007f]/.test(label)) {
    throw new VaultError('usage', `custodian name must be 1 to ${MAX_LABEL} bytes of printable text: ${JSON.stringify(label.slice(0, 60))}`);
  }
  return label;
}

/**
 * A custodian's name as given (a flag, a library call): in Unicode's
 * composed form (NFC), so that `Jürgen` typed with a combined ü and with u
 * plus a combining diaeresis is one name, stored and shown alike. A name
 * read back from a share is never changed: its bytes are what was signed.
 */
export const custodianName = (label: string): string => checkLabel(label.normalize('NFC'));

/** A custodian's name as people compare names: without case, spacing or punctuation (alice, Alice and "a lice" are one), in any script. */
export const personKey = (label: string): string =>
  label
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '');

/** 9999-12-31T23:59:59.999Z: the last time with a four-digit year. */
const MAX_MS = 253402300799999;

/**
 * The milliseconds of a key file's `# created:` time when the text is exactly
 * what vault-tool writes (an ISO-8601 UTC time with milliseconds), so the
 * same text comes back from them; undefined for any other text.
 */
export function createdMillis(createdAt: string | undefined): number | undefined {
  if (!createdAt || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(createdAt)) return undefined;
  const ms = Date.parse(createdAt);
  if (!Number.isSafeInteger(ms) || ms <= 0 || ms > MAX_MS || new Date(ms).toISOString() !== createdAt) return undefined;
  return ms;
}

function u48(ms: number): Uint8Array {
  const out = new Uint8Array(6);
  let v = ms;
  for (let i = 5; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

export function encodeEnvelope(s: Share): Uint8Array {
  if (!SUPPORTED.includes(s.version)) throw new VaultError('internal', `share envelope version ${s.version} cannot be written`);
  const label = utf8(checkLabel(s.label));
  const head = new Uint8Array(22);
  head[0] = s.version;
  head.set(fromHex(s.setId), 1);
  head[9] = s.epoch >> 8;
  head[10] = s.epoch & 0xff;
  head[11] = s.threshold;
  head[12] = s.count;
  head[13] = s.index;
  head.set(fromHex(s.keyId), 14);
  const parts: Uint8Array[] = [head];
  if (s.version >= 2) {
    const ms = s.keyCreatedAt === undefined ? 0 : createdMillis(s.keyCreatedAt);
    if (ms === undefined) throw new VaultError('internal', `key creation time ${JSON.stringify(s.keyCreatedAt)} cannot be carried in a share`);
    parts.push(u48(ms));
  } else if (s.keyCreatedAt !== undefined) throw new VaultError('internal', 'a version 1 share carries no key creation time');
  return concat(...parts, new Uint8Array([label.length]), label, new Uint8Array([s.share.length]), s.share);
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
  if (b.length < 1) throw bad('too short');
  if (!SUPPORTED.includes(b[0]!)) throw new VaultError('bad-share', `share format ${b[0]} is not supported by this vault-tool`, 'upgrade vault-tool');
  const timeLen = b[0]! >= 2 ? 6 : 0;
  const labelLenAt = 22 + timeLen;
  if (b.length < labelLenAt + 3) throw bad('too short');
  const labelLen = b[labelLenAt]!;
  const shareLenAt = labelLenAt + 1 + labelLen;
  if (b.length < shareLenAt + 1) throw bad('truncated label');
  const shareLen = b[shareLenAt]!;
  if (b.length !== shareLenAt + 1 + shareLen) throw bad('length mismatch');
  let ms = 0;
  for (let i = 22; i < 22 + timeLen; i++) ms = ms * 256 + b[i]!;
  if (ms > MAX_MS) throw bad('key creation time out of range');
  const s: Share = {
    version: b[0]!,
    setId: toHex(b.subarray(1, 9)),
    epoch: (b[9]! << 8) | b[10]!,
    threshold: b[11]!,
    count: b[12]!,
    index: b[13]!,
    keyId: toHex(b.subarray(14, 22)),
    ...(ms ? { keyCreatedAt: new Date(ms).toISOString() } : {}),
    label: labelOf(b.subarray(labelLenAt + 1, shareLenAt)),
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
