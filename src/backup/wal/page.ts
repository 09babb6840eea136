import { parseWalName } from './names.js';

/**
 * The page headers of a WAL segment (PostgreSQL's XLogPageHeaderData):
 * every page starts with a magic number that names the WAL format of the
 * server's major version, flags, the timeline, and the page's own LSN; the
 * first page of a segment has the long header, which adds the cluster's
 * system identifier, the segment size and the page size. These checks read
 * nothing else of the WAL: enough to prove a file is the segment its name
 * says, of the cluster the archive holds, whole.
 */
export const PAGE_MAGIC = new Map<number, number>([
  [0xd097, 10],
  [0xd098, 11],
  [0xd101, 12],
  [0xd106, 13],
  [0xd10d, 14],
  [0xd110, 15],
  [0xd113, 16],
  [0xd116, 17],
  [0xd118, 18],
]);

const XLP_LONG_HEADER = 0x0002;
const LONG_HEADER = 40;

export interface SegmentHeader {
  magic: number;
  timeline: number;
  pageAddress: bigint;
  systemId: string;
  segmentSize: number;
  pageSize: number;
}

/** The long header of a segment's first page, or why it is not one. */
export function readSegmentHeader(b: Uint8Array): SegmentHeader | string {
  if (b.length < LONG_HEADER) return `it is ${b.length} bytes, shorter than a WAL page header`;
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const magic = v.readUInt16LE(0);
  if (!PAGE_MAGIC.has(magic)) return `it does not start with a WAL page magic number (0x${magic.toString(16).padStart(4, '0')})`;
  if (!(v.readUInt16LE(2) & XLP_LONG_HEADER)) return 'its first page has no long header: it is not the start of a segment';
  return {
    magic,
    timeline: v.readUInt32LE(4),
    pageAddress: v.readBigUInt64LE(8),
    systemId: v.readBigUInt64LE(24).toString(),
    segmentSize: v.readUInt32LE(32),
    pageSize: v.readUInt32LE(36),
  };
}

export interface SegmentCheck {
  /** Pages that hold WAL of this segment, from the first. */
  pages: number;
  header: SegmentHeader;
}

/**
 * Checks a segment (or a `.partial` one) against its name and the cluster:
 * the first page's long header (a known magic, the timeline at most the
 * name's, the page address the segment's start, the segment size equal to
 * the file's, the system identifier), then every page: a run of pages whose
 * headers carry this segment's addresses in order, then only pages that are
 * zeros or left from an older segment (a recycled file). A page of this
 * segment after such a page, a timeline going back, or a different magic is
 * damage. Returns the check, or why it failed.
 */
export function checkSegment(name: string, b: Uint8Array, expect: { systemId?: string; segmentSize?: number; magic?: number }): SegmentCheck | string {
  const h = readSegmentHeader(b);
  if (typeof h === 'string') return h;
  const segSize = expect.segmentSize ?? h.segmentSize;
  const file = parseWalName(name, segSize);
  if (!file || (file.kind !== 'segment' && file.kind !== 'partial')) return `${name} is not the name of a segment`;
  if (b.length !== segSize) return `it is ${b.length} bytes, not a whole segment of ${segSize}`;
  if (h.segmentSize !== segSize) return `its header says segments of ${h.segmentSize} bytes, the archive holds segments of ${segSize}`;
  if (expect.magic !== undefined && h.magic !== expect.magic)
    return `its WAL format is PostgreSQL ${PAGE_MAGIC.get(h.magic)}'s (magic 0x${h.magic.toString(16)}), the archive holds PostgreSQL ${PAGE_MAGIC.get(expect.magic) ?? '?'}'s`;
  if (expect.systemId !== undefined && h.systemId !== expect.systemId)
    return `it belongs to the cluster with system identifier ${h.systemId}, the archive holds ${expect.systemId}'s`;
  if (h.pageSize < 1024 || h.pageSize > 32768 || (h.pageSize & (h.pageSize - 1)) !== 0 || segSize % h.pageSize !== 0)
    return `its header says pages of ${h.pageSize} bytes`;
  const start = file.segno * BigInt(segSize);
  if (h.pageAddress !== start) return `its first page says it is at ${h.pageAddress.toString(16)}, the segment starts at ${start.toString(16)}`;
  if (h.timeline > file.timeline) return `its first page is of timeline ${h.timeline}, after the name's ${file.timeline}`;
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const count = segSize / h.pageSize;
  let pages = 0;
  let tli = h.timeline;
  let ended = false;
  // The page address in two 32-bit halves (no BigInt per page): a segment is aligned to its size, so the low half never carries.
  const startLo = Number(start & 0xffffffffn);
  const startHi = Number(start >> 32n);
  for (let p = 0; p < count; p++) {
    const o = p * h.pageSize;
    const magic = v.readUInt16LE(o);
    const lo = v.readUInt32LE(o + 8);
    const hi = v.readUInt32LE(o + 12);
    const ours = magic === h.magic && lo === startLo + o && hi === startHi;
    if (ours) {
      if (ended) return `page ${p} holds WAL of this segment after page ${pages} did not: a hole in the segment`;
      const t = v.readUInt32LE(o + 4);
      if (t < tli || t > file.timeline) return `page ${p} is of timeline ${t}, out of order`;
      tli = t;
      pages++;
      continue;
    }
    // Past the end of the WAL written: zeros, or a page of an older segment this file was recycled from.
    if (!ended) ended = true;
    if (magic === h.magic && hi === startHi && lo >= startLo && lo < startLo + segSize)
      return `page ${p} claims address ${((BigInt(hi) << 32n) | BigInt(lo)).toString(16)}, not its own`;
  }
  return { pages, header: h };
}
