import { VaultError } from '../../errors/errors.js';

/**
 * The vocabulary of PostgreSQL's write-ahead log, as the archive uses it.
 *
 * - An LSN is a 64-bit position in the log, written `X/Y` (two hex halves).
 * - A segment is one file of the log (`wal_segment_size`, 16 MiB by
 *   default): its number is LSN / segment size. Its name is 24 hex digits:
 *   the timeline (8), then the segment number split into a "log" (8) and
 *   the segment within it (8), 2^32 / segment size segments per log.
 * - A timeline is a history of the cluster: a recovery that ends (a
 *   promote) starts a new one, whose `TTTTTTTT.history` file names every
 *   ancestor timeline and the LSN where it branched off.
 * - `SEGMENT.XXXXXXXX.backup` is the history file of a base backup;
 *   `SEGMENT.partial` is the last, unfinished segment of an old timeline,
 *   archived by a promoted standby.
 */
export type WalFile =
  | { kind: 'segment'; name: string; timeline: number; segno: bigint }
  | { kind: 'partial'; name: string; timeline: number; segno: bigint }
  | { kind: 'history'; name: string; timeline: number }
  | { kind: 'backup'; name: string; timeline: number; segno: bigint; offset: number };

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const PARTIAL = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.partial$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;
const BACKUP = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.([0-9A-F]{8})\.backup$/;

export const MIN_SEGMENT_SIZE = 1 << 20;
export const MAX_SEGMENT_SIZE = 1 << 30;

/** Whether `size` is a segment size PostgreSQL allows (a power of two from 1 MiB to 1 GiB). */
export function isSegmentSize(size: number): boolean {
  return Number.isInteger(size) && size >= MIN_SEGMENT_SIZE && size <= MAX_SEGMENT_SIZE && (size & (size - 1)) === 0;
}

const segmentsPerLog = (segSize: number) => BigInt(0x100000000 / segSize);
const hex8 = (n: number | bigint) => n.toString(16).toUpperCase().padStart(8, '0');

/**
 * Reads a name PostgreSQL archives (a segment, a `.partial` segment, a
 * timeline history or a backup history file); null for anything else. The
 * segment number needs the segment size, so it is given in "log, seg" form
 * here and resolved by segnoOf.
 */
export function parseWalName(name: string, segSize: number): WalFile | null {
  let m = SEGMENT.exec(name) ?? PARTIAL.exec(name);
  if (m) {
    const seg = BigInt(`0x${m[3]}`);
    if (seg >= segmentsPerLog(segSize)) return null;
    const timeline = Number(`0x${m[1]}`);
    if (timeline === 0) return null;
    return { kind: name.endsWith('.partial') ? 'partial' : 'segment', name, timeline, segno: BigInt(`0x${m[2]}`) * segmentsPerLog(segSize) + seg };
  }
  m = HISTORY.exec(name);
  if (m) {
    const timeline = Number(`0x${m[1]}`);
    return timeline > 1 ? { kind: 'history', name, timeline } : null;
  }
  m = BACKUP.exec(name);
  if (m) {
    const seg = BigInt(`0x${m[3]}`);
    if (seg >= segmentsPerLog(segSize)) return null;
    const timeline = Number(`0x${m[1]}`);
    if (timeline === 0) return null;
    return { kind: 'backup', name, timeline, segno: BigInt(`0x${m[2]}`) * segmentsPerLog(segSize) + seg, offset: Number(`0x${m[4]}`) };
  }
  return null;
}

/** The same check without a segment size: the shape of a name PostgreSQL archives. */
export function looksLikeWalName(name: string): boolean {
  return SEGMENT.test(name) || PARTIAL.test(name) || HISTORY.test(name) || BACKUP.test(name);
}

/** A name a restore may ask for (what restore_command's %f can be), refused otherwise: it becomes a file name. */
export function checkWalName(name: string): string {
  if (!looksLikeWalName(name) && name !== 'RECOVERYHISTORY' && name !== 'RECOVERYXLOG')
    throw new VaultError(
      'usage',
      `${JSON.stringify(name)} is not a name PostgreSQL archives: 24 hex digits (a segment), TTTTTTTT.history, SEGMENT.XXXXXXXX.backup or SEGMENT.partial`,
    );
  return name;
}

/** The name of segment `segno` of `timeline`. */
export function segmentName(timeline: number, segno: bigint, segSize: number): string {
  const per = segmentsPerLog(segSize);
  return `${hex8(timeline)}${hex8(segno / per)}${hex8(segno % per)}`;
}

export const historyName = (timeline: number) => `${hex8(timeline)}.history`;

/** `X/Y` → the 64-bit position. */
export function parseLsn(s: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(s.trim());
  if (!m) throw new VaultError('usage', `${JSON.stringify(s)} is not an LSN: expected two hex numbers as X/Y (0/3000028)`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The segment an LSN falls in. */
export const segnoOf = (lsn: bigint, segSize: number) => lsn / BigInt(segSize);

/**
 * The segment holding the last byte before `lsn`: where a timeline that
 * ends at `lsn` (a switch point) has its last segment.
 */
export const lastSegnoBefore = (lsn: bigint, segSize: number) => (lsn - 1n) / BigInt(segSize);
