import { VaultError } from '../errors/errors.js';

/**
 * A five-field cron schedule (minute hour day-of-month month day-of-week),
 * the subset that cron, Kubernetes CronJobs and systemd timers all read the
 * same way: each field `*`, `*​/N`, `N`, `A-B`, `A-B/N` or a list of them;
 * months and weekdays also by name (jan, mon); weekday 7 is Sunday.
 *
 * Refused, because the three schedulers disagree on it: a day of the month
 * and a day of the week both restricted (cron runs when either matches,
 * systemd only when both do), and a step over weekdays (systemd has none).
 */
export interface CronSchedule {
  /** The five fields as written (normalized: lowercase, single spaces). */
  text: string;
  minute: Field;
  hour: Field;
  dom: Field;
  month: Field;
  dow: Field;
}

type Item = { from: number; to: number; step?: number; star?: boolean };
type Field = Item[];

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const SPECS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of the month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, base: 1 },
  { name: 'day of the week', min: 0, max: 7, names: DAYS, base: 0 },
] as const;

const bad = (s: string, why: string) =>
  new VaultError('usage', `schedule ${JSON.stringify(s)}: ${why}`, {
    hint: 'five fields: minute hour day-of-month month day-of-week, e.g. "0 2 * * *" (daily at 02:00) or "0 6 1 */3 *" (quarterly)',
    code: 'bad-schedule',
  });

export function parseCron(input: string): CronSchedule {
  const text = input.trim().toLowerCase().split(/\s+/).join(' ');
  const parts = text.split(' ');
  if (parts.length !== 5 || text === '') throw bad(input, `expected five fields, got ${text === '' ? 0 : parts.length}`);
  const fields = parts.map((p, i) => parseField(input, p, SPECS[i]!));
  const [minute, hour, dom, month, dow] = fields as [Field, Field, Field, Field, Field];
  const restricted = (f: Field) => !(f.length === 1 && f[0]!.star && !f[0]!.step);
  if (restricted(dom) && restricted(dow))
    throw bad(input, 'restrict the day of the month or the day of the week, not both (cron runs when either matches, systemd only when both do)');
  if (dow.some((x) => x.step)) throw bad(input, 'a step over weekdays (*/2) has no systemd form: list the days (mon,wed,fri)');
  return { text, minute, hour, dom, month, dow };
}

function parseField(input: string, f: string, spec: (typeof SPECS)[number]): Field {
  const value = (v: string): number => {
    const names = 'names' in spec ? (spec.names as readonly string[]) : undefined;
    const byName = names?.indexOf(v) ?? -1;
    if (byName >= 0) return byName + (spec as { base: number }).base;
    if (!/^[0-9]{1,2}$/.test(v)) throw bad(input, `${spec.name}: ${JSON.stringify(v)} is not a number${names ? ' or a name' : ''}`);
    const n = Number(v);
    if (n < spec.min || n > spec.max) throw bad(input, `${spec.name}: ${n} is outside ${spec.min}-${spec.max}`);
    return n;
  };
  return f.split(',').map((part) => {
    const m = /^([^/]+)(?:\/([0-9]{1,2}))?$/.exec(part);
    if (!m) throw bad(input, `${spec.name}: ${JSON.stringify(part)} is not *, N, A-B or a step /N`);
    const step = m[2] === undefined ? undefined : Number(m[2]);
    if (step !== undefined && (step < 1 || step > spec.max)) throw bad(input, `${spec.name}: step ${step} is outside 1-${spec.max}`);
    const withStep = step !== undefined ? { step } : {};
    if (m[1] === '*') return { from: spec.min, to: spec.max, star: true, ...withStep };
    const [a, b, ...more] = m[1]!.split('-');
    if (more.length) throw bad(input, `${spec.name}: ${JSON.stringify(part)} is not a range A-B`);
    const from = value(a!);
    const to = b === undefined ? from : value(b);
    if (to < from) throw bad(input, `${spec.name}: the range ${part} runs backwards`);
    if (b === undefined && step !== undefined) throw bad(input, `${spec.name}: a step needs * or a range before it (${part})`);
    return { from, to, ...withStep };
  });
}

/** The systemd OnCalendar= form: "0 6 1 *​/3 *" is "*-1/3-1 06:00:00". */
export function onCalendar(c: CronSchedule, timeZone?: string): string {
  const num = (n: number) => String(n).padStart(2, '0');
  const field = (f: Field, star: number) =>
    f
      .map((x) => {
        if (x.star) return x.step ? `${num(star)}/${x.step}` : '*';
        const range = x.from === x.to ? num(x.from) : `${num(x.from)}..${num(x.to)}`;
        return x.step ? `${range}/${x.step}` : range;
      })
      .join(',');
  const names = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  // Weekdays as a list of names (systemd's week starts on Monday, cron's on Sunday: a range is spelled out).
  const days = new Set(c.dow.flatMap((x) => Array.from({ length: x.to - x.from + 1 }, (_, i) => (x.from + i) % 7)));
  const dow = c.dow[0]!.star
    ? ''
    : `${[1, 2, 3, 4, 5, 6, 0]
        .filter((d) => days.has(d))
        .map((d) => names[d])
        .join(',')} `;
  return `${dow}*-${field(c.month, 1)}-${field(c.dom, 1)} ${field(c.hour, 0)}:${field(c.minute, 0)}:00${timeZone ? ` ${timeZone}` : ''}`;
}
