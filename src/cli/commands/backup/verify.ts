import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { planVerify, verifyWithVault } from '../../../backup/audit.js';
import { loadSigningKey } from '../../../backup/keys.js';
import { table, type Context } from '../../context.js';
import { plural } from '../../options.js';
import { openRepo, repoOption, signingKeyPath, type RepoOptions } from './options.js';

export default function backupVerify(cmd: Command, ctx: Context): void {
  repoOption(cmd)
    .argument('[files...]')
    .option('--all', 'every backup in the repository')
    .option('--signing-key <file>', "this host's signing key, to record the verdict in each manifest")
    .option('--dry-run', 'say which backups would be read in full; read nothing and record nothing')
    .action(async (files: string[], o: RepoOptions & { all?: boolean; signingKey?: string; dryRun?: boolean }) => {
      if (!files.length && !o.all) throw new VaultError('usage', 'which backups? name them (COMPONENT/FILE), or use --all');
      const repo = openRepo(ctx, o);
      const plan = await planVerify(repo, { ...(o.all ? {} : { names: files }), readData: true });
      if (o.dryRun) {
        const names = plan.backups.map((b) => `${b.component}/${b.file}`);
        if (ctx.globals(cmd).json) return ctx.json({ dryRun: true, repo: plan.repo, read: names, stats: plan.stats });
        for (const n of names) ctx.out(`read in full: ${n}`);
        ctx.info(`dry run: ${plural(plan.stats.read, 'backup')} of ${plan.stats.components} component(s) would be read in full; nothing was read or recorded`);
        return;
      }
      const signing = loadSigningKey(signingKeyPath(ctx, o));
      const results = await verifyWithVault(repo, plan, { paths: ctx.paths(cmd), store: ctx.storeOptions(cmd) }, { env: ctx.io.env, signing, now: ctx.now() });
      const bad = results.filter((r) => r.verdict === 'failed');
      const undecided = results.filter((r) => r.verdict === 'inconclusive');
      if (ctx.globals(cmd).json) ctx.json(results.map(({ manifest: _m, ...r }) => r));
      else {
        const mark = { ok: 'ok', failed: 'FAIL', inconclusive: 'INCONCLUSIVE' } as const;
        ctx.out(table([['RESULT', 'BACKUP', 'DETAIL'], ...results.map((r) => [mark[r.verdict], `${r.component}/${r.file}`, r.message])]));
        ctx.info(
          `${results.length - bad.length - undecided.length} of ${plural(results.length, 'backup')} verified in full${bad.length ? `, ${bad.length} failed` : ''}${undecided.length ? `, ${undecided.length} could not be judged on this host (nothing recorded against them)` : ''}`,
        );
      }
      if (bad.length)
        throw new VaultError('verify-failed', `${plural(bad.length, 'backup')} failed verification: ${bad.map((r) => `${r.component}/${r.file}`).join(', ')}`);
      if (undecided.length)
        throw new VaultError(
          'inconclusive',
          `${plural(undecided.length, 'backup')} could not be judged on this host: ${undecided.map((r) => `${r.component}/${r.file}`).join(', ')}; none failed`,
          { code: 'backup-inconclusive' },
        );
    });
}
