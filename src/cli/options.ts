import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../vault/duration.js';

/** commander argParser: a whole number within [min, max]. */
export const wholeNumber =
  (min: number, max: number) =>
  (v: string): number => {
    if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return Number(v);
  };

/**
 * commander argParser for a timeout: a bare number of seconds (`30`; 0: no
 * limit), or a duration in the one grammar (`90s`, `2m`, `1h`), as
 * milliseconds.
 */
export const seconds = (v: string): number => {
  if (/^\s*[0-9]+(\.[0-9]+)?\s*$/.test(v)) return Number(v) * 1000;
  try {
    const d = parseDuration(v, { allowZero: true });
    if (d.months) throw new Error('months');
    return d.ms;
  } catch {
    throw new InvalidArgumentError('must be a number of seconds, or a duration such as 90s, 2m, 1h');
  }
};

/** commander argParser for repeatable options. */
export const collect = (v: string, prev: string[] = []) => [...prev, v];

export const plural = (n: number, one: string, many = one + 's') => `${n} ${n === 1 ? one : many}`;
