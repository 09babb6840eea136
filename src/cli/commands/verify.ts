import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { readVault } from '../../vault/store.js';
import { fileStamp } from '../../vault/time.js';
import { metricsOf } from '../../verify/metrics.js';
import { parseReadData, parseVerificationPlan, type VerificationPlan } from '../../verify/plan.js';
import { parseDestination } from '../../dest/index.js';
import { loadSigningKey } from '../../backup/keys.js';
import type { Repo } from '../../backup/repo.js';
import { mergeRpo, rpoForAll } from '../../backup/rpo.js';
import { noteKeysInUse } from '../../backup/run.js';
import { checkBackups, type BackupsChecked } from '../../verify/backups.js';
import { signingKeyPath } from './backup/options.js';
import { archiverOption, archiversOf } from './backup/report-options.js';
import { resultLine, verificationReport } from '../../verify/report.js';
import { addInterval, parseInterval } from '../../verify/schedule.js';
import { parseAgainst } from '../../verify/sources.js';
import { vaultStatus } from '../../verify/status.js';
import { recordVerification, runVerification } from '../../verify/verify.js';
import { table, type Context } from '../context.js';
import { collect, plural, requestTimeoutOption } from '../options.js';
import { readShares } from '../shares.js';
import { hintText } from '../report.js';
import { copyVerdict } from '../../verify/copies.js';

const MARK = { ok: 'pass', failed: 'FAIL', inconclusive: 'INCONCLUSIVE' } as const;

interface VerifyOptions {
  plan?: string;
  against?: string[];
  copy?: string[];
  shares?: string[];
  identity?: string[];
  kubeconfig?: string;
  context?: string;
  requestTimeout: number;
  interval?: string;
  operator?: string;
  report?: string;
  reportDir?: string;
  prometheus?: string;
  repo?: string;
  readData?: string | boolean;
  signingKey?: string;
  rpo?: string;
  archiver?: string[];
}

/** `VAULT_FILE[:KEY_FILE]`: the key file after the first ':' that starts a path. */
function parseCopy(spec: string): { vault: string; key?: string } {
  const m = /^(.+?):([/.~].*)$/.exec(spec);
  return m ? { vault: m[1]!, key: m[2]! } : { vault: spec };
}

export default function verify(cmd: Command, ctx: Context): void {
  archiverOption(cmd)
    .option('--plan <file>', 'a verification plan (YAML): production sources, copies, backups, the interval')
    .option('--against <SOURCE=ENTRY>', 'compare ENTRY with production: env:FILE#KEY, envvar:NAME, file:PATH, k8s:NS/SECRET#KEY (repeatable)', collect)
    .option('--copy <VAULT_FILE[:KEY_FILE]>', 'also check this copy of the vault (opened with its key copy, else the vault key) (repeatable)', collect)
    .option('--shares <files...>', 'share files custodians brought: combined in memory to check they recover the vault key (never written)')
    .option('-i, --identity <file>', 'age identity for shares encrypted to a custodian (repeatable)', collect)
    .option('--kubeconfig <file>', 'for k8s: sources, the kubeconfig')
    .option('--context <name>', 'for k8s: sources, the kubeconfig context')
    .addOption(requestTimeoutOption())
    .option('--interval <every>', 'how often verification is due: quarterly (default), monthly, yearly, or a duration (90d, 12w, 3mo)')
    .option('--operator <name>', 'who runs it, for the report and the evidence log (default: $USER)')
    .option('--report <file>', 'write the Markdown report here')
    .option('--report-dir <dir>', 'write the Markdown report into this folder, named by date')
    .option('-r, --repo <dest>', "also verify the backups in this repository (default: the plan's backups.repo, or VAULT_TOOL_BACKUP_REPO)")
    .option(
      '--read-data [subset]',
      'read backups in full: all, or a percentage such as 10% (the least recently read first, always the newest of each component)',
    )
    .option('--signing-key <file>', "this host's signing key, to record each full read in its manifest")
    .option('--rpo <duration>', "backups: the RPO of every component (15m, 6h, 1d), over the plan's backups.rpo default")
    .option('--prometheus <file>', 'after the run, write the status as Prometheus metrics (node_exporter textfile format)')
    .action(async (o: VerifyOptions) => {
      const paths = ctx.paths(cmd);
      const store = ctx.storeOptions(cmd);
      let plan: VerificationPlan;
      let planInfo: { path: string; sha256: string } | undefined;
      if (o.plan) {
        const text = (await ctx.readFile(o.plan, 'the verification plan')).toString('utf8');
        plan = parseVerificationPlan(text, o.plan, ctx.io.cwd);
        planInfo = { path: o.plan, sha256: createHash('sha256').update(text).digest('hex') };
      } else plan = { interval: parseInterval('quarterly'), against: [], copies: [] };
      if (o.interval) plan.interval = parseInterval(o.interval, '--interval');
      plan.against.push(...(o.against ?? []).map((a) => parseAgainst(a, ctx.io.cwd)));
      // Checked before the run, so a refused output leaves no record of a report nobody got.
      if (o.report) ctx.checkOut(o.report, 'report', false);
      if (o.prometheus) ctx.checkOut(o.prometheus, 'metrics', false);
      // A share that does not read is set aside (a failed check in the report), never the end of the run.
      const shares = o.shares?.length ? await readShares(ctx, o.shares, o.identity ?? []) : [];
      if (o.repo) plan.backups = { ...plan.backups, repo: o.repo, readData: plan.backups?.readData ?? false };
      // The repository every backup command and status read: a verification that passed without looking at it would say more than it checked.
      else if (!plan.backups && ctx.io.env.VAULT_TOOL_BACKUP_REPO) plan.backups = { repo: ctx.io.env.VAULT_TOOL_BACKUP_REPO, readData: false };
      if (o.archiver?.length) {
        if (!plan.backups)
          throw new VaultError('usage', '--archiver needs a backup repository: --repo DEST, backups.repo in the plan, or VAULT_TOOL_BACKUP_REPO');
        plan.backups.archivers = archiversOf(o.archiver, plan.backups.archivers);
      }
      if (o.readData !== undefined) {
        if (!plan.backups)
          throw new VaultError('usage', '--read-data needs a backup repository: --repo DEST, backups.repo in the plan, or VAULT_TOOL_BACKUP_REPO');
        if (typeof o.readData === 'string' && !/^([1-9][0-9]?|100)%$/.test(o.readData))
          throw new VaultError('usage', `--read-data ${JSON.stringify(o.readData)}: give a percentage from 1% to 100% (10%), or nothing to read every backup`);
        plan.backups.readData = o.readData === true ? true : parseReadData(o.readData, '--read-data');
      }
      if (o.rpo) {
        if (!plan.backups) throw new VaultError('usage', '--rpo needs a backup repository: --repo DEST, backups.repo in the plan, or VAULT_TOOL_BACKUP_REPO');
        plan.backups.rpo = mergeRpo(plan.backups.rpo, rpoForAll(o.rpo, '--rpo'));
      }
      const backupPlan = plan.backups;
      let audited: { repo: Repo; checked: BackupsChecked } | undefined;
      const kube = o.kubeconfig ?? plan.kubernetes?.kubeconfig;
      const now = ctx.now();
      const result = await runVerification({
        paths,
        store,
        plan,
        extraCopies: (o.copy ?? []).map(parseCopy),
        dest: { env: ctx.io.env },
        sources: {
          env: ctx.io.env,
          cluster: {
            kubeconfig: kube ? ctx.abs(kube) : undefined,
            context: o.context ?? plan.kubernetes?.context,
            env: ctx.io.env,
            requestTimeoutMs: o.requestTimeout,
          },
        },
        ...(shares.length ? { shares } : {}),
        ...(backupPlan
          ? {
              backups: async (doc) => {
                const repo = { dest: parseDestination(backupPlan.repo, ctx.io.cwd, { env: ctx.io.env }) };
                const signing = backupPlan.readData ? loadSigningKey(signingKeyPath(ctx, o)) : undefined;
                const progress = ctx.progress(cmd);
                const checked = await checkBackups(repo, doc, {
                  ...(progress.mode === 'off' || !backupPlan.readData ? {} : { onProgress: progress.callback('verify') }),
                  readData: backupPlan.readData,
                  env: ctx.io.env,
                  ...(signing ? { signing } : {}),
                  ...(backupPlan.rpo ? { rpo: backupPlan.rpo } : {}),
                  ...(backupPlan.archivers ? { archivers: backupPlan.archivers } : {}),
                  now,
                });
                // A backup that failed ended its item as failed already.
                progress.end(true);
                audited = { repo, checked };
                return checked.findings;
              },
            }
          : {}),
        operator: o.operator ?? ctx.io.env.USER ?? ctx.io.env.LOGNAME ?? 'unknown',
        now,
      });
      if (audited?.checked.checks) await noteKeysInUse(paths, store, audited.repo, audited.checked.checks, now);
      const nextDue = result.ok ? addInterval(now, plan.interval).toISOString() : undefined;
      const report = verificationReport(result, { ...(planInfo ? { plan: planInfo } : {}), interval: plan.interval.text, ...(nextDue ? { nextDue } : {}) });
      const reportSha256 = createHash('sha256').update(report).digest('hex');
      let recorded = true;
      try {
        await recordVerification(paths, store, result, reportSha256, planInfo?.path ?? null);
      } catch (e) {
        // A damaged log is one of the findings: the report still goes out, saying the run is not recorded.
        if (!(e instanceof VaultError && e.code?.startsWith('evidence-'))) throw e;
        recorded = false;
        ctx.warn(`this run is not recorded: ${e.message}`);
      }
      const reportFile = o.report ? ctx.abs(o.report) : o.reportDir ? join(ctx.abs(o.reportDir), `verify-${fileStamp(now)}.md`) : undefined;
      if (reportFile) ctx.writeOut(reportFile, report, 'report', false, { makeFolder: true });
      if (o.prometheus) {
        const { doc } = await readVault(paths, store);
        // The backups as this run's check found them (none when the repository could not be listed: that check says why).
        const backups = audited?.checked.status ?? [];
        ctx.writeOut(o.prometheus, metricsOf(vaultStatus(doc, plan.interval, now, backups)), 'metrics', false);
      }
      const failures = result.checks.filter((c) => c.verdict === 'failed');
      const undecided = result.checks.filter((c) => c.verdict === 'inconclusive');
      if (ctx.globals(cmd).json) ctx.json({ ...result, reportSha256, ...(reportFile ? { report: reportFile } : {}), ...(nextDue ? { nextDue } : {}) });
      else {
        ctx.out(table([['AREA', 'RESULT', 'SUBJECT'], ...result.checks.map((c) => [c.area, MARK[c.verdict], c.subject])]));
        for (const f of failures) ctx.out(`FAIL ${f.area}: ${f.message}`);
        for (const f of undecided) ctx.out(`INCONCLUSIVE ${f.area}: ${f.message}`);
        ctx.info(
          `verification ${resultLine(result)}; ${recorded ? 'recorded in the evidence log' : 'NOT recorded (the evidence log is damaged)'} (report sha256 ${reportSha256.slice(0, 16)}…)${reportFile ? `; report: ${reportFile}` : ''}`,
        );
        if (nextDue) ctx.info(`next verification due ${nextDue}`);
        for (const c of result.copies) if (c.id && copyVerdict(c.status) === 'failed') ctx.hint(hintText('copy-stale', { id: c.id }), 'copy-stale');
      }
      if (result.verdict === 'failed')
        throw new VaultError(
          'verify-failed',
          `verification failed: ${plural(failures.length, 'check')} of ${result.checks.length} (${[...new Set(failures.map((f) => f.area))].join(', ')})${undecided.length ? `; ${undecided.length} more could not be judged here` : ''}`,
          { code: 'verify-failed' },
        );
      if (result.verdict === 'inconclusive')
        throw new VaultError(
          'inconclusive',
          `verification inconclusive: ${plural(undecided.length, 'check')} of ${result.checks.length} could not be judged on this host (${[...new Set(undecided.map((f) => f.area))].join(', ')}); none failed, and this is not a pass`,
          { code: 'verify-inconclusive' },
        );
    });
}
