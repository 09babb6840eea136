import type { Command } from 'commander';
import { listRepo, requireRepo } from '../../../backup/repo.js';

import { basesOf, verifyArchive } from '../../../backup/wal/verify.js';
import { VaultError } from '../../../errors/errors.js';
import { shellWord } from '../../../errors/shell.js';
import { table, type Context } from '../../context.js';
import { clusterOf, clusterOption, identityOption, openRepo, readKeysOf, repoOption, type RepoOptions } from './wal-options.js';

export default function backupWalVerify(cmd: Command, ctx: Context): void {
  identityOption(clusterOption(repoOption(cmd)))
    .option('--read-data', 'also read every archived file in full: decrypt, size, SHA-256, and page headers of each segment')
    .action(async (o: RepoOptions & { cluster?: string; identity?: string; readData?: boolean }) => {
      const repo = openRepo(ctx, o);
      const cluster = clusterOf(ctx, o);
      await requireRepo(repo);
      const keys = await readKeysOf(ctx, cmd, o);
      const bases = basesOf(await listRepo(repo), cluster);
      const r = await verifyArchive(repo, cluster, bases, keys, { readData: Boolean(o.readData) });
      if (ctx.globals(cmd).json) ctx.json(r);
      else {
        ctx.out(
          table([
            ['RESULT', 'BASE BACKUP', 'TIMELINE', 'WAL', 'DETAIL'],
            ...r.bases.map((b) => [b.ok ? 'ok' : 'FAIL', b.base, b.chain ?? '-', b.from ? `${b.from} … ${b.through ?? '-'}` : '-', b.message]),
          ]),
        );
        for (const f of r.files) ctx.out(`${f.inconclusive ? 'UNCHECKED' : 'FAIL'}  ${f.name}: ${f.message}`);
        for (const n of r.completedUnread)
          ctx.out(`UNCHECKED  ${n}: completed by a later push from a file found without its manifest, and not read in full by this run`);
        for (const w of r.warnings) ctx.warn(w);
        ctx.info(
          `${cluster}: ${r.counted} archived file(s)${o.readData ? `, ${r.read} read in full` : ''}; ${r.bases.length} base backup(s)${r.trustedDescription ? '' : '; archive.json is not signed by a trusted host'}`,
        );
      }
      if (!r.bases.length) ctx.warn(`no base backup of ${cluster}: the archive alone restores nothing (backup postgres --base --cluster ${cluster})`);
      if (!r.ok) {
        const bad = [...r.bases.filter((b) => !b.ok).map((b) => b.base), ...r.files.filter((f) => !f.ok && !f.inconclusive).map((f) => f.name)];
        throw new VaultError(
          'verify-failed',
          `the WAL archive of ${cluster} failed verification${bad.length ? `: ${bad.slice(0, 5).join(', ')}` : ''}${r.trustedDescription ? '' : ' (archive.json is not signed by a trusted host)'}`,
        );
      }
      // A file that could not be read here, or one no full read has passed yet, is not judged: not a pass.
      const unchecked = [...r.files.filter((f) => f.inconclusive).map((f) => f.name), ...r.completedUnread];
      if (unchecked.length)
        throw new VaultError(
          'inconclusive',
          `${unchecked.length} file(s) of the WAL archive of ${cluster} could not be judged (${unchecked.slice(0, 5).join(', ')}${unchecked.length > 5 ? ', …' : ''}); nothing failed, and this is not a pass`,
          {
            hint: r.completedUnread.length
              ? `\`vault-tool backup wal-verify --cluster ${shellWord(cluster)} --read-data\` reads them in full`
              : 'run it again once the repository can be read in full from here',
          },
        );
    });
}
