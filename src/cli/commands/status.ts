import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { formatSeconds } from '../../vault/duration.js';
import { readVault } from '../../vault/store.js';
import { metricsOf } from '../../verify/metrics.js';
import { parseVerificationPlan } from '../../verify/plan.js';
import { parseInterval } from '../../verify/schedule.js';
import { vaultStatus } from '../../verify/status.js';
import { listRepo, requireRepo } from '../../backup/repo.js';
import { archiveStatus, backupStatus, type BackupStatus } from '../../backup/status.js';
import { table, type Context } from '../context.js';
import { openRepo } from './backup/options.js';
import { archiverOption, archiversOf, rpoOf } from './backup/report-options.js';
import { archiveLines, statusFindings } from './backup/status.js';

const ago = (s: number) => formatSeconds(s < 3600 ? s : s < 172_800 ? Math.round(s / 60) * 60 : Math.round(s / 3600) * 3600);

export default function status(cmd: Command, ctx: Context): void {
  archiverOption(cmd)
    .option('--interval <every>', "how often verification is due (default: the plan's, else quarterly): quarterly, monthly, yearly, or a duration (90d)")
    .option('--plan <file>', 'take the interval, the repository and the RPO from this verification plan')
    .option('-r, --repo <dest>', "include the backups of this repository (default: the plan's backups.repo, or VAULT_TOOL_BACKUP_REPO)")
    .option('--rpo <duration>', 'backups: the recovery point objective of every component (15m, 6h, 1d)')
    .option('--rpo-file <file>', 'backups: RPO per kind or component (YAML: rpo: { default: 24h, postgres/app: 15m, postgres-wal/main: 5m })')
    .option('--prometheus <file>', 'write the status as Prometheus metrics (node_exporter textfile format), atomically')
    .action(async (o: { interval?: string; plan?: string; prometheus?: string; repo?: string; rpo?: string; rpoFile?: string; archiver?: string[] }) => {
      if (o.prometheus) ctx.checkOut(o.prometheus, 'metrics', false);
      let interval = parseInterval(o.interval ?? 'quarterly', '--interval');
      const plan = o.plan ? parseVerificationPlan((await ctx.readFile(o.plan, 'the verification plan')).toString('utf8'), o.plan, ctx.io.cwd) : undefined;
      if (plan && !o.interval) interval = plan.interval;
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const now = ctx.now();
      const repoSpec = o.repo ?? plan?.backups?.repo ?? ctx.io.env.VAULT_TOOL_BACKUP_REPO;
      const archivers = archiversOf(o.archiver, plan?.backups?.archivers);
      if (archivers && !repoSpec) throw new VaultError('usage', '--archiver needs a backup repository: --repo DEST, or backups.repo in the plan');
      let backups: BackupStatus[] = [];
      if (repoSpec) {
        const repo = openRepo(ctx, { repo: repoSpec });
        await requireRepo(repo);
        const listed = await listRepo(repo);
        const rpo = await rpoOf(ctx, o, plan?.backups?.rpo);
        backups = [
          ...backupStatus(listed, doc, rpo, now),
          ...(await archiveStatus(repo, listed, doc, rpo, now, { env: ctx.io.env, ...(archivers ? { archivers } : {}) })),
        ];
      }
      const s = vaultStatus(doc, interval, now, backups);
      if (o.prometheus) ctx.writeOut(o.prometheus, metricsOf(s), 'metrics', false);
      if (ctx.globals(cmd).json) ctx.json(s);
      else {
        const last = s.lastVerification;
        const verdict = last ? (last.verdict ?? (last.ok ? 'ok' : 'failed')) : undefined;
        const lastText = !last
          ? 'never run'
          : `last ${last.at} ${verdict === 'ok' ? 'passed' : verdict === 'failed' ? `FAILED (${last.failures} checks)` : `INCONCLUSIVE (${last.inconclusive ?? 0} checks could not be judged; not a pass)`} by ${last.operator}`;
        ctx.out(`vault ${s.vault.vaultId.slice(0, 12)}, generation ${s.vault.generation}, key id ${s.vault.keyId}`);
        ctx.out(
          `verification (${s.interval}): ${lastText}; ${s.lastSuccess ? `last success ${s.lastSuccess.at}` : 'never passed'}; ${s.nextDue ? `next due ${s.nextDue}` : 'due now'}${s.overdue ? ` — OVERDUE${s.overdueSeconds ? ` by ${ago(s.overdueSeconds)}` : ''}` : ''}`,
        );
        ctx.out(
          `drill: ${s.lastDrill ? `last ${s.lastDrill.at} ${s.lastDrill.ok ? 'passed' : 'FAILED'}, ${s.lastDrill.rtoSeconds !== undefined ? `recovery in ${formatSeconds(s.lastDrill.rtoSeconds)}` : 'recovery time not measured (the drill failed)'}` : 'never run'}`,
        );
        ctx.out(
          !s.escrow
            ? 'escrow: the vault key was never split'
            : s.escrow.stale
              ? `escrow: STALE — ${s.escrow.message}`
              : `escrow: set ${s.escrow.setId}, epoch ${s.escrow.epoch}, any ${s.escrow.threshold} of ${s.escrow.count} (${s.escrow.custodians.join(', ')}); it opens the vault key`,
        );
        if (s.copies.length)
          ctx.out(
            table([
              ['COPY', 'KIND', 'WHERE', 'AGE', 'LAST CHECK'],
              ...s.copies.map((c) => [c.id, c.kind, `${c.dest}/${c.file}`, ago(c.ageSeconds), c.lastStatus ?? 'never checked']),
            ]),
          );
        else ctx.out('copies: none registered (vault-tool copy --to DEST --key-to DEST2)');
        if (s.neverVerified.length) ctx.out(`never verified against production: ${s.neverVerified.join(', ')}`);
        if (repoSpec)
          ctx.out(
            s.backups.length
              ? table([
                  ['BACKUP', 'NEWEST VERIFIED', 'AGE', 'RPO', 'KEY HELD'],
                  ...s.backups.map((b) => [
                    b.component,
                    b.lastVerifiedAt ?? 'none',
                    b.ageSeconds !== undefined ? ago(b.ageSeconds) : '-',
                    b.rpo !== undefined ? `${b.rpo}${b.rpoMissed ? ' MISSED' : ''}` : '-',
                    b.keyHeld ? 'yes' : 'NO',
                  ]),
                ])
              : `backups: none in ${repoSpec}`,
          );
        for (const l of archiveLines(s.backups)) ctx.out(l);
      }
      const failed: string[] = [];
      if (s.escrow?.stale) failed.push(s.escrow.message);
      const lost = s.backups.filter((b) => !b.keyHeld);
      if (lost.length) failed.push(`the vault does not hold the key of the newest backup of ${lost.map((b) => b.component).join(', ')}: they cannot be opened`);
      const missed = s.backups.filter((b) => b.rpoMissed);
      if (missed.length) failed.push(`RPO missed for ${missed.map((b) => `${b.component} (${b.rpo})`).join(', ')}`);
      const archives = statusFindings(s.backups);
      const hint = archives.hint ? { hint: archives.hint } : undefined;
      failed.push(...archives.failed);
      const last = s.lastVerification;
      if (last && (last.verdict ? last.verdict === 'failed' : !last.ok)) failed.push(`the last verification failed (${last.at})`);
      if (s.lastDrill && !s.lastDrill.ok) failed.push(`the last drill failed (${s.lastDrill.at})`);
      // Both fixes are said: the escrow's, and the one for the archives' findings (a backup a full read judges again).
      if (failed.length) throw new VaultError('verify-failed', failed.join('; '), s.escrow?.stale ? { code: 'escrow-stale', ...hint } : hint);
      if (s.overdue)
        throw new VaultError(
          'overdue',
          s.lastSuccess ? `verification is overdue: the last success was ${s.lastSuccess.at}, due every ${s.interval}` : 'no verification has ever passed',
          { code: 'verify-overdue' },
        );
      const undecided = archives.inconclusive;
      if (undecided.length) throw new VaultError('inconclusive', `${undecided.join('; ')}; nothing failed, and this is not a pass`, hint);
      if (last?.verdict === 'inconclusive')
        throw new VaultError(
          'inconclusive',
          `the last verification (${last.at}) was inconclusive: ${last.inconclusive ?? 0} check(s) could not be judged on the host that ran it; none failed, and it is not a pass`,
          { code: 'verify-inconclusive' },
        );
    });
}
