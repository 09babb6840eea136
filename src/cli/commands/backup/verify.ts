import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { loadSigningKey, trustSigner } from '../../../backup/keys.js';
import { requireRepo } from '../../../backup/status.js';
import { listRepo, type Listed } from '../../../backup/repo.js';
import { mayRecordVerdict, noteKeysInUse, recordVerdict, vaultForBackups, verifyBackup } from '../../../backup/run.js';
import { table, type Context } from '../../context.js';
import { plural } from '../../options.js';
import { openRepo, repoOption, signingKeyPath, type RepoOptions } from './options.js';

/** Backups named as COMPONENT/FILE (or FILE alone, when one component has it). */
export function pick(all: Listed[], names: string[]): Listed[] {
  return names.map((n) => {
    const hits = all.filter((b) => `${b.component}/${b.file}` === n || b.file === n);
    if (hits.length !== 1)
      throw new VaultError(
        hits.length ? 'usage' : 'not-found',
        hits.length ? `${n} names ${hits.length} backups: give COMPONENT/FILE` : `no backup ${n} in the repository`,
        { code: 'backup-missing' },
      );
    return hits[0]!;
  });
}

export default function backupVerify(cmd: Command, ctx: Context): void {
  repoOption(cmd)
    .argument('[files...]')
    .option('--all', 'every backup in the repository')
    .option('--signing-key <file>', "this host's signing key, to record the verdict in each manifest")
    .action(async (files: string[], o: RepoOptions & { all?: boolean; signingKey?: string }) => {
      if (!files.length && !o.all) throw new VaultError('usage', 'which backups? name them (COMPONENT/FILE), or use --all');
      const repo = openRepo(ctx, o);
      const paths = ctx.paths(cmd);
      const store = ctx.storeOptions(cmd);
      await requireRepo(repo);
      const all = await listRepo(repo);
      const chosen = o.all ? all : pick(all, files);
      const signing = loadSigningKey(signingKeyPath(ctx, o));
      await trustSigner(paths, store, signing.publicKey, 'verifying host', ctx.now());
      const doc = await vaultForBackups(paths, store);
      const results = [];
      for (const b of chosen) {
        const r = await verifyBackup(repo, b, doc, { readData: true, env: ctx.io.env, now: ctx.now() });
        if (mayRecordVerdict(r, signing, doc)) await recordVerdict(repo, r.manifest!, r, signing, ctx.now());
        results.push(r);
      }
      await noteKeysInUse(paths, store, repo, results, ctx.now());
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
