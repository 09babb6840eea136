import { isAbsolute } from 'node:path';
import { checkComponent } from '../backup/component.js';
import { VaultError } from '../errors/errors.js';
import type { Duration } from '../vault/duration.js';
import { checkHandoverVariable } from '../vault/handover.js';
import { checkRedisHost } from '../backup/kinds/redis.js';
import { parseYaml } from '../vault/yaml.js';
import {
  boolean,
  duration,
  fail,
  integer,
  isRecord,
  list,
  map,
  object,
  optional,
  parseShape,
  record,
  refine,
  string,
  type Path,
  type Shape,
} from '../vault/shape.js';
import { type CronSchedule, parseCron } from './cron-expr.js';

/**
 * The schedule plan (docs/FORMAT.md, "Schedule plan"): every recurring job
 * (each backup at its own time, prune, the full read of the backups, the
 * quarterly verification, the drill, the metrics) and where the host that
 * runs them keeps things. `schedule cron|systemd|k8s-cronjob` turn it into
 * what a scheduler runs. Strict at every depth: an unknown field anywhere
 * is an error naming its path.
 *
 *   apiVersion: vault-tool/v1
 *   kind: SchedulePlan
 *   paths: { vaultFile: /var/lib/vault-tool/secrets.vault, keyFile: /etc/vault-tool/vault.key }
 *   repo: /srv/backups
 *   env: { PGHOST: db.internal, PGUSER: backup }
 *   jobs:
 *     - { name: db, at: "0 2 * * *", postgres: { dbname: app } }
 *     - { name: prune, at: "0 4 * * *", prune: { keepWithin: 30d } }
 *     - { name: verify, at: "0 6 1 *\/3 *", verify: { plan: /etc/vault-tool/verify.yaml } }
 *
 * Continuous WAL archiving is not a job here: PostgreSQL runs it as its
 * archive_command.
 */
export type JobKind = 'postgres' | 'redis' | 'files' | 'k8s' | 'exec' | 'prune' | 'backupVerify' | 'verify' | 'drill' | 'status';

export type JobSpec =
  | { kind: 'postgres'; dbname?: string; all?: boolean; compress?: number }
  | { kind: 'redis'; host?: string; port?: number; name?: string }
  | { kind: 'files'; paths: string[]; base: string; name?: string }
  | { kind: 'k8s'; namespaces: string[]; context?: string; kubeconfig?: string; name?: string }
  | { kind: 'exec'; name: string; command: string[]; env: Record<string, string> }
  | { kind: 'prune'; keep: Keep }
  | { kind: 'backupVerify' }
  | { kind: 'verify'; plan: string; operator: string }
  | { kind: 'drill'; plan: string; operator: string }
  | { kind: 'status'; plan?: string };

export interface Keep {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  within?: Duration;
}

export interface Job {
  name: string;
  at: CronSchedule;
  /** Bound on the whole run (systemd TimeoutStartSec, the Job's activeDeadlineSeconds); absent: none beyond each tool's own. */
  timeoutSeconds?: number;
  spec: JobSpec;
}

export interface SchedulePaths {
  vaultFile?: string;
  keyFile?: string;
  stateDir?: string;
  reportDir: string;
  logDir: string;
  metricsFile: string;
  passphraseFile?: string;
  environmentFile?: string;
  /** The vault-tool executable (default: this node and this vault-tool's script, by absolute path). */
  bin?: string;
}

export interface KubernetesSettings {
  namespace: string;
  createNamespace: boolean;
  image: string;
  storage: { size: string; storageClass?: string };
  /** Folders of the host given to the pods as existing PersistentVolumeClaims, by path. */
  volumes: Record<string, string>;
}

export interface SchedulePlan {
  timeZone?: string;
  /** The user cron and systemd run the jobs as (default root). */
  user?: string;
  paths: SchedulePaths;
  repo?: string;
  env: Record<string, string>;
  kubernetes?: Partial<KubernetesSettings>;
  jobs: Job[];
}

export const DEFAULT_PATHS = {
  reportDir: '/var/lib/vault-tool/reports',
  logDir: '/var/log/vault-tool',
  metricsFile: '/var/lib/node_exporter/textfile_collector/vault_tool.prom',
} as const;

/** Names that carry a secret by convention: they belong in the environment file, never in the plan. */
const SECRET_NAME = /PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|ACCESS_KEY|(^|_)AUTH$|^REDISCLI_AUTH$|^PGPASSFILE$/;
/** Set by the plan's paths, never by env. */
const OWN_VARIABLES = new Set(['VAULT_TOOL_VAULT_FILE', 'VAULT_TOOL_KEY_FILE', 'VAULT_TOOL_STATE_DIR', 'VAULT_TOOL_BACKUP_REPO', 'PATH', 'HOME']);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What a check of the library refuses, as a field's message (null when it passes). */
const failure = (check: () => void): string | null => {
  try {
    check();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
};

const abs = (want: string) => string({ pattern: /^\//, want: `an absolute path (${want})` });
const noNewline = (s: Shape<string>) => refine(s, (v) => (/[\n\r]/.test(v) ? 'a value on one line' : null));

const envShape = refine(record(noNewline(string({ nonEmpty: false })), string({ pattern: ENV_NAME, want: 'a variable name' })), (m) => {
  for (const k of Object.keys(m)) {
    if (OWN_VARIABLES.has(k)) return `${k} is set by the plan's paths and repo (or by the scheduler), not here`;
    if (SECRET_NAME.test(k.toUpperCase()))
      return `${k} holds a secret by its name: put it in the file paths.environmentFile names (read by the job, never in the plan or on a command line)`;
  }
  return null;
});

const JOB_NAME = string({ pattern: /^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/, want: 'a job name (lowercase letters, digits and -, at most 40)' });
const DB = string({ want: 'a database name' });
const NAME = string({ pattern: /^[a-z0-9][a-z0-9._-]{0,99}$/, want: 'a component name (lowercase letters, digits, . _ -)' });
const count = optional(integer(1, 100_000));

const cron: Shape<CronSchedule> = (v, at) => {
  if (typeof v !== 'string') return fail(at, 'expected a five-field cron schedule such as "0 2 * * *"');
  try {
    return parseCron(v);
  } catch (e) {
    return fail(at, (e as Error).message.replace(/^schedule /, ''));
  }
};

const KINDS: Record<JobKind, Shape<JobSpec>> = {
  postgres: map(
    refine(object({ dbname: optional(DB), all: optional(boolean), compress: optional(integer(0, 9)) }), (p) =>
      p.all && p.dbname ? 'dbname or all: true, not both' : null,
    ),
    (p) => ({ kind: 'postgres', ...p }),
  ),
  redis: map(
    object({ host: optional(refine(string(), (h) => failure(() => checkRedisHost(h)))), port: optional(integer(1, 65535)), name: optional(NAME) }),
    (p) => ({ kind: 'redis', ...p }),
  ),
  files: map(
    object({
      paths: list(
        refine(string({ want: 'a path' }), (p) => (p.startsWith('-') ? 'a path, not an option' : null)),
        { min: 1 },
      ),
      base: abs('the folder the paths are relative to'),
      name: optional(NAME),
    }),
    (p) => ({ kind: 'files', ...p }),
  ),
  k8s: map(
    object({
      namespaces: list(string({ pattern: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, want: 'a namespace' }), { min: 1 }),
      context: optional(string()),
      kubeconfig: optional(abs('a kubeconfig')),
      name: optional(NAME),
    }),
    (p) => ({ kind: 'k8s', ...p }),
  ),
  exec: map(
    object({
      name: NAME,
      command: list(noNewline(string()), { min: 1 }),
      env: optional(
        refine(
          record(string({ pattern: /^[^\s=]+(@[0-9]+)?$/, want: 'an entry name, or NAME@VERSION' }), string({ pattern: ENV_NAME, want: 'a variable name' })),
          (m) => Object.keys(m).reduce<string | null>((why, v) => why ?? failure(() => checkHandoverVariable(v)), null),
        ),
      ),
    }),
    (p) => ({ kind: 'exec', name: p.name, command: p.command, env: p.env ?? {} }),
  ),
  prune: map(
    refine(
      object({
        keepLast: count,
        keepHourly: count,
        keepDaily: count,
        keepWeekly: count,
        keepMonthly: count,
        keepYearly: count,
        keepWithin: optional(duration({ bareMinutes: false })),
      }),
      (k) => (Object.keys(k).length ? null : 'at least one keep rule (keepWithin: 30d, keepDaily: 7, …): a prune with none would keep nothing'),
    ),
    (k) => ({
      kind: 'prune',
      keep: {
        ...(k.keepLast ? { last: k.keepLast } : {}),
        ...(k.keepHourly ? { hourly: k.keepHourly } : {}),
        ...(k.keepDaily ? { daily: k.keepDaily } : {}),
        ...(k.keepWeekly ? { weekly: k.keepWeekly } : {}),
        ...(k.keepMonthly ? { monthly: k.keepMonthly } : {}),
        ...(k.keepYearly ? { yearly: k.keepYearly } : {}),
        ...(k.keepWithin ? { within: k.keepWithin } : {}),
      },
    }),
  ),
  backupVerify: map(object({}), () => ({ kind: 'backupVerify' })),
  verify: map(object({ plan: abs('the verification plan'), operator: optional(string()) }), (p) => ({
    kind: 'verify',
    plan: p.plan,
    operator: p.operator ?? 'scheduled',
  })),
  drill: map(object({ plan: abs('the drill plan'), operator: optional(string()) }), (p) => ({
    kind: 'drill',
    plan: p.plan,
    operator: p.operator ?? 'scheduled',
  })),
  status: map(object({ plan: optional(abs('the verification plan')) }), (p) => ({ kind: 'status', ...p })),
};

const COMMON = ['name', 'at', 'timeout'];

const jobShape: Shape<Job> = (v, at) => {
  if (!isRecord(v)) return fail(at, 'expected a job: name, at, and one of ' + Object.keys(KINDS).join(', '));
  const kinds = Object.keys(v).filter((k) => Object.hasOwn(KINDS, k));
  if (kinds.length !== 1)
    return fail(at, kinds.length ? `one kind of job per item (found ${kinds.join(' and ')})` : `which job? one of ${Object.keys(KINDS).join(', ')}`);
  const kind = kinds[0] as JobKind;
  for (const k of Object.keys(v)) if (k !== kind && !COMMON.includes(k)) fail(at.field(k), `unknown field (expected ${[...COMMON, kind].join(', ')})`);
  const name = JOB_NAME(v.name, at.field('name'));
  if (v.at === undefined || v.at === null) fail(at.field('at'), 'missing: when the job runs (a five-field cron schedule)');
  const when = cron(v.at, at.field('at'));
  const timeout = optional(duration())(v.timeout, at.field('timeout'));
  if (timeout?.months) fail(at.field('timeout'), 'a bound in s, m, h or d, not months');
  return { name, at: when, ...(timeout ? { timeoutSeconds: Math.ceil(timeout.ms / 1000) } : {}), spec: KINDS[kind](v[kind] ?? {}, at.field(kind)) };
};

function checkJobs(jobs: Job[], at: Path): void {
  jobs.forEach((j, i) => {
    const twin = jobs.findIndex((o) => o.name === j.name);
    if (twin !== i) fail(at.item(i).field('name'), `${j.name} is already the name of jobs[${twin}]`);
  });
  for (const [i, j] of jobs.entries()) {
    const s = j.spec;
    const named = s.kind === 'exec' || s.kind === 'redis' || s.kind === 'files' || s.kind === 'k8s' ? s.name : undefined;
    if (named) {
      try {
        checkComponent(`${s.kind}/${named}`);
      } catch (e) {
        fail(at.item(i).field(s.kind).field('name'), (e as Error).message);
      }
    }
  }
}

const REPO = refine(string({ want: 'a folder or an rclone remote' }), (r) =>
  isAbsolute(r) || /^[A-Za-z0-9_-]+:/.test(r) ? null : 'an absolute folder or an rclone remote (remote:path)',
);

const planShape = object({
  apiVersion: refine(string(), (v) => (v === 'vault-tool/v1' ? null : 'expected vault-tool/v1')),
  kind: refine(string(), (v) => (v === 'SchedulePlan' ? null : 'expected SchedulePlan')),
  user: optional(string({ pattern: /^[a-z_][a-z0-9_-]{0,31}$/, want: 'a user name' })),
  timeZone: optional(string({ pattern: /^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/, want: 'an IANA time zone such as Europe/Berlin or Etc/UTC' })),
  paths: optional(
    object({
      vaultFile: optional(abs('secrets.vault')),
      keyFile: optional(abs('vault.key')),
      stateDir: optional(abs('the state folder')),
      reportDir: optional(abs('the reports folder')),
      logDir: optional(abs('the logs folder')),
      metricsFile: optional(abs('the node_exporter textfile')),
      passphraseFile: optional(abs("the key file's passphrase")),
      environmentFile: optional(abs('KEY=VALUE lines for the tools')),
      bin: optional(abs('the vault-tool executable')),
    }),
  ),
  repo: optional(REPO),
  env: optional(envShape),
  kubernetes: optional(
    object({
      namespace: optional(string({ pattern: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, want: 'a namespace' })),
      createNamespace: optional(boolean),
      image: optional(string()),
      storage: optional(
        object({
          size: optional(string({ pattern: /^[0-9]+(Mi|Gi|Ti)$/, want: 'a size such as 1Gi' })),
          storageClass: optional(string()),
        }),
      ),
      volumes: optional(record(abs('a folder'), string({ pattern: /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, want: 'a PersistentVolumeClaim name' }))),
    }),
  ),
  jobs: list(jobShape, { min: 1 }),
});

export function parseSchedulePlan(text: string, source: string): SchedulePlan {
  const raw = parseYaml(text, source);
  if (isRecord(raw) && raw.kind === 'VerificationPlan')
    throw new VaultError('invalid', `${source} is a verification plan, not a schedule plan (kind: SchedulePlan)`, {
      hint: 'write a schedule plan (docs/FORMAT.md, "Schedule plan") whose verify job names this file',
      code: 'schedule-plan-kind',
    });
  const p = parseShape(
    raw,
    (v, at) => {
      const d = planShape(v, at);
      checkJobs(d.jobs, at.field('jobs'));
      const needs = d.jobs.findIndex((j) => usesRepo(j.spec));
      if (needs >= 0 && !d.repo)
        fail(at.field('jobs').item(needs), `a ${d.jobs[needs]!.spec.kind} job needs the backup repository: give repo (a folder or an rclone remote)`);
      return d;
    },
    source,
  );
  const k = p.kubernetes;
  return {
    ...(p.timeZone ? { timeZone: p.timeZone } : {}),
    ...(p.user ? { user: p.user } : {}),
    paths: { ...DEFAULT_PATHS, ...p.paths },
    ...(p.repo ? { repo: p.repo } : {}),
    env: p.env ?? {},
    ...(k
      ? {
          kubernetes: {
            ...(k.namespace ? { namespace: k.namespace } : {}),
            ...(k.createNamespace !== undefined ? { createNamespace: k.createNamespace } : {}),
            ...(k.image ? { image: k.image } : {}),
            ...(k.storage ? { storage: { size: k.storage.size ?? '1Gi', ...(k.storage.storageClass ? { storageClass: k.storage.storageClass } : {}) } } : {}),
            ...(k.volumes ? { volumes: k.volumes } : {}),
          },
        }
      : {}),
    jobs: p.jobs,
  };
}

/** Which jobs need the repository (every backup, prune, the full read). */
export const usesRepo = (s: JobSpec): boolean => !['verify', 'drill', 'status'].includes(s.kind);
