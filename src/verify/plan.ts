import { VaultError } from '../errors/errors.js';
import { parseYaml } from '../vault/yaml.js';
import { boolean, fail, isRecord, list, map, object, oneOf, optional, parseShape, record, string, type Shape } from '../vault/shape.js';
import { checkDbname } from '../backup/kinds/postgres.js';
import { rpoShape, type RpoTargets } from '../backup/rpo.js';
import { checkCluster } from '../backup/wal/store.js';
import { parseAgainst, type Against } from './sources.js';
import { parseInterval, type Interval } from './schedule.js';

/**
 * A verification plan, so that a scheduled job checks the same things every
 * time (docs/FORMAT.md, "Verification plan"). Strict at every depth: an
 * unknown field anywhere is an error naming its path.
 *
 *   apiVersion: vault-tool/v1
 *   kind: VerificationPlan
 *   interval: quarterly
 *   against:                         # production sources: SOURCE=ENTRY
 *     - env:/opt/app/.env#MASTER_KEY=platform/master
 *     - k8s:infisical/infisical-bootstrap-secret#ENCRYPTION_KEY=infisical/encryption-key
 *   kubernetes: { kubeconfig: /etc/kube/config, context: prod }   # for k8s: sources
 *   copies:                          # copies to check besides the registered ones
 *     - { vault: /mnt/usb/secrets.vault, key: /mnt/safe/vault.key }
 *   backups:
 *     repo: /srv/backups
 *     readData: "10%"
 *     rpo: { default: 24h, postgres/app: 15m, postgres-wal/main: 5m }   # or one duration for every component
 *     archivers: { main: "host=db1.internal port=5432 dbname=postgres" }   # pg_stat_archiver per WAL archive ("": libpq's environment)
 */
export interface VerificationPlan {
  interval: Interval;
  against: Against[];
  kubernetes?: { kubeconfig?: string; context?: string };
  copies: { vault: string; key?: string }[];
  backups?: { repo: string; readData: boolean | number; rpo?: RpoTargets; archivers?: Record<string, string> };
}

/** `true`, `false`, or a share such as `10%` (a sample that rotates so that a year of runs covers everything). */
export function parseReadData(v: unknown, where: string): boolean | number {
  if (v === undefined || v === false || v === true) return v === true;
  const m = typeof v === 'string' ? /^([1-9][0-9]?|100)%$/.exec(v) : null;
  if (!m) throw new VaultError('invalid', `${where}: readData must be true, false or a percentage such as 10%`);
  return Number(m[1]) / 100;
}

/** A value another parser reads (its error named at the field's path). */
const via =
  <T>(read: (text: string) => T, want = 'a string'): Shape<T> =>
  (v, at) => {
    if (typeof v !== 'string') return fail(at, `expected ${want}`);
    try {
      return read(v);
    } catch (e) {
      return fail(at, (e as Error).message);
    }
  };

const readData: Shape<boolean | number> = (v, at) => {
  if (typeof v === 'boolean') return boolean(v, at);
  if (typeof v === 'string' && /^([1-9][0-9]?|100)%$/.test(v)) return Number(v.slice(0, -1)) / 100;
  return fail(at, 'expected true, false or a percentage such as 10%');
};

/** A WAL archive's cluster name, as `backup wal-push --cluster` takes it. */
const cluster: Shape<string> = via((t) => checkCluster(t), 'a cluster name');

/** A libpq connection string without a password ('' for libpq's environment). */
const conninfo: Shape<string> = (v, at) => {
  if (v === '') return '';
  return via((t) => {
    checkDbname(t);
    return t;
  }, 'a libpq connection string')(v, at);
};

const planShape = (cwd: string) =>
  object({
    apiVersion: oneOf(['vault-tool/v1']),
    kind: oneOf(['VerificationPlan']),
    interval: optional(via((t) => parseInterval(t), 'quarterly, monthly, yearly or a duration such as 90d')),
    against: optional(list(via((t) => parseAgainst(t, cwd), 'SOURCE=ENTRY'))),
    kubernetes: optional(object({ kubeconfig: optional(string()), context: optional(string()) })),
    copies: optional(list(object({ vault: string(), key: optional(string()) }))),
    backups: optional(
      map(object({ repo: string(), readData: optional(readData), rpo: optional(rpoShape), archivers: optional(record(conninfo, cluster)) }), (b) => ({
        repo: b.repo,
        readData: b.readData ?? false,
        ...(b.rpo ? { rpo: b.rpo } : {}),
        ...(b.archivers ? { archivers: b.archivers } : {}),
      })),
    ),
  });

export function parseVerificationPlan(text: string, source: string, cwd = '/'): VerificationPlan {
  const raw: unknown = parseYaml(text, source);
  if (!isRecord(raw) || raw.apiVersion !== 'vault-tool/v1' || raw.kind !== 'VerificationPlan') {
    throw new VaultError('invalid', `${source}: not a verification plan (expected apiVersion: vault-tool/v1 and kind: VerificationPlan)`);
  }
  const p = parseShape(raw, planShape(cwd), source);
  return {
    interval: p.interval ?? parseInterval('quarterly'),
    against: p.against ?? [],
    copies: p.copies ?? [],
    ...(p.kubernetes ? { kubernetes: p.kubernetes } : {}),
    ...(p.backups ? { backups: p.backups } : {}),
  };
}
