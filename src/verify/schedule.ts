import { VaultError } from '../errors/errors.js';

/**
 * How often verification is due: `quarterly` (the default), `monthly`,
 * `yearly`, or a duration (`90d`, `12w`, `36h`). Calendar intervals add
 * months and clamp to the month's last day (30 November + 3 months is 28
 * or 29 February), so due dates do not drift across year ends or leap days.
 */
export type Interval = { months: number; text: string } | { ms: number; text: string };

export function parseInterval(text: string): Interval {
  const t = text.trim().toLowerCase();
  if (t === 'quarterly') return { months: 3, text: t };
  if (t === 'monthly') return { months: 1, text: t };
  if (t === 'yearly' || t === 'annually') return { months: 12, text: t };
  const m = /^([1-9][0-9]{0,4})(h|d|w)$/.exec(t);
  if (!m) throw new VaultError('usage', `interval ${JSON.stringify(text)}: expected quarterly, monthly, yearly, or a duration such as 90d, 12w, 36h`);
  const unit = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }[m[2] as 'h' | 'd' | 'w'];
  return { ms: Number(m[1]) * unit, text: t };
}

/** `from` plus the interval (calendar months in UTC, clamped to the month's end). */
export function addInterval(from: Date, iv: Interval): Date {
  if ('ms' in iv) return new Date(from.getTime() + iv.ms);
  const y = from.getUTCFullYear();
  const mo = from.getUTCMonth() + iv.months;
  const lastDay = new Date(Date.UTC(y, mo + 1, 0)).getUTCDate();
  return new Date(
    Date.UTC(y, mo, Math.min(from.getUTCDate(), lastDay), from.getUTCHours(), from.getUTCMinutes(), from.getUTCSeconds(), from.getUTCMilliseconds()),
  );
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
