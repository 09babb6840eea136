import { chainFits, chainOf, type ChainLink, type HistoryEntry } from './history.js';
import { formatLsn, historyName, lastSegnoBefore, parseLsn, segmentName, segnoOf } from './names.js';

/**
 * Which WAL a base backup needs, and whether the archive holds it without a
 * gap: a pure judgment on names (what the archive holds, committed) and the
 * timeline histories, as PostgreSQL's recovery reads them. For each segment
 * number from the backup's start, recovery reads the file of the newest
 * timeline of the chain that had begun by then; so the archive must hold
 * exactly those names, from the backup's start to the newest segment.
 */
export interface ArchiveView {
  segmentSize: number;
  /** Committed names (a file and its manifest). */
  names: Set<string>;
  /** Parsed history files, by timeline. */
  histories: Map<number, HistoryEntry[]>;
}

export interface BaseRef {
  timeline: number;
  startLsn: string;
  stopLsn: string;
}

export interface Continuity {
  /** The timeline a recovery follows (the newest the backup can reach, as recovery_target_timeline = latest). */
  timeline: number;
  chain: ChainLink[];
  /** Segments from the backup's start up to the first missing one (or to the newest), in order. */
  segments: string[];
  /** The first segment missing after the backup's start and before the newest one archived, if any. */
  missing?: string;
  /** The newest segment of the chain that the archive holds (after a gap too). */
  newest?: string;
  /** Whether the backup's own WAL (start to stop) is whole: without it the backup cannot be restored at all. */
  baseWhole: boolean;
  /** Timelines that cannot be followed: segments without their history file. */
  problems: string[];
}

/** The timelines the archive knows: from segment names and history files. */
function timelinesOf(view: ArchiveView): number[] {
  const t = new Set<number>(view.histories.keys());
  for (const n of view.names) if (/^[0-9A-F]{24}/.test(n)) t.add(Number(`0x${n.slice(0, 8)}`));
  return [...t].sort((a, b) => a - b);
}

/** The newest timeline a recovery of `base` can follow, and its chain (`wanted`: a given timeline instead). */
export function chainFor(view: ArchiveView, base: BaseRef, wanted?: number): { timeline: number; chain: ChainLink[]; problems: string[] } {
  const stop = parseLsn(base.stopLsn);
  const problems: string[] = [];
  let best = { timeline: base.timeline, chain: chainOf(base.timeline, view.histories.get(base.timeline) ?? []) };
  for (const t of timelinesOf(view)) {
    if (t <= base.timeline || (wanted !== undefined && t !== wanted)) continue;
    const h = view.histories.get(t);
    if (!h) {
      problems.push(`timeline ${t} has segments but the archive lacks its history file ${historyName(t)}: recovery cannot follow it`);
      continue;
    }
    const chain = chainOf(t, h);
    if (chainFits(chain, base.timeline, stop) && t > best.timeline) best = { timeline: t, chain };
  }
  return { ...best, problems };
}

/** The timeline of the chain recovery reads segment `segno` from. */
function timelineAt(chain: ChainLink[], segno: bigint, segSize: number): number {
  for (let i = chain.length - 1; i >= 0; i--) if (segnoOf(chain[i]!.begin, segSize) <= segno) return chain[i]!.timeline;
  return chain[0]!.timeline;
}

/**
 * The continuity of the archive for one base backup: every segment it needs
 * from its start to the newest the archive holds on its chain.
 */
export function continuity(view: ArchiveView, base: BaseRef, wanted?: number): Continuity {
  const seg = view.segmentSize;
  const { timeline, chain, problems } = chainFor(view, base, wanted);
  const from = segnoOf(parseLsn(base.startLsn), seg);
  const stopSeg = segnoOf(parseLsn(base.stopLsn), seg);
  // The newest segment held on the chain: per timeline, within the part of the log it owns.
  let end = -1n;
  for (let i = 0; i < chain.length; i++) {
    const link = chain[i]!;
    const lo = segnoOf(link.begin, seg);
    const hi = link.end === null ? null : lastSegnoBefore(link.end, seg);
    const prefix = segmentName(link.timeline, 0n, seg).slice(0, 8);
    for (const n of view.names) {
      if (n.length !== 24 || !n.startsWith(prefix)) continue;
      const s = BigInt(`0x${n.slice(8, 16)}`) * BigInt(0x100000000 / seg) + BigInt(`0x${n.slice(16)}`);
      if (s >= lo && (hi === null || s <= hi) && s > end && timelineAt(chain, s, seg) === link.timeline) end = s;
    }
  }
  const segments: string[] = [];
  let missing: string | undefined;
  for (let s = from; s <= (end > stopSeg ? end : stopSeg); s++) {
    const name = segmentName(timelineAt(chain, s, seg), s, seg);
    if (!view.names.has(name)) {
      missing = name;
      break;
    }
    segments.push(name);
  }
  return {
    timeline,
    chain,
    segments,
    ...(missing ? { missing } : {}),
    ...(end >= 0n ? { newest: segmentName(timelineAt(chain, end, seg), end, seg) } : {}),
    baseWhole: segments.length > Number(stopSeg - from),
    problems,
  };
}

export const describeChain = (c: ChainLink[]) => c.map((l) => `${l.timeline}${l.end === null ? '' : ` (to ${formatLsn(l.end)})`}`).join(' → ');
