import { describe, expect, it } from 'vitest';
import { addDuration, durationSeconds, formatSeconds, parseDuration } from '../../src/vault/duration.js';

/** The one duration grammar (docs/FORMAT.md, "Durations"): every option and plan field reads it. */
describe('parseDuration', () => {
  const cases: [string, number, string][] = [
    ['90s', 90, '1m30s'],
    ['15m', 900, '15m'],
    ['15min', 900, '15m'],
    ['15MIN', 900, '15m'],
    [' 2h ', 7200, '2h'],
    ['0.25h', 900, '15m'],
    ['1h30m', 5400, '1h30m'],
    ['90m', 5400, '1h30m'],
    ['30d', 30 * 86400, '30d'],
    ['2w', 14 * 86400, '14d'],
    ['1d12h', 36 * 3600, '1d12h'],
    ['1.5d', 36 * 3600, '1d12h'],
  ];
  it.each(cases)('%s is %i seconds, normalized %s', (text, seconds, norm) => {
    const d = parseDuration(text);
    expect(durationSeconds(d)).toBe(seconds);
    expect(d.text).toBe(norm);
  });

  it('months and years are calendar units', () => {
    expect(parseDuration('6mo')).toEqual({ ms: 0, months: 6, text: '6mo' });
    expect(parseDuration('1y')).toEqual({ ms: 0, months: 12, text: '1y' });
    expect(parseDuration('1y3mo')).toEqual({ ms: 0, months: 15, text: '1y3mo' });
    expect(addDuration(new Date('2026-11-30T10:00:00Z'), parseDuration('3mo')).toISOString()).toBe('2027-02-28T10:00:00.000Z');
    expect(addDuration(new Date('2027-11-30T10:00:00Z'), parseDuration('3mo')).toISOString()).toBe('2028-02-29T10:00:00.000Z');
    expect(durationSeconds(parseDuration('1y'))).toBe(31_556_952);
  });

  it.each([
    ['', 'empty'],
    ['15', 'expected a number and one of the units'],
    ['m', 'expected a number and one of the units'],
    ['15 months', 'expected a number and one of the units'],
    ['-5m', 'expected a number and one of the units'],
    ['1h1h', 'the unit h appears twice'],
    ['0s', 'must be longer than zero'],
    ['0.5mo', 'whole months'],
    ['1000y', 'too long'],
    ['0.1s', 'shorter than a second'],
  ])('refuses %j: %s', (text, why) => {
    expect(() => parseDuration(text)).toThrow(why);
  });

  it('where restic reads m as months, a bare m is refused with a hint, never guessed', () => {
    let err: unknown;
    try {
      parseDuration('6m', { bareMinutes: false, what: 'keep-within' });
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toBe('keep-within "6m": ambiguous: "m" is minutes here, but months in restic');
    expect((err as { hint: string }).hint).toBe('write 6mo for months, or 30min for minutes');
    expect(parseDuration('30min', { bareMinutes: false }).text).toBe('30m');
    expect(parseDuration('6mo', { bareMinutes: false }).months).toBe(6);
  });

  it('formats seconds for tables', () => {
    expect(formatSeconds(0)).toBe('0s');
    expect(formatSeconds(59)).toBe('59s');
    expect(formatSeconds(3600 * 26 + 61)).toBe('1d2h1m1s');
  });
});
