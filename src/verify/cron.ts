import { shellWord } from '../errors/shell.js';
import { dirname } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { onCalendar } from './cron-expr.js';
import { describeJob, jobArgs, jobFolders, jobLog, type JobPaths } from './schedule-jobs.js';
import type { Job, SchedulePlan } from './schedule-plan.js';

/**
 * A schedule plan for the host's own schedulers: one file for
 * /etc/cron.d (cron), or a service and a timer per job (systemd). What is
 * printed runs as printed: absolute paths everywhere (cron's PATH is
 * /usr/bin:/bin), vault-tool by its absolute executable (by default this
 * node and this vault-tool's script), the vault, key and state folder as
 * the plan (or the command that made the schedule) says, the folders a job
 * writes made before it runs, each job's output appended to its log (cron)
 * or kept in the journal (systemd). No secret is on a command line: the key
 * file is read by vault-tool, its passphrase (if any) from a file, the
 * tools' credentials from the environment file.
 */
export interface HostSchedule {
  plan: SchedulePlan;
  /** The executable and its leading arguments (node and the script, or the plan's bin). */
  bin: string[];
  vaultFile: string;
  keyFile: string;
  stateDir: string;
  strict?: boolean;
}

/** cron hands a line longer than this to nobody (Vixie cron's MAX_COMMAND, 1000 with the newline). */
const MAX_LINE = 998;

/** Quoted for sh. */
export const shQuote = shellWord;
/** cron turns an unescaped % into a newline (the rest becomes standard input). */
const cronEscape = (line: string) => line.replace(/%/g, '\\%');

function paths(h: HostSchedule): JobPaths {
  const p = h.plan.paths;
  return {
    vaultFile: h.vaultFile,
    keyFile: h.keyFile,
    ...(p.passphraseFile ? { passphraseFile: p.passphraseFile } : {}),
    reportDir: p.reportDir,
    metricsFile: p.metricsFile,
    ...(h.plan.repo ? { repo: h.plan.repo } : {}),
    ...(h.strict ? { strict: true } : {}),
  };
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** PATH for the jobs: the usual folders, and node's (the script's `#!/usr/bin/env node` and the tools vault-tool runs). */
const jobPath = (h: HostSchedule) => (PATH.split(':').includes(dirname(h.bin[0]!)) ? PATH : `${dirname(h.bin[0]!)}:${PATH}`);

/** The variables every job gets: the state folder and the plan's env. */
const variables = (h: HostSchedule): [string, string][] => [['VAULT_TOOL_STATE_DIR', h.stateDir], ...Object.entries(h.plan.env)];

/**
 * The environment file read by sh without running it: each `KEY=VALUE` line
 * exported as it is (no quotes, no expansion: the value is taken literally),
 * blank lines and `#` comments skipped.
 */
const readEnvFile = (file: string) => `while IFS= read -r l || [ -n "$l" ]; do case $l in ''|'#'*) ;; *) export "$l" || exit 1;; esac; done < ${shQuote(file)}`;

function folders(h: HostSchedule, job: Job): string[] {
  return [...new Set([h.plan.paths.logDir, ...jobFolders(job, { stateDir: h.stateDir, reportDir: h.plan.paths.reportDir })])];
}

export function cronLine(h: HostSchedule, job: Job): string {
  const p = h.plan.paths;
  const steps = [
    'cd /',
    'umask 077',
    `mkdir -p ${folders(h, job).map(shQuote).join(' ')}`,
    // From here on everything, a missing environment file too, goes to the job's log.
    `exec >> ${shQuote(jobLog(p.logDir, job))} 2>&1`,
    ...(p.environmentFile ? [`{ ${readEnvFile(p.environmentFile)}; }`] : []),
    `exec ${[...h.bin, ...jobArgs(job, paths(h))].map(shQuote).join(' ')}`,
  ];
  const line = cronEscape(`${job.at.text} ${h.plan.user ?? 'root'} ${steps.join(' && ')}`);
  if (line.length > MAX_LINE)
    throw new VaultError(
      'usage',
      `the cron line of job ${job.name} is ${line.length} characters, more than cron reads (${MAX_LINE}): shorter paths, or the systemd timers`,
      { code: 'cron-line-long' },
    );
  return line;
}

/** A file for /etc/cron.d: its own variables (they apply to this file only), then a line per job. */
export function cronFile(h: HostSchedule): string {
  const p = h.plan.paths;
  const head = [
    '# vault-tool: every recurring job of the schedule plan. Install as /etc/cron.d/vault-tool',
    '# (owned by root, mode 0644, the name without a dot); cron reads it within a minute.',
    `# Times are the host's local time${h.plan.timeZone ? ` (the plan says ${h.plan.timeZone}: the host's zone must be it)` : ''}.`,
    `# Each job appends its output to ${p.logDir}/NAME.log; reports go to ${p.reportDir},`,
    `# the metrics to ${p.metricsFile} (its folder must exist: node_exporter's textfile folder).`,
    '# Continuous WAL archiving is not here: PostgreSQL runs it (archive_command).',
    'SHELL=/bin/sh',
    `PATH=${jobPath(h)}`,
    ...variables(h).map(([k, v]) => `${k}=${v}`),
  ];
  for (const [k, v] of variables(h))
    if (/^\s|\s$|%/.test(v) || v.includes('\n'))
      throw new VaultError('usage', `env.${k}: cron cannot carry a value with leading or trailing spaces or %`, { code: 'cron-env' });
  const jobs = h.plan.jobs.flatMap((j) => [`# ${j.name}: ${describeJob(j.spec)}`, cronLine(h, j)]);
  return `${[...head, ...jobs].join('\n')}\n`;
}

/** An argument as systemd's ExecStart= reads it: specifiers (%) and variables ($) escaped, quoted when needed. */
const unitArg = (a: string) => {
  const e = a.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_./:=@+,-]+$/.test(e) ? e : `"${e.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
};
const unitValue = (k: string, v: string) => unitArg(`${k}=${v}`);

export interface Unit {
  /** The file name under /etc/systemd/system. */
  name: string;
  text: string;
}

export function systemdUnits(h: HostSchedule): Unit[] {
  const p = h.plan.paths;
  return h.plan.jobs.flatMap((job) => {
    const unit = `vault-tool-${job.name}`;
    const service = [
      '[Unit]',
      `Description=vault-tool: ${describeJob(job.spec)} (job ${job.name})`,
      'Wants=network-online.target',
      'After=network-online.target',
      '',
      '[Service]',
      'Type=oneshot',
      ...((h.plan.user ?? 'root') !== 'root' ? [`User=${h.plan.user ?? 'root'}`] : []),
      'UMask=0077',
      `Environment=${unitValue('PATH', jobPath(h))}`,
      ...variables(h).map(([k, v]) => `Environment=${unitValue(k, v)}`),
      ...(p.environmentFile ? [`EnvironmentFile=${p.environmentFile}`] : []),
      `ExecStartPre=/bin/mkdir -p ${folders(h, job)
        .filter((d) => d !== p.logDir)
        .map(unitArg)
        .join(' ')}`,
      `ExecStart=${[...h.bin, ...jobArgs(job, paths(h))].map(unitArg).join(' ')}`,
      ...(job.timeoutSeconds ? [`TimeoutStartSec=${job.timeoutSeconds}`] : ['TimeoutStartSec=infinity']),
      '# Its output is in the journal: journalctl -u ' + `${unit}.service`,
      'NoNewPrivileges=yes',
      'PrivateTmp=yes',
      '',
    ].join('\n');
    const timer = [
      '[Unit]',
      `Description=vault-tool: when ${job.name} runs`,
      '',
      '[Timer]',
      `OnCalendar=${onCalendar(job.at, h.plan.timeZone)}`,
      // A run missed while the host was down is made up at boot.
      'Persistent=true',
      '',
      '[Install]',
      'WantedBy=timers.target',
      '',
    ].join('\n');
    return [
      { name: `${unit}.service`, text: service },
      { name: `${unit}.timer`, text: timer },
    ];
  });
}

/** The units as one text: each after a `# file: PATH` line, with how to install them. */
export function systemdText(h: HostSchedule, dir = '/etc/systemd/system'): string {
  const units = systemdUnits(h);
  const head = [
    '# vault-tool: a service and a timer per job of the schedule plan. Save each file where its',
    "# '# file:' line says (for example: vault-tool schedule systemd --plan PLAN | awk '/^# file: /{f=$3; next} f{print > f}'),",
    `# then: systemctl daemon-reload && systemctl enable --now ${h.plan.jobs.map((j) => `vault-tool-${j.name}.timer`).join(' ')}`,
    `# Output of each job: journalctl -u vault-tool-NAME.service; reports in ${h.plan.paths.reportDir}, metrics in ${h.plan.paths.metricsFile}.`,
    '# Continuous WAL archiving is not here: PostgreSQL runs it (archive_command).',
  ];
  return `${head.join('\n')}\n${units.map((u) => `# file: ${dir}/${u.name}\n${u.text}`).join('')}`;
}
