import { parseDuration, type Duration } from '../vault/duration.js';
import { fail, isRecord, type Shape } from '../vault/shape.js';
import { checkComponent } from './component.js';
import { FOLDERS } from './kinds/folders.js';

/**
 * Recovery point objectives: how old the newest verified backup of a
 * component may be. One duration for every component, or a map naming
 * `default`, a kind (`postgres`) or a component (`postgres/app`); the most
 * specific one applies. A component named one by one is expected: no backup
 * of it at all misses its RPO. A component no target covers has no RPO (it
 * is never reported as met).
 */
export interface RpoTargets {
  /** Keys: `default`, a kind, or KIND/NAME. */
  targets: Map<string, Duration>;
}

function checkKey(k: string): string | null {
  if (k === 'default' || FOLDERS.includes(k)) return null;
  try {
    checkComponent(k);
    return null;
  } catch {
    return `expected default, a kind (${FOLDERS.join(', ')}) or a component KIND/NAME`;
  }
}

/** An RPO in a document: a duration (every component) or a map of them. */
export const rpoShape: Shape<RpoTargets> = (v, at) => {
  const read = (text: unknown, where: typeof at): Duration => {
    if (typeof text !== 'string') return fail(where, 'expected a duration such as 15m, 6h, 1d');
    try {
      return parseDuration(text, { what: where.text });
    } catch (e) {
      return fail(where, (e as Error).message.replace(/^[^:]*: /, ''));
    }
  };
  if (typeof v === 'string') return { targets: new Map([['default', read(v, at)]]) };
  if (!isRecord(v)) return fail(at, 'expected a duration, or a map of default, kinds and components to durations');
  const targets = new Map<string, Duration>();
  for (const [k, x] of Object.entries(v)) {
    const why = checkKey(k);
    if (why) fail(at.field(k), why);
    targets.set(k, read(x, at.field(k)));
  }
  return { targets };
};

/** `--rpo DURATION` on the command line: every component. */
export function rpoForAll(text: string, what = 'rpo'): RpoTargets {
  return { targets: new Map([['default', parseDuration(text, { what })]]) };
}

/** The RPO of a component: its own, else its kind's, else the default. */
export function rpoFor(t: RpoTargets | undefined, component: string): Duration | undefined {
  if (!t) return undefined;
  return t.targets.get(component) ?? t.targets.get(component.split('/')[0]!) ?? t.targets.get('default');
}

/** Components the targets name one by one: they must have backups. */
export function namedComponents(t: RpoTargets | undefined): string[] {
  return t ? [...t.targets.keys()].filter((k) => k.includes('/')) : [];
}

/** Layers targets: those of `over` win, key by key. */
export function mergeRpo(under: RpoTargets | undefined, over: RpoTargets | undefined): RpoTargets | undefined {
  if (!under) return over;
  if (!over) return under;
  return { targets: new Map([...under.targets, ...over.targets]) };
}
