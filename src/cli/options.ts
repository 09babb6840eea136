import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseDuration } from '../vault/duration.js';

/** commander argParser: a whole number within [min, max]. */
export const wholeNumber =
  (min: number, max: number) =>
  (v: string): number => {
    if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return Number(v);
  };

/** --request-timeout: one Kubernetes API call's bound, read as `seconds` reads it (held as milliseconds, shown in seconds). */
export const requestTimeoutOption = (help = 'give up on one API call after this long (0: never)') =>
  new Option('--request-timeout <seconds>', help).argParser(seconds).default(30_000, '30');

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

/** What `-o/--output` may name: kubectl's structured formats. */
export const OUTPUT_FORMATS = ['json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Commands that print no structure (another program's output, a script, a tour): no -o, and --json changes nothing. */
const PLAIN = ['run', 'completion', 'demo', 'schedule', 'k8s rbac'];

/** A command's path below the root: `backup exec`. */
export function commandPath(c: Command): string {
  const names: string[] = [];
  for (let x: Command | null = c; x?.parent; x = x.parent) names.unshift(x.name());
  return names.join(' ');
}

const runs = (c: Command) => Boolean((c as unknown as { _actionHandler?: unknown })._actionHandler);
const usesO = (c: Command): boolean => c.options.some((o) => o.short === '-o' || o.long === '--output') || c.commands.some(usesO);

/**
 * `-o, --output json|yaml` (kubectl's convention) on every command that
 * prints a structure, the same as `--json` (`-o json`) or the same
 * structure as YAML: every command of the tree that runs, prints a
 * structure, and does not already use `-o` (for `--out FILE`), itself or
 * in a subcommand (a parent's option is parsed wherever it appears).
 */
export function addOutputOptions(root: Command): void {
  const walk = (c: Command) => {
    const path = commandPath(c);
    if (PLAIN.some((p) => path === p || path.startsWith(`${p} `))) return;
    if (runs(c) && !usesO(c))
      c.addOption(new Option('-o, --output <format>', "print the result as json or yaml (kubectl's -o; -o json is --json)").choices(OUTPUT_FORMATS));
    for (const s of c.commands) walk(s);
  };
  for (const c of root.commands) walk(c);
}
