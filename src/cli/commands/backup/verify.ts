import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { planVerify, verifyWithVault } from '../../../backup/audit.js';
import { loadSigningKey } from '../../../backup/keys.js';
import { table, type Context } from '../../context.js';
import { plural } from '../../options.js';
import { repoOption, signingKeyPath } from './options.js';
import { beforeOf, beforeOption, repoFor, sayChosen, type SelectFlags, trustedBy, vaultIfHere } from './selection.js';

export default function backupVerify(cmd: Command, ctx: Context): void {
  beforeOption(repoOption(cmd))
    .argument('[backups...]', 'COMPONENT/FILE; a component (postgres/app) or COMPONENT@latest for its newest verified backup; or the path of a backup file')
    .option('--all', 'every backup in the repository')
    .option('--signing-key <file>', "this host's signing key, to record the verdict in each manifest")
    .option('--dry-run', 'say which backups would be read in full; read nothing and record nothing')
    .action(async (specs: string[], o: SelectFlags & { all?: boolean; signingKey?: string; dryRun?: boolean }) => {
      if (!specs.length && !o.all)
        throw new VaultError('usage', 'which backups? name them (COMPONENT/FILE, or a component for its newest verified backup), or use --all');
      if (specs.length && o.all) throw new VaultError('usage', '--all reads every backup: name backups, or give --all, not both');
      const { repo, names } = repoFor(ctx, o, specs);
      const before = beforeOf(ctx, o);
      // The vault, when it is here, judges the signers: a backup no trusted host made is never the one a component names.
      const doc = names.length ? await vaultIfHere(ctx, cmd) : undefined;
      const plan = await planVerify(repo, {
        ...(o.all ? {} : { names }),
        select: { now: ctx.now(), ...(before ? { before } : {}), ...(doc ? { trusted: trustedBy(doc) } : {}) },
        readData: true,
      });
      const json = ctx.globals(cmd).json;
      sayChosen(ctx, plan.chosen);
      const chosen = plan.chosen.map((c) => ({ backup: `${c.backup.component}/${c.backup.file}`, why: c.why }));
      if (o.dryRun) {
        const read = plan.backups.map((b) => `${b.component}/${b.file}`);
        if (json) return ctx.json({ dryRun: true, repo: plan.repo, read, ...(chosen.length ? { chosen } : {}), stats: plan.stats });
        for (const n of read) ctx.out(`read in full: ${n}`);
        ctx.info(`dry run: ${plural(plan.stats.read, 'backup')} of ${plan.stats.components} component(s) would be read in full; nothing was read or recorded`);
        return;
      }
      const signing = loadSigningKey(signingKeyPath(ctx, o));
      const progress = ctx.progress(cmd);
      const results = await verifyWithVault(
        repo,
        plan,
        { paths: ctx.paths(cmd), store: ctx.storeOptions(cmd) },
        { env: ctx.io.env, signing, now: ctx.now(), ...(progress.mode === 'off' ? {} : { onProgress: progress.callback('verify') }) },
      );
      // A backup that failed ended its item as failed already.
      progress.end(true);
      const bad = results.filter((r) => r.verdict === 'failed');
      const undecided = results.filter((r) => r.verdict === 'inconclusive');
      if (json) ctx.json(results.map(({ manifest: _m, ...r }) => r));
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
