import { Option, type Command } from 'commander';
import { loadSigningKey } from '../../../backup/keys.js';
import { executePrune, planPrune } from '../../../backup/prune.js';
import { parseKeepWithin, type KeepPolicy } from '../../../backup/retention.js';
import { vaultForBackups } from '../../../backup/run.js';
import { exists } from '../../../fs/dirs.js';
import { shellWord } from '../../../errors/shell.js';
import { table, type Context } from '../../context.js';
import { wholeNumber } from '../../options.js';
import { openRepo, repoOption, signingKeyPath, type RepoOptions } from './options.js';

interface PruneOptions extends RepoOptions {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: string;
  confirm?: boolean;
  signingKey?: string;
}

export default function backupPrune(cmd: Command, ctx: Context): void {
  const n = (flag: string, what: string) => new Option(`${flag} <n>`, what).argParser(wholeNumber(1, 100_000));
  repoOption(cmd)
    .addOption(n('--keep-last', 'keep the N newest verified backups of each component'))
    .addOption(n('--keep-hourly', 'keep the newest of each of the last N hours that have one'))
    .addOption(n('--keep-daily', 'keep the newest of each of the last N days'))
    .addOption(n('--keep-weekly', 'keep the newest of each of the last N weeks'))
    .addOption(n('--keep-monthly', 'keep the newest of each of the last N months'))
    .addOption(n('--keep-yearly', 'keep the newest of each of the last N years'))
    .option(
      '--keep-within <duration>',
      'keep every backup newer than this (30d, 12h, 6mo, 1y; minutes as 30min: a bare m is refused, restic reads it as months)',
    )
    .option('--signing-key <file>', "this host's signing key: failed verdicts it recorded itself may remove a component's last backup")
    .option('--confirm', 'remove them (without it, only say what would go)')
    .action(async (o: PruneOptions) => {
      const policy: KeepPolicy = {
        last: o.keepLast,
        hourly: o.keepHourly,
        daily: o.keepDaily,
        weekly: o.keepWeekly,
        monthly: o.keepMonthly,
        yearly: o.keepYearly,
        ...(o.keepWithin ? { within: parseKeepWithin(o.keepWithin) } : {}),
      };
      // This host's identity (its signing key, if it has one): a failed verdict another host recorded never removes a component's last backup.
      const keyFile = signingKeyPath(ctx, o);
      const host = exists(keyFile) ? loadSigningKey(keyFile, false).id : undefined;
      const repo = openRepo(ctx, o);
      const paths = ctx.paths(cmd);
      const store = ctx.storeOptions(cmd);
      const doc = await vaultForBackups(paths, store);
      const now = ctx.now();
      const plan = await planPrune(repo, doc, policy, { now, ...(host ? { host } : {}) });
      if (o.confirm) await executePrune(repo, plan, { paths, store }, now);
      const { decisions, going } = plan;
      if (ctx.globals(cmd).json) return ctx.json({ dryRun: !o.confirm, decisions });
      ctx.out(
        table([
          ['ACTION', 'BACKUP', 'DATE', 'WHY'],
          ...decisions.map((d) => [d.keep ? 'keep' : o.confirm ? 'removed' : 'remove', `${d.component}/${d.file}`, d.at ?? '-', d.reasons.join('; ')]),
        ]),
      );
      // A backup that goes on a recorded failed full read may have had its file put back whole since: the verdict stands until a
      // full read passes it, so say which command that is before --confirm removes it.
      if (!o.confirm)
        for (const d of going.filter((x) => x.failedVerification))
          ctx.warn(
            `${d.component}/${d.file} goes on its recorded failed full read; if its file has been put back whole since, \`vault-tool backup verify ${shellWord(`${d.component}/${d.file}`)}\` first: a pass keeps it`,
          );
      ctx.info(
        o.confirm
          ? `removed ${going.length}, kept ${decisions.length - going.length}`
          : `dry run: ${going.length} would go, ${decisions.length - going.length} stay; add --confirm to remove them`,
      );
    });
}
