import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { onCalendar, parseCron } from '../../src/verify/cron-expr.js';
import { haveBinary } from '../helpers/cli.js';

/** When cron runs a schedule: every minute from `from` on that matches all five fields (only one of the day fields is ever restricted). */
function cronTimes(expr: string, from: Date, n: number): string[] {
  const c = parseCron(expr);
  const has = (f: typeof c.minute, v: number) => f.some((x) => v >= x.from && v <= x.to && (v - x.from) % (x.step ?? 1) === 0);
  const out: string[] = [];
  // After `from`, as systemd-analyze --base-time counts.
  for (let t = new Date(from.getTime() + 60_000); out.length < n; t = new Date(t.getTime() + 60_000)) {
    const dow = t.getUTCDay();
    if (
      has(c.minute, t.getUTCMinutes()) &&
      has(c.hour, t.getUTCHours()) &&
      has(c.dom, t.getUTCDate()) &&
      has(c.month, t.getUTCMonth() + 1) &&
      (has(c.dow, dow) || (dow === 0 && has(c.dow, 7)))
    )
      out.push(t.toISOString().slice(0, 16).replace('T', ' '));
  }
  return out;
}

describe('cron schedules and their systemd form', () => {
  const cases: [string, string][] = [
    ['0 2 * * *', '*-*-* 02:00:00'],
    ['0 6 1 */3 *', '*-01/3-01 06:00:00'],
    ['*/15 * * * *', '*-*-* *:00/15:00'],
    ['30 1 * * sun', 'Sun *-*-* 01:30:00'],
    ['0 22 * * 1-5', 'Mon,Tue,Wed,Thu,Fri *-*-* 22:00:00'],
    ['0 3 * * 5-7', 'Fri,Sat,Sun *-*-* 03:00:00'],
    ['5 4 10-20/5 jan,jul *', '*-01,07-10..20/5 04:05:00'],
    ['0 0,12 * * *', '*-*-* 00,12:00:00'],
  ];
  it('converts to OnCalendar', () => {
    for (const [cron, systemd] of cases) expect(onCalendar(parseCron(cron)), cron).toBe(systemd);
    expect(onCalendar(parseCron('0 2 * * *'), 'Europe/Berlin')).toBe('*-*-* 02:00:00 Europe/Berlin');
  });

  it.skipIf(!haveBinary('systemd-analyze', ['--version']))('systemd runs each at the times cron does', () => {
    const from = new Date(Date.UTC(2027, 0, 1, 0, 0));
    for (const [cron, systemd] of cases) {
      const r = spawnSync('systemd-analyze', ['calendar', '--iterations=6', `--base-time=2027-01-01 00:00:00 UTC`, `${systemd} UTC`], {
        encoding: 'utf8',
        env: { TZ: 'UTC', PATH: process.env.PATH },
      });
      expect(r.status, r.stderr).toBe(0);
      const theirs = [...r.stdout.matchAll(/(\d{4}-\d\d-\d\d \d\d:\d\d):00 UTC/g)].map((m) => m[1]).filter((_, i, a) => a.indexOf(_) === i);
      expect(theirs, cron).toEqual(cronTimes(cron, from, 6));
    }
  });

  it('refuses what the schedulers would read differently, saying why', () => {
    const bad: [string, string][] = [
      ['0 2 * *', 'expected five fields, got 4'],
      ['60 2 * * *', 'minute: 60 is outside 0-59'],
      ['0 2 1 * mon', 'restrict the day of the month or the day of the week, not both'],
      ['0 2 * * */2', 'a step over weekdays'],
      ['0 5-2 * * *', 'hour: the range 5-2 runs backwards'],
      ['0 2 * foo *', 'month: "foo" is not a number or a name'],
      ['0 2/3 * * *', 'hour: a step needs * or a range before it'],
      ['@daily', 'expected five fields, got 1'],
    ];
    for (const [s, why] of bad) expect(() => parseCron(s), s).toThrow(why);
  });
});
