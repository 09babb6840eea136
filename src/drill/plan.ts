import { isAbsolute, resolve } from 'node:path';
import { parseYaml } from '../vault/yaml.js';
import { VaultError } from '../errors/errors.js';
import { checkComponent } from '../backup/repo.js';
import { parseDuration } from '../backup/retention.js';

/**
 * A drill plan (docs/FORMAT.md, "Drill plan"): where the shares come from,
 * the scratch targets, what to restore into them, the checks, the RTO.
 *
 *   apiVersion: vault-tool/v1
 *   kind: DrillPlan
 *   rto: 2h
 *   shares: { files: [share-01-alice.share, …], identities: [], prompt: false }
 *   kubernetes: { kubeconfig: …, context: drill, plan: restore-plan.yaml, namespaceMap: { prod: drill-prod } }
 *   backups:
 *     repo: /srv/backups
 *     restore:
 *       - { component: postgres/orders, database: drill_orders }
 *       - { component: redis/default, dir: scratch/redis }
 *       - { component: files/config, dir: scratch/config }
 *   checks:
 *     - { sql: "select count(*) from items", database: drill_orders, expect: "30000" }
 *     - { redisKeys: 5000, dir: scratch/redis }
 *     - { files: [.env, certs/tls.crt], dir: scratch/config }
 *     - { secrets: in-sync }
 *     - { canaries: all }
 *
 * Relative paths are relative to the plan's folder.
 */
export interface BackupRestore {
  component: string;
  /** A backup file of the component; default: its newest verified backup. */
  file?: string;
  /** postgres: the scratch database (created, dropped at teardown). */
  database?: string;
  /** redis, files: the scratch folder (must not exist or be empty; removed at teardown). */
  dir?: string;
}

export type DrillCheck =
  | { kind: 'sql'; sql: string; database: string; expect: string }
  | { kind: 'redis-keys'; dir: string; expect: number }
  | { kind: 'files'; dir: string; files: string[] }
  | { kind: 'secrets' }
  | { kind: 'canaries' }
  | { kind: 'entries'; entries: string[] };

export interface DrillPlan {
  rtoSeconds?: number;
  rtoText?: string;
  shares: { files: string[]; identities: string[]; prompt: boolean; manifest?: string };
  kubernetes?: { kubeconfig?: string; context?: string; plan: string; namespaceMap: Record<string, string> };
  backups?: { repo: string; restore: BackupRestore[] };
  checks: DrillCheck[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const DB = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const NS = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function parseDrillPlan(text: string, source: string, base: string): DrillPlan {
  const raw: unknown = parseYaml(text, source);
  if (!isRecord(raw) || raw.apiVersion !== 'vault-tool/v1' || raw.kind !== 'DrillPlan') {
    throw new VaultError('invalid', `${source}: not a drill plan (expected apiVersion: vault-tool/v1 and kind: DrillPlan)`);
  }
  const bad = (where: string, what: string) => new VaultError('invalid', `${source}: ${where}: ${what}`);
  const known = ['apiVersion', 'kind', 'rto', 'shares', 'kubernetes', 'backups', 'checks'];
  for (const k of Object.keys(raw)) if (!known.includes(k)) throw bad(k, `unknown field (expected ${known.slice(2).join(', ')})`);
  const path = (p: unknown, where: string): string => {
    if (typeof p !== 'string' || !p || p.includes('\0')) throw bad(where, 'expected a path');
    return isAbsolute(p) ? p : resolve(base, p);
  };
  const strings = (v: unknown, where: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw bad(where, 'expected a list');
    return v.map((x, i) => path(x, `${where}[${i}]`));
  };

  let rtoSeconds: number | undefined;
  let rtoText: string | undefined;
  if (raw.rto !== undefined) {
    if (typeof raw.rto !== 'string') throw bad('rto', 'expected a duration such as 2h, 90m or 4h');
    const m = /^([1-9][0-9]{0,5})(s|m|min)$/.exec(raw.rto.trim());
    rtoSeconds = m ? Number(m[1]) * (m[2] === 's' ? 1 : 60) : parseDuration(raw.rto) / 1000;
    rtoText = raw.rto.trim();
  }

  const sh = raw.shares ?? {};
  if (!isRecord(sh)) throw bad('shares', 'expected { files: [...], identities: [...], prompt: true|false }');
  if (sh.prompt !== undefined && typeof sh.prompt !== 'boolean') throw bad('shares.prompt', 'expected true or false');
  const shares = {
    files: strings(sh.files, 'shares.files'),
    identities: strings(sh.identities, 'shares.identities'),
    prompt: sh.prompt === true,
    ...(sh.manifest !== undefined ? { manifest: path(sh.manifest, 'shares.manifest') } : {}),
  };

  let kubernetes: DrillPlan['kubernetes'];
  if (raw.kubernetes !== undefined) {
    const k = raw.kubernetes;
    if (!isRecord(k)) throw bad('kubernetes', 'expected { kubeconfig, context, plan, namespaceMap }');
    const map: Record<string, string> = Object.create(null) as Record<string, string>;
    if (k.namespaceMap !== undefined) {
      if (!isRecord(k.namespaceMap)) throw bad('kubernetes.namespaceMap', 'expected { FROM: TO }');
      for (const [a, b] of Object.entries(k.namespaceMap)) {
        if (!NS.test(a) || typeof b !== 'string' || !NS.test(b)) throw bad('kubernetes.namespaceMap', `${a}: expected namespace names`);
        map[a] = b;
      }
    }
    if (k.context !== undefined && typeof k.context !== 'string') throw bad('kubernetes.context', 'expected a context name');
    kubernetes = {
      plan: path(k.plan, 'kubernetes.plan'),
      namespaceMap: map,
      ...(k.kubeconfig !== undefined ? { kubeconfig: path(k.kubeconfig, 'kubernetes.kubeconfig') } : {}),
      ...(k.context ? { context: k.context as string } : {}),
    };
  }

  let backups: DrillPlan['backups'];
  if (raw.backups !== undefined) {
    const b = raw.backups;
    if (!isRecord(b) || typeof b.repo !== 'string' || !Array.isArray(b.restore))
      throw bad('backups', 'expected { repo: DEST, restore: [ { component, database | dir } ] }');
    const repo = /^[A-Za-z0-9_-]+:/.test(b.repo) && !b.repo.startsWith('/') ? b.repo : path(b.repo, 'backups.repo');
    const restore = b.restore.map((r, i): BackupRestore => {
      const where = `backups.restore[${i}]`;
      if (!isRecord(r) || typeof r.component !== 'string') throw bad(where, 'expected { component, database | dir, file }');
      try {
        checkComponent(r.component);
      } catch (e) {
        throw bad(where, (e as Error).message);
      }
      const kind = r.component.split('/')[0];
      if (r.file !== undefined && typeof r.file !== 'string') throw bad(`${where}.file`, 'expected a backup file name');
      if (kind === 'postgres' && r.component !== 'postgres/globals') {
        if (typeof r.database !== 'string' || !DB.test(r.database))
          throw bad(`${where}.database`, 'a postgres backup needs the scratch database to create (letters, digits, _)');
        return { component: r.component, database: r.database, ...(r.file ? { file: r.file as string } : {}) };
      }
      if (kind === 'redis' || kind === 'files' || kind === 'k8s' || kind === 'exec' || r.component === 'postgres/globals') {
        return { component: r.component, dir: path(r.dir, `${where}.dir`), ...(r.file ? { file: r.file as string } : {}) };
      }
      throw bad(where, `cannot restore a ${kind} backup in a drill`);
    });
    backups = { repo, restore };
  }

  if (raw.checks !== undefined && !Array.isArray(raw.checks)) throw bad('checks', 'expected a list');
  const checks = ((raw.checks as unknown[] | undefined) ?? []).map((c, i): DrillCheck => {
    const where = `checks[${i}]`;
    if (!isRecord(c)) throw bad(where, 'expected a check');
    if (c.sql !== undefined) {
      if (typeof c.sql !== 'string' || typeof c.database !== 'string' || !DB.test(c.database) || (typeof c.expect !== 'string' && typeof c.expect !== 'number'))
        throw bad(where, 'expected { sql: QUERY, database: DB, expect: VALUE }');
      return { kind: 'sql', sql: c.sql, database: c.database, expect: String(c.expect) };
    }
    if (c.redisKeys !== undefined) {
      if (!Number.isSafeInteger(c.redisKeys) || (c.redisKeys as number) < 0) throw bad(where, 'redisKeys: expected a key count');
      return { kind: 'redis-keys', dir: path(c.dir, `${where}.dir`), expect: c.redisKeys as number };
    }
    if (c.files !== undefined) {
      if (!Array.isArray(c.files) || !c.files.every((f) => typeof f === 'string' && f && !f.split('/').includes('..')))
        throw bad(where, 'files: expected a list of paths inside dir');
      return { kind: 'files', dir: path(c.dir, `${where}.dir`), files: c.files as string[] };
    }
    if (c.secrets !== undefined) {
      if (c.secrets !== 'in-sync') throw bad(where, 'secrets: expected in-sync');
      if (!kubernetes) throw bad(where, 'a secrets check needs kubernetes: in the plan');
      return { kind: 'secrets' };
    }
    if (c.canaries !== undefined) {
      if (c.canaries !== 'all') throw bad(where, 'canaries: expected all');
      return { kind: 'canaries' };
    }
    if (c.entries !== undefined) {
      if (!Array.isArray(c.entries) || !c.entries.every((e) => typeof e === 'string')) throw bad(where, 'entries: expected a list of entry names');
      return { kind: 'entries', entries: c.entries as string[] };
    }
    throw bad(where, 'unknown check (expected sql, redisKeys, files, secrets, canaries or entries)');
  });
  return {
    ...(rtoSeconds !== undefined ? { rtoSeconds, rtoText: rtoText! } : {}),
    shares,
    ...(kubernetes ? { kubernetes } : {}),
    ...(backups ? { backups } : {}),
    checks,
  };
}
