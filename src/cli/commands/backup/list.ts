import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { listRepo, requireRepo, type Listed } from '../../../backup/repo.js';
import { isComponentSpec, newestVerified, notVerified, selectBackup, storedName } from '../../../backup/select.js';
import { table, type Context } from '../../context.js';
import { repoOption } from './options.js';
import { beforeOf, beforeOption, repoFor, sayChosen, type SelectFlags } from './selection.js';

/**
 * `backup list [SELECTION…] [--before TIME]`: every backup, or those the
 * arguments name: a component lists all of its backups, `COMPONENT@latest`
 * the one restore and verify take for it (its newest verified), a file or
 * path that backup; `--before` keeps those finished before a time. The
 * newest verified backup of each component is marked `latest`. Manifests
 * are read as they are: whether the vault trusts their signers is for
 * restore and verify, which open it, to judge.
 */
export default function backupList(cmd: Command, ctx: Context): void {
  beforeOption(repoOption(cmd))
    .argument('[backups...]', 'components (all their backups), COMPONENT@latest (its newest verified), COMPONENT/FILE or the path of a backup file')
    .action(async (specs: string[], o: SelectFlags) => {
      const { repo, names: given } = repoFor(ctx, o, specs);
      await requireRepo(repo);
      const all = await listRepo(repo);
      // A database's component by its exact name (postgres/my db) lists as the component it is stored under.
      const names = given.map((n) => storedName(all, n));
      const now = ctx.now();
      const before = beforeOf(ctx, o);
      const finished = (b: Listed) => !before || (b.manifest !== undefined && Date.parse(b.manifest.finishedAt) <= before.getTime());
      // The newest verified backup of each component (before --before): what a component alone names.
      const latest = new Set<Listed>();
      for (const c of new Set(all.map((b) => b.component))) {
        const pick = all.filter((b) => b.component === c && finished(b) && !notVerified(b, { now }));
        if (pick.length) latest.add(newestVerified(pick, c, { now }).backup);
      }
      let shown = all.filter(finished);
      if (names.length) {
        const chosen = new Set<Listed>();
        const sel = { now, ...(before ? { before } : {}) };
        const picks = names.filter((n) => !isComponentSpec(n)).map((n) => selectBackup(all, n, sel));
        sayChosen(ctx, picks);
        for (const p of picks) chosen.add(p.backup);
        const components = new Set(names.filter(isComponentSpec));
        for (const c of components)
          if (!all.some((b) => b.component === c)) throw new VaultError('not-found', `no backup of ${c} in the repository`, { code: 'backup-missing' });
        shown = all.filter((b) => chosen.has(b) || (components.has(b.component) && finished(b)));
      }
      if (ctx.globals(cmd).json)
        return ctx.json(
          shown.map((b) => ({
            component: b.component,
            file: b.file,
            ...(b.manifest
              ? {
                  at: b.manifest.finishedAt,
                  bytes: b.manifest.plaintext.size,
                  keyId: b.manifest.keyId,
                  verification: b.manifest.verification,
                  signer: b.manifest.signer.id,
                  ...(b.manifest.set ? { set: b.manifest.set.id } : {}),
                }
              : {}),
            ...(latest.has(b) ? { latest: true } : {}),
            ...(b.problem ? { problem: b.problem } : {}),
          })),
        );
      ctx.out(
        table([
          ['COMPONENT', 'FILE', 'DATE', 'SIZE', 'KEY', 'CHECKED'],
          ...shown.map((b) => [
            b.component,
            b.file,
            b.manifest?.finishedAt ?? '-',
            b.manifest ? `${(b.manifest.plaintext.size / 2 ** 20).toFixed(1)} MiB` : '-',
            b.manifest?.keyId ?? '-',
            b.problem ? `PROBLEM: ${b.problem}` : b.manifest?.verification?.ok ? (latest.has(b) ? 'ok, latest' : 'ok') : 'FAILED',
          ]),
        ]),
      );
    });
}
