/**
 * Points in time as vault-tool writes them into file names and judges the
 * ones other hosts wrote. No Node API.
 */

/** `20261122T131509Z`: UTC to the second, sortable, safe in a file name (backups, copies, reports, drill journals). */
export function fileStamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** `2026-11-22T13-15-09-123Z`: to the millisecond, for a file kept aside beside the one it replaced (`.replaced-…`, `.rolled-back-…`). */
export function asideStamp(d: Date): string {
  return d.toISOString().replace(/[:.]/g, '-');
}

/** The time a name starting with a `fileStamp` (then `-`) was made, in ms since the epoch; NaN for any other name. */
export function stampedAt(name: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-/.exec(name);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : Number.NaN;
}

/** How far ahead of this host's clock another host's time may be before it counts as wrong (clocks drift; an hour does not). */
export const CLOCK_SLACK_MS = 3_600_000;

/**
 * Whether a time another host recorded (ISO 8601) lies more than an hour
 * after `now`: that host's clock is wrong, and what it dated does not count
 * until that is explained.
 */
export function inTheFuture(at: string, now: Date): boolean {
  return Date.parse(at) > now.getTime() + CLOCK_SLACK_MS;
}
