import { VaultError } from '../errors/errors.js';

/**
 * One grammar for every duration a user types, in an option or a plan
 * field: a number (decimals allowed) and a unit, or several in a row
 * (`1h30m`, `1d12h`):
 *
 *   s            seconds
 *   m, min       minutes
 *   h            hours
 *   d            days
 *   w            weeks (7 days)
 *   mo           calendar months
 *   y            calendar years (12 months)
 *
 * Months and years are calendar units: `addDuration` adds them to a date
 * month by month (30 November + 3mo is the last day of February). Where a
 * single number of seconds is needed (an RPO, a metric), a month counts as
 * the Gregorian average, 30.436875 days.
 *
 * restic's `--keep-within` reads `m` as months; where vault-tool takes a
 * restic rule, `bareMinutes: false` refuses a bare `m` rather than guess.
 */
export interface Duration {
  /** The fixed part, in milliseconds (s, m, h, d, w). */
  ms: number;
  /** The calendar part, in months (mo, y). */
  months: number;
  /** The normalized text (`90m` → `1h30m`, `15min` → `15m`, `0.25h` → `15m`). */
  text: string;
}

const FIXED: Record<string, number> = { s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const MONTH_MS = 30.436875 * 86_400_000;
/** 100 years: far beyond any retention or interval, small enough that nothing overflows. */
const MAX_MS = 100 * 12 * MONTH_MS;
const PART = /([0-9]+(?:\.[0-9]+)?)(min|mo|s|m|h|d|w|y)/y;

export interface DurationRules {
  /** Where it is read (an option or a plan field), for the message. */
  what?: string;
  /** false: refuse a bare `m` (restic reads it as months), with a hint. */
  bareMinutes?: boolean;
  /** Accept 0 (default: a duration must be positive). */
  allowZero?: boolean;
}

export function parseDuration(input: string, rules: DurationRules = {}): Duration {
  const what = rules.what ?? 'duration';
  const t = input.trim().toLowerCase();
  const fail = (why: string, hint?: string) =>
    new VaultError('usage', `${what} ${JSON.stringify(input)}: ${why}`, {
      hint: hint ?? 'write a number and a unit, or several: 90s, 15m (or 15min), 36h, 30d, 2w, 6mo, 1y, 1h30m',
      code: 'bad-duration',
    });
  if (t === '') throw fail('empty');
  let ms = 0;
  let months = 0;
  let at = 0;
  const seen = new Set<string>();
  PART.lastIndex = 0;
  while (at < t.length) {
    PART.lastIndex = at;
    const m = PART.exec(t);
    if (!m) throw fail('expected a number and one of the units s, m, min, h, d, w, mo, y');
    const [, num, rawUnit] = m as unknown as [string, string, string];
    const unit = rawUnit === 'min' ? 'm' : rawUnit;
    if (rawUnit === 'm' && rules.bareMinutes === false) {
      throw fail('ambiguous: "m" is minutes here, but months in restic', 'write 6mo for months, or 30min for minutes');
    }
    if (seen.has(unit)) throw fail(`the unit ${unit} appears twice`);
    seen.add(unit);
    const n = Number(num);
    if (unit === 'mo' || unit === 'y') {
      const mo = unit === 'y' ? n * 12 : n;
      if (!Number.isInteger(mo)) throw fail('months and years must come out as whole months (use d or w for less)');
      months += mo;
    } else {
      ms += n * (FIXED[unit] as number);
    }
    at = PART.lastIndex;
  }
  ms = Math.round(ms);
  const total = ms + months * MONTH_MS;
  if (!Number.isFinite(total) || total > MAX_MS) throw fail('too long (at most 100 years)');
  if (total === 0 && !rules.allowZero) throw fail('must be longer than zero');
  // Durations are whole seconds (their text, the schedules and the reports have no fractions): 1.5s is refused, not rounded.
  if (ms % 1000 !== 0) throw fail(ms < 1000 ? 'shorter than a second' : 'not a whole number of seconds');
  return { ms, months, text: formatDuration({ ms, months }) };
}

/** The duration in seconds (a month is the Gregorian average). */
export function durationSeconds(d: Pick<Duration, 'ms' | 'months'>): number {
  return Math.round((d.ms + d.months * MONTH_MS) / 1000);
}

/** `from` plus the duration: calendar months first (in UTC, clamped to the month's end), then the fixed part. */
export function addDuration(from: Date, d: Pick<Duration, 'ms' | 'months'>): Date {
  let t = from.getTime();
  if (d.months) {
    const y = from.getUTCFullYear();
    const mo = from.getUTCMonth() + d.months;
    const lastDay = new Date(Date.UTC(y, mo + 1, 0)).getUTCDate();
    t = Date.UTC(y, mo, Math.min(from.getUTCDate(), lastDay), from.getUTCHours(), from.getUTCMinutes(), from.getUTCSeconds(), from.getUTCMilliseconds());
  }
  return new Date(t + d.ms);
}

/** `from` minus the duration (the calendar part by months, as `addDuration`). */
export function subtractDuration(from: Date, d: Pick<Duration, 'ms' | 'months'>): Date {
  return addDuration(new Date(from.getTime() - d.ms), { ms: 0, months: -d.months });
}

/** The normalized text of a duration: `1y2mo`, `30d`, `1d2h3m4s` (weeks as days); whole seconds. */
export function formatDuration(d: Pick<Duration, 'ms' | 'months'>): string {
  let out = '';
  if (d.months) {
    const y = Math.floor(d.months / 12);
    const mo = d.months % 12;
    if (y) out += `${y}y`;
    if (mo) out += `${mo}mo`;
  }
  let s = Math.round(d.ms / 1000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(s / size);
    if (n) out += `${n}${unit}`;
    s -= n * size;
  }
  return out || '0s';
}

/** A number of seconds as a duration text, for status tables and reports (`5400` → `1h30m`). */
export function formatSeconds(seconds: number): string {
  return formatDuration({ ms: Math.max(0, Math.round(seconds)) * 1000, months: 0 });
}
