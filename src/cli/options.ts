import { InvalidArgumentError } from 'commander';

/** commander argParser: a whole number within [min, max]. */
export const wholeNumber =
  (min: number, max: number) =>
  (v: string): number => {
    if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return Number(v);
  };

/** commander argParser: seconds, a non-negative number (0: no limit), as milliseconds. */
export const seconds = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number of seconds');
  return n * 1000;
};

/** commander argParser for repeatable options. */
export const collect = (v: string, prev: string[] = []) => [...prev, v];

export const plural = (n: number, one: string, many = one + 's') => `${n} ${n === 1 ? one : many}`;
