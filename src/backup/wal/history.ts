import { VaultError } from '../../errors/errors.js';
import { formatLsn, parseLsn } from './names.js';

/**
 * A timeline history file (`TTTTTTTT.history`): one line per ancestor,
 * oldest first, `parent-timeline <TAB> switch-point LSN <TAB> reason`, and
 * `#` comments. Timeline T's file names every timeline it descends from,
 * each with the LSN where its successor branched off.
 */
export interface HistoryEntry {
  timeline: number;
  /** Where the next timeline branched off: this timeline's WAL ends here. */
  switchpoint: bigint;
  reason: string;
}

export function parseHistory(text: string, timeline: number, where: string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)\s*(.*)$/.exec(line);
    if (!m) throw new VaultError('integrity', `${where}: line ${i + 1} is not "timeline <tab> LSN <tab> reason"`);
    const entry = { timeline: Number(m[1]), switchpoint: parseLsn(m[2]!), reason: m[3]!.trim() };
    const prev = out[out.length - 1];
    if (entry.timeline < 1 || entry.timeline >= timeline || (prev && (entry.timeline <= prev.timeline || entry.switchpoint < prev.switchpoint)))
      throw new VaultError(
        'integrity',
        `${where}: line ${i + 1} (timeline ${entry.timeline} at ${formatLsn(entry.switchpoint)}) breaks the order of a history`,
      );
    out.push(entry);
  }
  if (timeline > 1 && !out.length) throw new VaultError('integrity', `${where}: a history file with no timeline in it`);
  return out;
}

/** One timeline of a chain: the WAL from `begin` (inclusive) to `end` (exclusive; null: open-ended) is read from it. */
export interface ChainLink {
  timeline: number;
  begin: bigint;
  end: bigint | null;
}

/** The timelines a recovery onto `timeline` reads, oldest first, from its history. */
export function chainOf(timeline: number, history: HistoryEntry[]): ChainLink[] {
  const links: ChainLink[] = [];
  let begin = 0n;
  for (const h of history) {
    links.push({ timeline: h.timeline, begin, end: h.switchpoint });
    begin = h.switchpoint;
  }
  links.push({ timeline, begin, end: null });
  return links;
}

/**
 * Whether a recovery of a base backup made on `timeline` (consistent at
 * `stop`) can follow `chain`: the backup's timeline is in it and was not
 * left before the backup's end (PostgreSQL refuses a target timeline that
 * branched off earlier).
 */
export function chainFits(chain: ChainLink[], timeline: number, stop: bigint): boolean {
  const link = chain.find((l) => l.timeline === timeline);
  return Boolean(link && (link.end === null || link.end >= stop));
}
