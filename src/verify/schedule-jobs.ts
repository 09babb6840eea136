import { join } from 'node:path';
import type { Job, JobSpec } from './schedule-plan.js';

/**
 * What each scheduled job runs: vault-tool's arguments, the same for cron,
 * systemd and a CronJob (only the paths differ: the host's, or the pod's).
 * Secrets are never arguments: the key file (plain, or with its passphrase
 * in a file), the tools' credentials in the environment file, entries
 * handed to `backup exec` by name.
 */
export interface JobPaths {
  vaultFile: string;
  keyFile: string;
  passphraseFile?: string;
  reportDir: string;
  metricsFile: string;
  repo?: string;
  /** Global flags given to the command that made the schedule, passed on (`--strict`). */
  strict?: boolean;
}

/** A one-line description of the job, for unit descriptions and comments. */
export function describeJob(s: JobSpec): string {
  switch (s.kind) {
    case 'postgres':
      return s.all ? 'backup of every PostgreSQL database and the globals' : `backup of PostgreSQL ${s.dbname ?? "(libpq's default database)"}`;
    case 'redis':
      return `backup of Redis ${s.host ?? '127.0.0.1'}:${s.port ?? 6379} (redis/${s.name ?? 'default'})`;
    case 'files':
      return `backup of files in ${s.base} (files/${s.name ?? 'config'})`;
    case 'k8s':
      return `backup of the Secrets and ConfigMaps of ${s.namespaces.join(', ')}`;
    case 'exec':
      return `backup of what ${s.command[0]} writes (exec/${s.name})`;
    case 'prune':
      return 'removal of old backups by the keep rules';
    case 'backupVerify':
      return 'full read of every backup';
    case 'verify':
      return 'the quarterly verification of the escrowed keys';
    case 'drill':
      return 'the disaster-recovery drill (a restore test)';
    case 'status':
      return 'the metrics for monitoring';
  }
}

/** vault-tool's arguments for a job (without the executable). */
export function jobArgs(job: Job, p: JobPaths): string[] {
  const globals = [
    '--vault-file',
    p.vaultFile,
    '--key-file',
    p.keyFile,
    ...(p.passphraseFile ? ['--passphrase-file', p.passphraseFile] : []),
    ...(p.strict ? ['--strict'] : []),
  ];
  const repo = p.repo ? ['--repo', p.repo] : [];
  const s = job.spec;
  switch (s.kind) {
    case 'postgres':
      return [
        ...globals,
        'backup',
        'postgres',
        ...repo,
        ...(s.all ? ['--all'] : []),
        ...(s.dbname ? ['--dbname', s.dbname] : []),
        ...(s.compress !== undefined ? ['--compress', String(s.compress)] : []),
      ];
    case 'redis':
      return [
        ...globals,
        'backup',
        'redis',
        ...repo,
        ...(s.host ? ['--host', s.host] : []),
        ...(s.port ? ['--port', String(s.port)] : []),
        ...(s.name ? ['--name', s.name] : []),
      ];
    case 'files':
      return [...globals, 'backup', 'files', ...repo, '--base', s.base, ...(s.name ? ['--name', s.name] : []), '--', ...s.paths];
    case 'k8s':
      return [
        ...globals,
        'backup',
        'k8s',
        ...repo,
        ...s.namespaces.flatMap((n) => ['--namespace', n]),
        ...(s.kubeconfig ? ['--kubeconfig', s.kubeconfig] : []),
        ...(s.context ? ['--context', s.context] : []),
        ...(s.name ? ['--name', s.name] : []),
      ];
    case 'exec':
      return [
        ...globals,
        'backup',
        'exec',
        ...repo,
        '--name',
        s.name,
        ...Object.entries(s.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
        '--',
        ...s.command,
      ];
    case 'prune': {
      const k = s.keep;
      const n = (flag: string, v?: number) => (v ? [flag, String(v)] : []);
      return [
        ...globals,
        'backup',
        'prune',
        ...repo,
        ...n('--keep-last', k.last),
        ...n('--keep-hourly', k.hourly),
        ...n('--keep-daily', k.daily),
        ...n('--keep-weekly', k.weekly),
        ...n('--keep-monthly', k.monthly),
        ...n('--keep-yearly', k.yearly),
        // restic reads a bare m as months: the normalized text would say 30m for minutes, so minutes are spelled min.
        ...(k.within ? ['--keep-within', k.within.text.replace(/([0-9])m(?!o)/g, '$1min')] : []),
        '--confirm',
      ];
    }
    case 'backupVerify':
      return [...globals, 'backup', 'verify', ...repo, '--all'];
    case 'verify':
      return [...globals, 'verify', '--plan', s.plan, '--operator', s.operator, '--report-dir', p.reportDir, '--prometheus', p.metricsFile];
    case 'drill':
      return [...globals, 'drill', '--plan', s.plan, '--operator', s.operator, '--report-dir', p.reportDir];
    case 'status':
      return [...globals, 'status', ...(s.plan ? ['--plan', s.plan] : repo), '--prometheus', p.metricsFile];
  }
}

/** The folders a job writes into besides the vault's own (made before it runs). */
export function jobFolders(job: Job, p: { stateDir: string; reportDir: string }): string[] {
  const s = job.spec;
  return [p.stateDir, ...(s.kind === 'verify' || s.kind === 'drill' ? [p.reportDir] : [])];
}

/** The log file of a job in the log folder. */
export const jobLog = (logDir: string, job: Job): string => join(logDir, `${job.name}.log`);
