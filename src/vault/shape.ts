import { VaultError } from '../errors/errors.js';
import { type Duration, type DurationRules, parseDuration } from './duration.js';

/**
 * Checks for the documents users write (plans, policies, mappings), strict at
 * every depth: an unknown field anywhere is an error, and every error names
 * the file and the field path (`backups.restore[2].into`). Each check returns
 * the value it accepted, typed, so a parser reads as the document's schema:
 *
 *   const Plan = object({ rto: optional(duration()), checks: list(Check) });
 *   const plan = parseShape(raw, Plan, 'drill.yaml');
 */
export type Shape<T> = (v: unknown, at: Path) => T;

/** Where a value is (`a.b[2]`), built only when an error needs it. */
export interface Path {
  readonly text: string;
  field(name: string): Path;
  item(index: number): Path;
}

const root = (text: string): Path => ({
  text,
  field: (name) => root(text ? `${text}.${name}` : name),
  item: (i) => root(`${text}[${i}]`),
});

/** A bad value at a path; `parseShape` adds the source to the message. */
export class ShapeError extends Error {
  constructor(
    readonly at: string,
    readonly want: string,
  ) {
    super(`${at || 'the document'}: ${want}`);
  }
}

export const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Runs a shape over a parsed document; errors are `invalid`, naming the source and the field path. */
export function parseShape<T>(value: unknown, shape: Shape<T>, source: string): T {
  try {
    return shape(value, root(''));
  } catch (e) {
    if (e instanceof ShapeError) throw new VaultError('invalid', `${source}: ${e.message}`);
    if (e instanceof VaultError && e.code === 'bad-duration') {
      throw new VaultError('invalid', `${source}: ${e.message}`, { ...(e.hint ? { hint: e.hint } : {}), code: 'bad-duration' });
    }
    throw e;
  }
}

export const fail = (at: Path, want: string): never => {
  throw new ShapeError(at.text, want);
};

export const string =
  (o: { pattern?: RegExp; want?: string; nonEmpty?: boolean } = {}): Shape<string> =>
  (v, at) => {
    if (typeof v !== 'string') return fail(at, `expected ${o.want ?? 'a string'}`);
    if ((o.nonEmpty !== false && v === '') || v.includes('\0')) return fail(at, `expected ${o.want ?? 'a non-empty string'}`);
    if (o.pattern && !o.pattern.test(v)) return fail(at, `expected ${o.want ?? `text matching ${o.pattern}`}, got ${JSON.stringify(v.slice(0, 80))}`);
    return v;
  };

export const boolean: Shape<boolean> = (v, at) => (typeof v === 'boolean' ? v : fail(at, 'expected true or false'));

export const integer =
  (min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Shape<number> =>
  (v, at) =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? (v as number) : fail(at, `expected a whole number from ${min} to ${max}`);

export const oneOf =
  <const T extends string>(values: readonly T[]): Shape<T> =>
  (v, at) =>
    typeof v === 'string' && (values as readonly string[]).includes(v) ? (v as T) : fail(at, `expected one of ${values.join(', ')}`);

/** A duration in the one grammar (src/vault/duration.ts). */
export const duration =
  (rules: DurationRules = {}): Shape<Duration> =>
  (v, at) => {
    if (typeof v !== 'string') return fail(at, 'expected a duration such as 15m, 2h, 30d');
    try {
      return parseDuration(v, { ...rules, what: at.text });
    } catch (e) {
      return fail(at, (e as Error).message.replace(/^[^:]*: /, '') + (e instanceof VaultError && e.hint ? ` (${e.hint})` : ''));
    }
  };

export const list =
  <T>(item: Shape<T>, o: { min?: number; max?: number } = {}): Shape<T[]> =>
  (v, at) => {
    if (!Array.isArray(v)) return fail(at, 'expected a list');
    if (o.min !== undefined && v.length < o.min) return fail(at, `expected at least ${o.min} item${o.min === 1 ? '' : 's'}`);
    if (o.max !== undefined && v.length > o.max) return fail(at, `expected at most ${o.max} items`);
    return v.map((x, i) => item(x, at.item(i)));
  };

/** A map from keys the `key` shape accepts to values of one shape. */
export const record =
  <T>(value: Shape<T>, key?: Shape<string>): Shape<Record<string, T>> =>
  (v, at) => {
    if (!isRecord(v)) return fail(at, 'expected a map');
    const out = Object.create(null) as Record<string, T>;
    for (const [k, x] of Object.entries(v)) {
      if (key) key(k, at.field(k));
      out[k] = value(x, at.field(k));
    }
    return out;
  };

const OPTIONAL = Symbol('optional');
type Optional<T> = Shape<T | undefined> & { [OPTIONAL]: true };

/** A field that may be left out (or null); the parsed object then lacks it. */
export function optional<T>(shape: Shape<T>): Optional<T> {
  const s = ((v: unknown, at: Path) => (v === undefined || v === null ? undefined : shape(v, at))) as Optional<T>;
  s[OPTIONAL] = true;
  return s;
}

const NULLABLE = Symbol('nullable');

/** A field that must be there and may be null (kept as null, unlike an optional field). */
export function nullable<T>(shape: Shape<T>): Shape<T | null> {
  const s = ((v: unknown, at: Path) => (v === null ? null : shape(v, at))) as Shape<T | null> & { [NULLABLE]: true };
  s[NULLABLE] = true;
  return s;
}

type Fields = Record<string, Shape<unknown>>;
type Parsed<F extends Fields> = { [K in keyof F as F[K] extends Optional<unknown> ? never : K]: ReturnType<F[K]> } & {
  [K in keyof F as F[K] extends Optional<unknown> ? K : never]?: Exclude<ReturnType<F[K]>, undefined>;
};

/** An object with exactly these fields (optional ones may be left out); any other field is an error naming the ones expected. */
export function object<F extends Fields>(fields: F): Shape<Parsed<F>> {
  const names = Object.keys(fields);
  return (v, at) => {
    if (!isRecord(v)) return fail(at, `expected a map with ${names.join(', ')}`);
    for (const k of Object.keys(v)) if (!Object.hasOwn(fields, k)) fail(at.field(k), `unknown field (expected ${names.join(', ')})`);
    const out: Record<string, unknown> = {};
    for (const [k, shape] of Object.entries(fields)) {
      if ((v[k] === undefined || (v[k] === null && !(NULLABLE in shape))) && !(OPTIONAL in shape)) fail(at.field(k), 'missing');
      const x = shape(v[k], at.field(k));
      if (x !== undefined) out[k] = x;
    }
    return out as Parsed<F>;
  };
}

/** A check on a parsed value (a cross-field rule), with the path for its error. */
export const refine =
  <T>(shape: Shape<T>, rule: (v: T) => string | null): Shape<T> =>
  (v, at) => {
    const x = shape(v, at);
    const why = rule(x);
    return why ? fail(at, why) : x;
  };

/** A value of another form (`map`), checked first by `shape`. */
export const map =
  <T, U>(shape: Shape<T>, f: (v: T, at: Path) => U): Shape<U> =>
  (v, at) =>
    f(shape(v, at), at);
