import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { readVault } from '../../vault/store.js';
import { metricsOf } from '../../verify/metrics.js';
import { parseVerificationPlan } from '../../verify/plan.js';
import { parseInterval } from '../../verify/schedule.js';
import { vaultStatus } from '../../verify/status.js';
import { listRepo } from '../../backup/repo.js';
import { backupStatus, requireRepo, type BackupStatus } from '../../backup/status.js';
import { table, type Context } from '../context.js';
import { openRepo, rpoOf } from './backup/options.js';

const ago = (s: number) => (s < 3600 ? `${Math.round(s / 60)} min` : s < 172_800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} days`);

export default function status(cmd: Command, ctx: Context): void {
  cmd
    .option('--interval <every>', "how often verification is due (default: the plan's, else quarterly)")
    .option('--plan <file>', 'take the interval from this verification plan')
    .option('-r, --repo <dest>', "include the backups of this repository (default: the plan's backups.repo, or VAULT_TOOL_BACKUP_REPO)")
    .option('--rpo <duration>', 'backups: the recovery point objective of every component (24h, 7d)')
    .option('--rpo-file <file>', 'backups: RPO per component (YAML: rpo: { default: 24h, postgres/app: 6h })')
    .option('--prometheus <file>', 'write the status as Prometheus metrics (node_exporter textfile format), atomically')
    .action(async (o: { interval?: string; plan?: string; prometheus?: string; repo?: string; rpo?: string; rpoFile?: string }) => {
      if (o.prometheus) ctx.checkOut(o.prometheus, 'metrics', false);
      let interval = parseInterval(o.interval ?? 'quarterly');
      const plan = o.plan ? parseVerificationPlan((await ctx.readFile(o.plan, 'the verification plan')).toString('utf8'), o.plan, ctx.io.cwd) : undefined;
      if (plan && !o.interval) interval = plan.interval;
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const now = ctx.now();
      const repoSpec = o.repo ?? plan?.backups?.repo ?? ctx.io.env.VAULT_TOOL_BACKUP_REPO;
      let backups: BackupStatus[] = [];
      if (repoSpec) {
        const repo = openRepo(ctx, { repo: repoSpec });
        await requireRepo(repo);
        const rpo = await rpoOf(ctx, o);
        backups = backupStatus(await listRepo(repo), doc, rpo, now, rpo.named);
      }
      const s = vaultStatus(doc, interval, now, backups);
      if (o.prometheus) ctx.writeOut(o.prometheus, metricsOf(s), 'metrics', false);
      if (ctx.globals(cmd).json) ctx.json(s);
      else {
        const last = s.lastVerification;
        ctx.out(`vault ${s.vault.vaultId.slice(0, 12)}, generation ${s.vault.generation}, key id ${s.vault.keyId}`);
        ctx.out(
          `verification (${s.interval}): ${last ? `last ${last.at} ${last.ok ? 'passed' : `FAILED (${last.failures} checks)`} by ${last.operator}` : 'never run'}; ${s.lastSuccess ? `last success ${s.lastSuccess.at}` : 'never passed'}; ${s.nextDue ? `next due ${s.nextDue}` : 'due now'}${s.overdue ? ` — OVERDUE${s.overdueSeconds ? ` by ${ago(s.overdueSeconds)}` : ''}` : ''}`,
        );
        ctx.out(
          `drill: ${s.lastDrill ? `last ${s.lastDrill.at} ${s.lastDrill.ok ? 'passed' : 'FAILED'}, ${s.lastDrill.rtoSeconds !== undefined ? `recovery in ${s.lastDrill.rtoSeconds} s` : 'recovery time not measured (the drill failed)'}` : 'never run'}`,
        );
        ctx.out(
          s.escrow
            ? `escrow: set ${s.escrow.setId}, epoch ${s.escrow.epoch}, any ${s.escrow.threshold} of ${s.escrow.count} (${s.escrow.custodians.join(', ')})${s.escrow.keyMatchesVault ? '' : ' — the shares open an older key'}`
            : 'escrow: the vault key was never split',
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
                  ['BACKUP', 'NEWEST VERIFIED', 'RPO', 'KEY HELD'],
                  ...s.backups.map((b) => [
                    b.component,
                    b.lastVerifiedAt ?? 'none',
                    b.rpoSeconds !== undefined ? `${ago(b.rpoSeconds)}${b.rpoMissed ? ' MISSED' : ''}` : '-',
                    b.keyHeld ? 'yes' : 'NO',
                  ]),
                ])
              : `backups: none in ${repoSpec}`,
          );
      }
      const lost = s.backups.filter((b) => !b.keyHeld);
      if (lost.length)
        throw new VaultError(
          'verify-failed',
          `the vault does not hold the key of the newest backup of ${lost.map((b) => b.component).join(', ')}: they cannot be opened`,
        );
      const missed = s.backups.filter((b) => b.rpoMissed);
      if (missed.length) throw new VaultError('verify-failed', `RPO missed for ${missed.map((b) => b.component).join(', ')}`);
      if (s.lastVerification && !s.lastVerification.ok) throw new VaultError('verify-failed', `the last verification failed (${s.lastVerification.at})`);
      if (s.overdue)
        throw new VaultError(
          'overdue',
          s.lastSuccess ? `verification is overdue: the last success was ${s.lastSuccess.at}, due every ${s.interval}` : 'no verification has ever passed',
          { code: 'verify-overdue' },
        );
    });
}
