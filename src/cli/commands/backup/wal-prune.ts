import type { Command } from 'commander';
import { listRepo, requireRepo } from '../../../backup/repo.js';

import { executeWalPrune, planWalPrune } from '../../../backup/wal/prune.js';
import { basesOf } from '../../../backup/wal/verify.js';
import { exists } from '../../../fs/dirs.js';
import type { Context } from '../../context.js';
import { clusterOf, clusterOption, openRepo, repoOption, type RepoOptions } from './wal-options.js';

export default function backupWalPrune(cmd: Command, ctx: Context): void {
  clusterOption(repoOption(cmd))
    .option('--confirm', 'remove them (without it, only say what would go)')
    .action(async (o: RepoOptions & { cluster?: string; confirm?: boolean }) => {
      const repo = openRepo(ctx, o);
      const cluster = clusterOf(ctx, o);
      await requireRepo(repo);
      const now = ctx.now();
      const plan = await planWalPrune(repo, cluster, basesOf(await listRepo(repo), cluster), now);
      let removed = 0;
      if (o.confirm && (plan.remove.length || plan.temp.length)) {
        const paths = ctx.paths(cmd);
        const vault = exists(paths.keyFile) && exists(paths.vaultFile) ? { paths, store: ctx.storeOptions(cmd) } : undefined;
        removed = await executeWalPrune(repo, plan, now, vault);
      }
      if (ctx.globals(cmd).json) return ctx.json({ dryRun: !o.confirm, ...plan });
      if (plan.refused) ctx.warn(plan.refused);
      else
        ctx.out(
          plan.remove.length
            ? `${o.confirm ? 'removed' : 'would remove'} ${plan.remove.length} WAL file(s), ${plan.remove[0]} … ${plan.remove[plan.remove.length - 1]}: before ${plan.keepFrom}, where the oldest base backup (${plan.oldestBase}) starts`
            : `nothing to remove: every WAL file is needed by ${plan.oldestBase} or a newer base backup`,
        );
      if (plan.temp.length) ctx.out(`${o.confirm ? 'removed' : 'would remove'} ${plan.temp.length} temp file(s) of pushes stopped a day or more ago`);
      ctx.info(
        o.confirm ? `removed ${removed}, kept ${plan.keep}` : `dry run: ${plan.remove.length} would go, ${plan.keep} stay; add --confirm to remove them`,
      );
    });
}
