import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { parseDuration, subtractDuration } from '../vault/duration.js';
import { FOLDERS } from './kinds/folders.js';
import { kindOfComponent } from './kinds/index.js';
import { componentForDatabase } from './kinds/postgres.js';
import { type BackupManifest, parseManifest } from './manifest.js';
import { isComponentName } from './names.js';
import { componentDest, type Listed, type Repo } from './repo.js';
import { LIMITS } from '../fs/read.js';

/**
 * Choosing backups as restic's `latest` and `--time` do, in one grammar for
 * restore, verify and list:
 *
 * - `COMPONENT/FILE` (or `FILE` alone, when one component has it): that
 *   backup;
 * - `COMPONENT` or `COMPONENT@latest`: its newest verified backup, and with
 *   a time (`before`) the newest verified one finished before it;
 * - a path to a backup file (or its manifest) in a repository on this host
 *   (`pathInRepo` turns it into `COMPONENT/FILE` first).
 *
 * A backup counts as verified when its manifest records a passed
 * verification (made while it was written, or by the last full read), it is
 * not dated in the future (a host clock an hour or more ahead), and, when
 * the caller can tell, its manifest is signed by a host the vault trusts.
 * What was passed over, and why, is said with the choice.
 *
 * A set is what one `backup postgres --all` made: a backup of each
 * database and of the globals, the globals last, naming every member
 * (`set` in their manifests). `latestSet` chooses the newest one whole.
 */
export interface SelectOptions {
  /** The backup finished before this time (`--before`). */
  before?: Date;
  now: Date;
  /** Whether the vault trusts a manifest's signer; absent: not judged (`backup list` without the vault). */
  trusted?: (m: BackupManifest) => boolean;
}

export interface Selected {
  backup: Listed;
  manifest?: BackupManifest;
  /** How it was named: as a file, or as the newest verified backup of its component. */
  by: 'name' | 'latest';
  /** Why this one, for the output ("the newest verified backup of postgres/app, made …"). */
  why: string;
}

/** Dated more than this after the clock: a host clock that is wrong (status ignores such backups too). */
const FUTURE_MS = 3_600_000;

/** Why a backup does not count as verified, or null when it does. */
export function notVerified(b: Listed, o: Pick<SelectOptions, 'now' | 'trusted'>): string | null {
  const m = b.manifest;
  if (b.resized) return "cut short or altered after it was written (its stored size is not its manifest's)";
  if (b.problem || !m) return 'damaged or incomplete';
  if (!m.verification?.ok) return 'its verification failed';
  if (Date.parse(m.finishedAt) > o.now.getTime() + FUTURE_MS) return 'dated in the future';
  if (o.trusted && !o.trusted(m)) return 'not signed by a host the vault trusts';
  return null;
}

const ago = (from: Date, iso: string) => {
  const s = Math.max(0, Math.round((from.getTime() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} days ago`;
};

/** "2026-12-06T23:38:55Z" (to the second, as people read it). */
export const instant = (d: Date | string) => new Date(d).toISOString().replace(/\.\d+Z$/, 'Z');

/**
 * The newest verified backup of a component (finished before `before`,
 * when given), with why it was chosen and what newer ones were passed over;
 * an error naming the component when there is none.
 */
export function newestVerified(all: Listed[], component: string, o: SelectOptions): Selected {
  const mine = all.filter((b) => b.component === component);
  if (!mine.length) throw new VaultError('not-found', `no backup of ${component} in the repository`, { code: 'backup-missing' });
  const inTime = mine.filter((b) => !o.before || (b.manifest && Date.parse(b.manifest.finishedAt) <= o.before.getTime()));
  const byDate = [...inTime].sort((a, b) => (b.manifest?.finishedAt ?? '').localeCompare(a.manifest?.finishedAt ?? '') || b.file.localeCompare(a.file));
  const passed: Record<string, number> = {};
  for (const b of byDate) {
    const why = notVerified(b, o);
    if (why) {
      passed[why] = (passed[why] ?? 0) + 1;
      continue;
    }
    const m = b.manifest!;
    const over = Object.entries(passed).map(([w, n]) => `${n} newer ${n === 1 ? 'one' : 'ones'} passed over: ${w}`);
    return {
      backup: b,
      manifest: m,
      by: 'latest',
      why: `the newest verified backup of ${component}${o.before ? ` finished before ${instant(o.before)}` : ''}, made ${instant(m.finishedAt)} (${ago(o.now, m.finishedAt)}), verified ${instant(m.verification!.at)}${over.length ? `; ${over.join('; ')}` : ''}`,
    };
  }
  const counted = Object.entries(passed).map(([w, n]) => `${n} ${w}`);
  throw new VaultError(
    'not-found',
    `no verified backup of ${component}${o.before ? ` finished before ${instant(o.before)}` : ''} in the repository${counted.length ? ` (${counted.join('; ')})` : inTime.length < mine.length ? ` (its ${mine.length} backup(s) are all newer)` : ''}`,
    { code: 'backup-none-verified', data: { component } },
  );
}

/**
 * The plaintext size of a component's newest verified backup (its
 * manifest's), for the ETA of the next one; undefined when it has none. Only
 * the newest few manifests are read, not the component's whole history.
 */
export async function previousSize(repo: Repo, component: string, now: Date): Promise<number | undefined> {
  const d = componentDest(repo, component);
  const manifests = (await d.list())
    .map((f) => f.name)
    .filter((n) => n.endsWith('.age.manifest.json'))
    .sort()
    .reverse()
    .slice(0, 5);
  for (const name of manifests) {
    try {
      const m = parseManifest((await d.read(name, LIMITS.text, 'manifest')).toString('utf8'), `${component}/${name}`);
      const listed: Listed = { component, file: m.file, manifest: m };
      if (m.component === component && !notVerified(listed, { now })) return m.plaintext.size;
    } catch {
      // An unreadable manifest says nothing about the size to expect: the next one may.
    }
  }
  return undefined;
}

/** Whether `spec` names a component (`postgres/app`), not a backup file. */
export function isComponentSpec(spec: string): boolean {
  const [folder, name, ...more] = spec.split('/');
  return !more.length && folder !== undefined && FOLDERS.includes(folder) && name !== undefined && isComponentName(name);
}

/**
 * A component as its source names it, as the component it is stored under:
 * `postgres/DB` with the database's exact name (`postgres/my db`,
 * `postgres/Orders`) is the component a backup of it made
 * (`componentForDatabase`: `postgres/my_db_…`), with `@latest` kept. Any
 * other name, one the repository holds as written, or a backup file, is
 * returned as given.
 */
export function storedName(all: Listed[], spec: string): string {
  const [, base = spec, tail = ''] = /^(.+?)(@latest)?$/s.exec(spec) ?? [];
  if (!base.startsWith('postgres/') || all.some((b) => b.component === base || `${b.component}/${b.file}` === spec)) return spec;
  const stored = componentForDatabase(base.slice('postgres/'.length));
  return stored !== base && all.some((b) => b.component === stored) ? `${stored}${tail}` : spec;
}

/** A backup as a user names it: `COMPONENT/FILE`, `FILE`, `COMPONENT` or `COMPONENT@latest` (with `before`, the newest before it); a database's component by its exact name too (`storedName`). */
export function selectBackup(all: Listed[], given: string, o: SelectOptions): Selected {
  const spec = storedName(all, given);
  const latest = /^(.+)@latest$/.exec(spec);
  if (latest) {
    if (!isComponentSpec(latest[1]!))
      throw new VaultError('usage', `${spec}: @latest follows a component (KIND/NAME, as postgres/app), not a file`, { code: 'backup-missing' });
    return newestVerified(all, latest[1]!, o);
  }
  const hits = all.filter((b) => `${b.component}/${b.file}` === spec || b.file === spec);
  if (hits.length === 1) return { backup: hits[0]!, ...(hits[0]!.manifest ? { manifest: hits[0]!.manifest } : {}), by: 'name', why: 'named' };
  if (hits.length > 1) throw new VaultError('usage', `${spec} names ${hits.length} backups: give COMPONENT/FILE`, { code: 'backup-missing' });
  if (isComponentSpec(spec) && kindOfComponent(spec)) return newestVerified(all, spec, o);
  // `postgres/app@newest`, `@last`, `@2`: only `latest` follows an @.
  const at = /^(.+)@([^/@]*)$/.exec(spec);
  if (at && isComponentSpec(at[1]!))
    throw new VaultError('usage', `${spec}: @${at[2]} names no backup: only @latest follows a component (${at[1]}@latest, its newest verified backup)`, {
      code: 'backup-missing',
    });
  throw new VaultError('not-found', `no backup ${spec} in the repository`, { code: 'backup-missing' });
}

/**
 * A date and time with its zone: ISO 8601 (`2026-12-01T10:00:00Z`,
 * `+02:00`) or PostgreSQL's form (`2026-12-01 10:00:00+00`); a time
 * without a zone is refused, as ambiguous. `what` names the option.
 */
export function parseZonedTime(text: string, what: string): Date {
  const t = text.trim();
  const zone = /(Z|([+-])(\d{2}):?(\d{2})?)$/i.exec(t);
  if (!zone)
    throw new VaultError('usage', `${what} ${JSON.stringify(text)}: give a time zone (2026-12-01T10:00:00Z, or +02:00): a time without one is ambiguous`);
  const iso = `${t.slice(0, zone.index).replace(' ', 'T')}${zone[1]!.toUpperCase() === 'Z' ? 'Z' : `${zone[2]}${zone[3]}:${zone[4] ?? '00'}`}`;
  const d = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?[Z+-]/.test(iso) ? new Date(iso) : new Date(Number.NaN);
  if (Number.isNaN(d.getTime())) throw new VaultError('usage', `${what} ${JSON.stringify(text)}: not a time (2026-12-01T10:00:00Z)`);
  return d;
}

/**
 * A time as `--before` takes it: an ISO 8601 date (midnight UTC that day),
 * a date and time with its zone (`Z`, `+02:00`), or a duration ago in the
 * one grammar (`36h`, `7d`, `1w2d`). `what` names the option in messages.
 */
export function parseBefore(text: string, now: Date, what: string): Date {
  const t = text.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) {
    const d = new Date(`${t}T00:00:00Z`);
    if (Number.isNaN(d.getTime())) throw new VaultError('usage', `${what} ${JSON.stringify(text)}: not a date`);
    return d;
  }
  if (/^\d{4}-\d{2}-\d{2}[T ]/.test(t)) return parseZonedTime(text, what);
  try {
    return subtractDuration(now, parseDuration(t, { what }));
  } catch (e) {
    if (!(e instanceof VaultError)) throw e;
    throw new VaultError('usage', `${what} ${JSON.stringify(text)}: neither a date or time (2026-12-01, 2026-12-01T10:00:00Z) nor a duration ago (36h, 7d)`, {
      code: 'bad-duration',
    });
  }
}

/**
 * A path to a backup file (or its manifest) in a repository folder on this
 * host, as `COMPONENT/FILE` and the repository's folder: the file's folder
 * is the component's name, the one above it the kind's folder, and the one
 * above that the repository. Null when the path does not look so.
 */
export function pathInRepo(path: string, cwd: string): { repoDir: string; name: string } | null {
  let abs = isAbsolute(path) ? path : resolve(cwd, path);
  try {
    abs = realpathSync(abs);
  } catch {
    return null;
  }
  const file = basename(abs).replace(/\.manifest\.json$/, '');
  if (!file.endsWith('.age')) return null;
  const nameDir = dirname(abs);
  const kindDir = dirname(nameDir);
  const component = `${basename(kindDir)}/${basename(nameDir)}`;
  if (!isComponentSpec(component)) return null;
  return { repoDir: dirname(kindDir), name: `${component}/${file}` };
}

export interface ChosenSet {
  id: string;
  /** Its members, the globals first, then the databases by component name. */
  members: Selected[];
  madeAt: string;
  why: string;
}

/**
 * The newest whole set (`before` it, when given): its globals backup names
 * every member, and every member is there and verified; a newer set that
 * is not whole is passed over, said with the choice.
 */
export function latestSet(all: Listed[], o: SelectOptions & { id?: string }): ChosenSet {
  const heads = all
    .filter((b) => b.manifest?.set?.members && b.manifest.kind === 'postgres-globals')
    .filter((b) => !o.id || b.manifest!.set!.id === o.id)
    .filter((b) => !o.before || Date.parse(b.manifest!.finishedAt) <= o.before.getTime())
    .sort((a, b) => b.manifest!.finishedAt.localeCompare(a.manifest!.finishedAt));
  const passed: string[] = [];
  for (const head of heads) {
    const set = head.manifest!.set!;
    const members: Selected[] = [];
    let lack: string | null = null;
    for (const component of set.members!) {
      const b = all.find((x) => x.component === component && x.manifest?.set?.id === set.id);
      const why = b ? notVerified(b, o) : 'missing';
      if (why) {
        lack = `${component}: ${why}`;
        break;
      }
      members.push({ backup: b!, manifest: b!.manifest!, by: 'name', why: `member of set ${set.id}` });
    }
    if (lack) {
      passed.push(`set ${set.id} (${instant(head.manifest!.finishedAt)}): ${lack}`);
      continue;
    }
    const globalsFirst = members.sort(
      (a, b) =>
        Number(b.manifest!.kind === 'postgres-globals') - Number(a.manifest!.kind === 'postgres-globals') ||
        a.backup.component.localeCompare(b.backup.component),
    );
    const madeAt = head.manifest!.finishedAt;
    return {
      id: set.id,
      members: globalsFirst,
      madeAt,
      why: `the newest whole set${o.before ? ` finished before ${instant(o.before)}` : ''}${o.id ? ` ${o.id}` : ''}, made ${instant(madeAt)} (${ago(o.now, madeAt)}) on ${head.manifest!.source.machine ?? 'an unnamed host'}, ${members.length} backups${passed.length ? `; passed over: ${passed.join('; ')}` : ''}`,
    };
  }
  throw new VaultError(
    'not-found',
    `no whole set of databases${o.id ? ` ${o.id}` : ''}${o.before ? ` finished before ${instant(o.before)}` : ''} in the repository${passed.length ? ` (${passed.join('; ')})` : ' (a set is what one backup of every database makes, the globals last)'}`,
    { code: 'backup-no-set' },
  );
}
