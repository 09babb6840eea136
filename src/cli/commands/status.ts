import type { Command } from 'commander';
import { VaultError } from '../../vault/errors.js';
import { writeFileAtomic } from '../../vault/fs/atomic.js';
import { checkReplace } from '../../vault/fs/replace.js';
import { readVault } from '../../vault/store.js';
import { metricsOf } from '../../verify/metrics.js';
import { parseVerificationPlan } from '../../verify/plan.js';
import { parseInterval } from '../../verify/schedule.js';
import { vaultStatus } from '../../verify/status.js';
import { table, type Context } from '../context.js';

const ago = (s: number) => (s < 3600 ? `${Math.round(s / 60)} min` : s < 172_800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} days`);

export default function status(cmd: Command, ctx: Context): void {
  cmd
    .option('--interval <every>', 'how often verification is due (default: the plan\'s, else quarterly)')
    .option('--plan <file>', 'take the interval from this verification plan')
    .option('--prometheus <file>', 'write the status as Prometheus metrics (node_exporter textfile format), atomically')
    .action(async (o: { interval?: string; plan?: string; prometheus?: string }) => {
      let interval = parseInterval(o.interval ?? 'quarterly');
      if (o.plan && !o.interval) interval = parseVerificationPlan((await ctx.readFile(o.plan, 'the verification plan')).toString('utf8'), o.plan, ctx.io.cwd).interval;
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const now = ctx.now();
      const s = vaultStatus(doc, interval, now);
      if (o.prometheus) {
        checkReplace(ctx.abs(o.prometheus), 'output');
        writeFileAtomic(ctx.abs(o.prometheus), metricsOf(s), { mode: 0o644 });
      }
      if (ctx.globals(cmd).json) ctx.json(s);
      else {
        const last = s.lastVerification;
        ctx.out(`vault ${s.vault.vaultId.slice(0, 12)}, generation ${s.vault.generation}, key id ${s.vault.keyId}`);
        ctx.out(`verification (${s.interval}): ${last ? `last ${last.at} ${last.ok ? 'passed' : `FAILED (${last.failures} checks)`} by ${last.operator}` : 'never run'}; ${s.lastSuccess ? `last success ${s.lastSuccess.at}` : 'never passed'}; ${s.nextDue ? `next due ${s.nextDue}` : 'due now'}${s.overdue ? ` — OVERDUE${s.overdueSeconds ? ` by ${ago(s.overdueSeconds)}` : ''}` : ''}`);
        ctx.out(`drill: ${s.lastDrill ? `last ${s.lastDrill.at} ${s.lastDrill.ok ? 'passed' : 'FAILED'}, recovery in ${s.lastDrill.rtoSeconds} s` : 'never run'}`);
        ctx.out(s.escrow ? `escrow: set ${s.escrow.setId}, epoch ${s.escrow.epoch}, any ${s.escrow.threshold} of ${s.escrow.count} (${s.escrow.custodians.join(', ')})${s.escrow.keyMatchesVault ? '' : ' — the shares open an older key'}` : 'escrow: the vault key was never split');
        if (s.copies.length) ctx.out(table([['COPY', 'KIND', 'WHERE', 'AGE', 'LAST CHECK'], ...s.copies.map((c) => [c.id, c.kind, `${c.dest}/${c.file}`, ago(c.ageSeconds), c.lastStatus ?? 'never checked'])]));
        else ctx.out('copies: none registered (vault-tool copy --to DEST --key-to DEST2)');
        if (s.neverVerified.length) ctx.out(`never verified against production: ${s.neverVerified.join(', ')}`);
      }
      if (s.lastVerification && !s.lastVerification.ok) throw new VaultError('verify-failed', `the last verification failed (${s.lastVerification.at})`);
      if (s.overdue) throw new VaultError('overdue', s.lastSuccess ? `verification is overdue: the last success was ${s.lastSuccess.at}, due every ${s.interval}` : 'no verification has ever passed', { code: 'verify-overdue' });
    });
}
