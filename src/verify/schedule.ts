import { VaultError } from '../errors/errors.js';
import { addDuration, parseDuration } from '../vault/duration.js';

/**
 * How often verification is due: `quarterly` (the default), `monthly`,
 * `yearly`, or a duration in the one grammar (src/vault/duration.ts: `90d`,
 * `12w`, `3mo`, `36h`). Calendar intervals add months and clamp to the
 * month's last day (30 November + 3 months is 28 or 29 February), so due
 * dates do not drift across year ends or leap days. `text` is the
 * normalized form, echoed in status and reports.
 */
export type Interval = { months: number; ms?: number; text: string } | { ms: number; months?: number; text: string };

const WORDS: Record<string, number> = { quarterly: 3, monthly: 1, yearly: 12, annually: 12 };

export function parseInterval(text: string, what = 'interval'): Interval {
  const t = text.trim().toLowerCase();
  if (Object.hasOwn(WORDS, t)) return { months: WORDS[t]!, ms: 0, text: t === 'annually' ? 'yearly' : t };
  try {
    const d = parseDuration(text, { what });
    return { months: d.months, ms: d.ms, text: d.text };
  } catch (e) {
    const err = e as VaultError;
    throw new VaultError(err.kind, err.message, { hint: 'quarterly, monthly, yearly, or a duration such as 90d, 12w, 3mo, 36h', code: 'bad-duration' });
  }
}

/** `from` plus the interval (calendar months in UTC, clamped to the month's end, then the fixed part). */
export function addInterval(from: Date, iv: Interval): Date {
  return addDuration(from, { months: iv.months ?? 0, ms: iv.ms ?? 0 });
}

export interface Due {
  /** When the next verification is due; undefined when none ever succeeded (it is due now). */
  nextDue?: Date;
  overdue: boolean;
  /** Seconds past due (0 when not overdue). */
  overdueSeconds: number;
}

export function dueState(lastSuccess: string | undefined, iv: Interval, now: Date): Due {
  if (!lastSuccess) return { overdue: true, overdueSeconds: 0 };
  const nextDue = addInterval(new Date(lastSuccess), iv);
  const late = now.getTime() - nextDue.getTime();
  return { nextDue, overdue: late > 0, overdueSeconds: Math.max(0, Math.floor(late / 1000)) };
}
