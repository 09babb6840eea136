import { resolve } from 'node:path';
import { parseYaml } from '../vault/yaml.js';
import { checkComponent } from '../backup/component.js';
import type { DrillCheckSpec, KindCheck, ScratchKind } from '../backup/kind.js';
import { DRILLED, type DrilledKind, kindOfComponent } from '../backup/kinds/index.js';
import { type Duration, durationSeconds } from '../vault/duration.js';
import { checkCluster } from '../backup/wal/store.js';
import {
  boolean,
  duration,
  fail,
  integer,
  isRecord,
  list,
  map,
  object,
  oneOf,
  optional,
  parseShape,
  record,
  refine,
  string,
  type Path,
  type Shape,
} from '../vault/shape.js';

/**
 * A drill plan (docs/FORMAT.md, "Drill plan"): where the shares come from,
 * the scratch targets, what to restore into them, the checks, the RTO.
 *
 *   apiVersion: vault-tool/v1
 *   kind: DrillPlan
 *   rto: 2h
 *   timeouts: { tool: 2m, restore: 6h }
 *   shares: { files: [share-01-alice.share, …], identities: [], prompt: false }
 *   kubernetes: { kubeconfig: …, context: drill, plan: restore-plan.yaml, namespaceMap: { prod: drill-prod } }
 *   backups:
 *     repo: /srv/backups
 *     restore:
 *       - { component: postgres/orders, database: drill_orders }
 *       - { component: postgres/globals, dir: scratch/globals }
 *       - { component: redis/default, dir: scratch/redis }
 *       - { component: files/config, dir: scratch/config }
 *     pitr:                              # point-in-time restores: a base backup and its WAL, into a throwaway server
 *       - { cluster: main, dir: scratch/pitr-main, target: "2027-01-15T10:00:00Z" }   # or target: latest (the default)
 *   checks:
 *     - { sql: "select count(*) from items", database: drill_orders, expect: "30000" }
 *     - { tables: backup, database: drill_orders }
 *     - { redisKeys: 5000, dir: scratch/redis }
 *     - { files: [.env, certs/tls.crt], dir: scratch/config }
 *     - { secrets: in-sync }
 *     - { canaries: all }
 *     - { sql: "select count(*) from orders", cluster: main, database: app, expect: "1200" }   # in a point-in-time restore
 *     - { tables: 12, cluster: main, database: app }                                          # at least 12 tables
 *
 * Strict at every depth (an unknown field anywhere is an error naming its
 * path). Relative paths are relative to the plan's folder. A check may
 * name only a scratch target the plan restores into: checks never read a
 * database or folder the drill did not make.
 */
export interface BackupRestore {
  component: string;
  /** A backup file of the component; default: its newest verified backup. */
  file?: string;
  /** A kind restored into a database (postgres): the scratch database (created by the drill, dropped at teardown). */
  database?: string;
  /** Every other kind: the scratch folder (created by the drill, removed at teardown). */
  dir?: string;
  /** A kind restored into a bucket: the scratch prefix (REMOTE:BUCKET/PREFIX, holding nothing; marked, used, and purged at teardown). */
  prefix?: string;
}

/**
 * A point-in-time restore of a cluster: its base backup (the newest
 * verified one made before the target, or the one named) into a data
 * directory in a scratch folder, with the WAL to the target (a time, or
 * the end of the archive), recovered by a throwaway PostgreSQL server the
 * drill starts and stops.
 */
export interface PitrRestore {
  cluster: string;
  /** The scratch folder: the data directory, the WAL handed to the server, its socket and its log (created by the drill, removed at teardown). */
  dir: string;
  /** A base backup file of postgres-base/CLUSTER; default: the newest verified one made before the target. */
  file?: string;
  /** The recovery target; absent: the end of the archive (latest). */
  targetTime?: Date;
  /** The role the checks log in as (default: postgres). */
  user: string;
}

/** A check of a point-in-time restore, in one of its databases (read-only). */
export type PitrCheck =
  | { kind: 'pitr-sql'; cluster: string; database: string; sql: string; expect: string }
  | { kind: 'pitr-tables'; cluster: string; database: string; tables: number };

/** The field of a restore (and of a check) that names each type of scratch target. */
export const TARGET_FIELD: Record<ScratchKind, 'database' | 'dir' | 'prefix'> = { database: 'database', folder: 'dir', prefix: 'prefix' };

/** A check of the plan: of a backup's scratch target (each kind says which it offers: `backup/kinds/`), of a point-in-time restore, or the drill's own. */
export type DrillCheck = KindCheck | PitrCheck | { kind: 'secrets' } | { kind: 'canaries' } | { kind: 'entries'; entries: string[] };

/** The checks the kinds offer on their scratch targets, each with the kind that offers it. */
export const KIND_CHECKS: { kind: DrilledKind; spec: DrillCheckSpec }[] = DRILLED.flatMap((kind) => kind.drill.checks.map((spec) => ({ kind, spec })));

/** The kind check a parsed check is, if it is one. */
export const kindCheckOf = (c: DrillCheck) => KIND_CHECKS.find((x) => x.spec.kind === c.kind);

export interface DrillPlan {
  rtoSeconds?: number;
  rtoText?: string;
  /** Time bounds of external calls, in milliseconds: quick ones (psql, createdb, checks) and restores. */
  timeouts: { toolMs: number; restoreMs: number };
  shares: { files: string[]; identities: string[]; prompt: boolean; manifest?: string };
  kubernetes?: { kubeconfig?: string; context: string; plan: string; namespaceMap: Record<string, string>; policy?: string };
  backups?: { repo: string; restore: BackupRestore[]; pitr: PitrRestore[] };
  checks: DrillCheck[];
}

export const DEFAULT_TIMEOUTS = { toolMs: 2 * 60_000, restoreMs: 6 * 3_600_000 };

/** A scratch database: a plain identifier (no quoting needed anywhere), never one of the cluster's own. */
const DB = string({ pattern: /^[a-z_][a-z0-9_]{0,62}$/, want: 'a database name (lowercase letters, digits, _)' });
const SCRATCH_DB = refine(DB, (d) =>
  ['postgres', 'template0', 'template1'].includes(d) ? `${d} is the cluster's own database: name a new scratch database` : null,
);
/**
 * A scratch prefix: an rclone remote, a bucket and at least one level of
 * prefix below it (never a bucket's root); on a backend of paths (local,
 * sftp) an absolute path two levels deep or more.
 */
const PREFIX = refine(string({ pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]*:\/?[^/\s]+\/[^\s]+$/, want: 'REMOTE:BUCKET/PREFIX' }), (p) =>
  p.split('/').some((x) => x === '..' || x === '.') ? 'expected REMOTE:BUCKET/PREFIX without . or .. parts' : null,
);
const NS = string({ pattern: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, want: 'a namespace name' });

const ms = (d: Duration) => durationSeconds(d) * 1000;

/** A value another parser reads (its error named at the field's path). */
const via =
  <T>(read: (text: string) => T, want: string): Shape<T> =>
  (v, at) => {
    if (typeof v !== 'string') return fail(at, `expected ${want}`);
    try {
      return read(v);
    } catch (e) {
      return fail(at, (e as Error).message);
    }
  };

/** A recovery target: latest (the end of the archive), or a time with its zone (2027-01-15T10:00:00Z). */
const TARGET: Shape<Date | 'latest'> = (v, at) => {
  if (v === 'latest') return 'latest';
  if (v instanceof Date) return v;
  if (typeof v !== 'string' || !/(Z|[+-]\d{2}(:?\d{2})?)$/.test(v.trim()))
    return fail(at, 'expected latest, or a time with its zone (2027-01-15T10:00:00Z): a time without one is ambiguous');
  const d = new Date(v.trim().replace(' ', 'T'));
  return Number.isNaN(d.getTime()) ? fail(at, 'expected latest, or a time with its zone (2027-01-15T10:00:00Z)') : d;
};

/** A cluster's name, as its archive and base backups are named (postgres-wal/NAME, postgres-base/NAME). */
const CLUSTER = via(checkCluster, 'a cluster name');
/** A database of a restored cluster: any name psql takes as a name (never one it would read as a connection string). */
const PGDB = string({ pattern: /^[A-Za-z0-9_][A-Za-z0-9_.$-]{0,62}$/, want: 'a database name' });
const scalar: Shape<string> = (v, at) => (typeof v === 'string' || typeof v === 'number' ? String(v) : fail(at, 'expected a value'));

/** The checks of a point-in-time restore: named by `cluster`, run in one of its databases. */
const PITR_CHECKS: Record<string, Shape<DrillCheck>> = {
  sql: map(
    object({ sql: string(), cluster: CLUSTER, database: PGDB, expect: scalar }),
    (c): PitrCheck => ({ kind: 'pitr-sql', cluster: c.cluster, database: c.database, sql: c.sql, expect: c.expect }),
  ),
  tables: map(
    object({ tables: integer(0), cluster: CLUSTER, database: PGDB }),
    (c): PitrCheck => ({ kind: 'pitr-tables', cluster: c.cluster, database: c.database, tables: c.tables }),
  ),
};

function checkShape(base: string): Shape<DrillCheck> {
  const path = pathShape(base);
  const byKey: Record<string, Shape<DrillCheck>> = {
    ...Object.fromEntries(
      KIND_CHECKS.map(({ kind, spec }) => [spec.key, spec.shape(kind.drill.scratch === 'database' ? DB : kind.drill.scratch === 'prefix' ? PREFIX : path)]),
    ),
    secrets: map(object({ secrets: oneOf(['in-sync'] as const) }), () => ({ kind: 'secrets' })),
    canaries: map(object({ canaries: oneOf(['all'] as const) }), () => ({ kind: 'canaries' })),
    entries: map(object({ entries: list(string(), { min: 1 }) }), (c) => ({ kind: 'entries', entries: c.entries })),
  };
  return (v, at) => {
    if (!isRecord(v)) return fail(at, 'expected a check');
    if ('cluster' in v) {
      const kinds = Object.keys(PITR_CHECKS).filter((k) => k in v);
      if (kinds.length !== 1)
        return fail(
          at,
          `a check of a point-in-time restore (cluster) is one of ${Object.keys(PITR_CHECKS).join(', ')}${kinds.length ? `, not ${kinds.join(' and ')}` : ''}`,
        );
      return PITR_CHECKS[kinds[0]!]!(v, at);
    }
    const kinds = Object.keys(byKey).filter((k) => k in v);
    if (kinds.length !== 1)
      return fail(at, kinds.length ? `one check per item (found ${kinds.join(' and ')})` : `unknown check (expected one of ${Object.keys(byKey).join(', ')})`);
    return byKey[kinds[0]!]!(v, at);
  };
}

function pathShape(base: string): Shape<string> {
  // Resolved, an absolute path too: one spelling (no trailing slash, no `..`) for the folders a drill compares, journals and removes.
  return map(string({ want: 'a path' }), (p) => resolve(base, p));
}

function planShape(base: string): Shape<DrillPlan> {
  const path = pathShape(base);
  const restore = map(
    object({
      component: map(string(), componentName),
      file: optional(string()),
      database: optional(SCRATCH_DB),
      dir: optional(path),
      prefix: optional(map(PREFIX, (p) => p.replace(/\/+$/, ''))),
    }),
    (r, at): BackupRestore => {
      const found = kindOfComponent(r.component)!;
      if (!found.drill)
        return fail(
          at.field('component'),
          `a ${found.label} is not restored by a drill plan on its own${found.restoredElsewhere === 'pitr' || found.restoredElsewhere === 'archive' ? ' (a point-in-time restore of its cluster is: backups.pitr)' : ''}`,
        );
      const kind = found as DrilledKind;
      if (kind.drill.scratch === 'prefix') {
        if (!r.prefix) return fail(at.field('prefix'), 'missing: the scratch prefix (REMOTE:BUCKET/PREFIX) to restore into');
        if (r.database || r.dir) return fail(at.field(r.database ? 'database' : 'dir'), `a ${kind.label} backup is restored into a scratch prefix of a bucket`);
        return { component: r.component, ...(r.file ? { file: r.file } : {}), prefix: r.prefix };
      }
      if (r.prefix) return fail(at.field('prefix'), `a ${kind.label} backup is not restored into a bucket prefix`);
      const db = kind.drill.scratch === 'database';
      if (db && !r.database) return fail(at.field('database'), `a ${kind.label} backup needs the scratch database to create`);
      if (db && r.dir) return fail(at.field('dir'), `a ${kind.label} database is restored into a database, not a folder`);
      if (!db && !r.dir) return fail(at.field('dir'), 'missing: the scratch folder to restore into');
      if (!db && r.database) return fail(at.field('database'), `a ${kind.label} backup is restored into a folder, never into a server`);
      return { component: r.component, ...(r.file ? { file: r.file } : {}), ...(db ? { database: r.database! } : { dir: r.dir! }) };
    },
  );
  const pitr = map(
    object({ cluster: CLUSTER, dir: path, file: optional(string()), target: optional(TARGET), user: optional(string({ want: 'a role name' })) }),
    (r): PitrRestore => ({
      cluster: r.cluster,
      dir: r.dir,
      ...(r.file ? { file: r.file } : {}),
      ...(r.target && r.target !== 'latest' ? { targetTime: r.target } : {}),
      user: r.user ?? 'postgres',
    }),
  );
  const doc = object({
    apiVersion: oneOf(['vault-tool/v1'] as const),
    kind: oneOf(['DrillPlan'] as const),
    rto: optional(duration()),
    timeouts: optional(object({ tool: optional(duration()), restore: optional(duration()) })),
    shares: optional(object({ files: optional(list(path)), identities: optional(list(path)), prompt: optional(boolean), manifest: optional(path) })),
    kubernetes: optional(
      object({
        kubeconfig: optional(path),
        context: string({ want: 'the kubeconfig context of the scratch cluster' }),
        plan: path,
        namespaceMap: optional(
          refine(record(NS, NS), (m) => {
            const to = Object.values(m);
            const twice = to.find((n, i) => to.indexOf(n) !== i);
            return twice ? `two namespaces map to ${twice}` : null;
          }),
        ),
        policy: optional(path),
      }),
    ),
    backups: optional(
      refine(
        object({
          repo: map(string(), (r) => (/^[A-Za-z0-9_-]+:/.test(r) && !r.startsWith('/') ? r : resolve(base, r))),
          restore: optional(list(restore, { min: 1 })),
          pitr: optional(list(pitr, { min: 1 })),
        }),
        (b) => (b.restore || b.pitr ? null : 'expected restore, pitr or both: what the drill restores'),
      ),
    ),
    checks: optional(list(checkShape(base))),
  });
  return (v, at) => {
    const d = doc(v, at);
    const restores = d.backups?.restore ?? [];
    const pitrs = d.backups?.pitr ?? [];
    checkTargets(restores, at.field('backups').field('restore'));
    checkPitr(pitrs, restores, at.field('backups').field('pitr'));
    const checks = d.checks ?? [];
    checks.forEach((c, i) => checkAgainstTargets(c, restores, pitrs, d.kubernetes !== undefined, at.field('checks').item(i)));
    return {
      ...(d.rto ? { rtoSeconds: durationSeconds(d.rto), rtoText: d.rto.text } : {}),
      timeouts: {
        toolMs: d.timeouts?.tool ? ms(d.timeouts.tool) : DEFAULT_TIMEOUTS.toolMs,
        restoreMs: d.timeouts?.restore ? ms(d.timeouts.restore) : DEFAULT_TIMEOUTS.restoreMs,
      },
      shares: {
        files: d.shares?.files ?? [],
        identities: d.shares?.identities ?? [],
        prompt: d.shares?.prompt ?? false,
        ...(d.shares?.manifest ? { manifest: d.shares.manifest } : {}),
      },
      ...(d.kubernetes ? { kubernetes: { ...d.kubernetes, namespaceMap: d.kubernetes.namespaceMap ?? {} } } : {}),
      ...(d.backups ? { backups: { repo: d.backups.repo, restore: restores, pitr: pitrs } } : {}),
      checks,
    };
  };
}

function componentName(c: string, at: Path): string {
  try {
    return checkComponent(c);
  } catch (e) {
    return fail(at, (e as Error).message);
  }
}

/** Two restores never share a scratch target, and no scratch folder lies inside another. */
function checkTargets(restores: BackupRestore[], at: Path): void {
  restores.forEach((r, i) => {
    restores.slice(0, i).forEach((o) => {
      if (r.database && r.database === o.database) fail(at.item(i).field('database'), `${r.database} is already the target of ${o.component}`);
      if (r.dir && o.dir && (r.dir === o.dir || r.dir.startsWith(`${o.dir}/`) || o.dir.startsWith(`${r.dir}/`)))
        fail(at.item(i).field('dir'), `${r.dir} overlaps the scratch folder of ${o.component}`);
      if (r.prefix && o.prefix && (r.prefix === o.prefix || r.prefix.startsWith(`${o.prefix}/`) || o.prefix.startsWith(`${r.prefix}/`)))
        fail(at.item(i).field('prefix'), `${r.prefix} overlaps the scratch prefix of ${o.component}`);
    });
  });
}

/** One point-in-time restore per cluster (its checks name it by cluster), each in a scratch folder of its own. */
function checkPitr(pitrs: PitrRestore[], restores: BackupRestore[], at: Path): void {
  const overlaps = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
  pitrs.forEach((p, i) => {
    const before = pitrs.slice(0, i);
    if (before.some((o) => o.cluster === p.cluster))
      fail(at.item(i).field('cluster'), `${p.cluster} is already restored by this plan: one point-in-time restore per cluster`);
    const other = [
      ...restores.filter((r) => r.dir).map((r) => ({ dir: r.dir!, what: r.component })),
      ...before.map((o) => ({ dir: o.dir, what: `the point-in-time restore of ${o.cluster}` })),
    ].find((o) => overlaps(p.dir, o.dir));
    if (other) fail(at.item(i).field('dir'), `${p.dir} overlaps the scratch folder of ${other.what}`);
  });
}

function checkAgainstTargets(c: DrillCheck, restores: BackupRestore[], pitrs: PitrRestore[], kubernetes: boolean, at: Path): void {
  if ((c.kind === 'pitr-sql' || c.kind === 'pitr-tables') && !pitrs.some((p) => p.cluster === (c as PitrCheck).cluster))
    fail(at.field('cluster'), `${(c as PitrCheck).cluster} is not restored to a point in time by this plan: checks run only against what the drill restores`);
  const k = kindCheckOf(c);
  if (k) {
    const field = TARGET_FIELD[k.kind.drill.scratch];
    const target = (c as KindCheck)[field];
    const word = { database: 'database', dir: 'folder', prefix: 'prefix' }[field];
    const r = restores.find((x) => x[field] === target);
    if (!r) fail(at.field(field), `${target} is not a scratch ${word} of this plan: checks run only against what the drill restores`);
    if (kindOfComponent(r!.component) !== k.kind) fail(at.field(field), `${target} receives ${r!.component}, not a ${k.kind.label} backup`);
    // Any other scratch target it reads (a query's database) is one the drill restores too.
    const db = k.spec.reads?.(c as KindCheck).database;
    if (db !== undefined && !restores.some((x) => x.database === db))
      fail(at.field('database'), `${db} is not a scratch database of this plan: checks run only against what the drill restores`);
  }
  if (c.kind === 'secrets' && !kubernetes) fail(at, 'a secrets check needs kubernetes: in the plan');
}

export function parseDrillPlan(text: string, source: string, base: string): DrillPlan {
  return parseShape(parseYaml(text, source), planShape(base), source);
}
