import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { exists } from '../../../fs/dirs.js';
import { listRepo, requireRepo } from '../../../backup/repo.js';
import { vaultForBackups } from '../../../backup/run.js';
import { backupStatus } from '../../../backup/status.js';
import { formatSeconds } from '../../../vault/duration.js';
import { table, type Context } from '../../context.js';
import { openRepo, repoOption, rpoOf, type RepoOptions } from './options.js';

export default function backupStatusCommand(cmd: Command, ctx: Context): void {
  repoOption(cmd)
    .option('--rpo <duration>', 'the recovery point objective of every component (15m, 6h, 1d; s, m/min, h, d, w, mo, y)')
    .option('--rpo-file <file>', 'RPO per kind or component (YAML: rpo: { default: 24h, postgres: 6h, postgres/app: 15m })')
    .action(async (o: RepoOptions & { rpo?: string; rpoFile?: string }) => {
      const repo = openRepo(ctx, o);
      const paths = ctx.paths(cmd);
      const doc = exists(paths.keyFile) && exists(paths.vaultFile) ? await vaultForBackups(paths, ctx.storeOptions(cmd)) : undefined;
      await requireRepo(repo);
      const rpo = await rpoOf(ctx, o);
      const s = backupStatus(await listRepo(repo), doc, rpo, ctx.now());
      if (ctx.globals(cmd).json) ctx.json(s);
      else {
        ctx.out(
          table([
            ['COMPONENT', 'NEWEST VERIFIED', 'AGE', 'RPO', 'KEY', 'KEY HELD'],
            ...s.map((b) => [
              b.component,
              b.lastVerifiedAt ?? 'none',
              b.ageSeconds !== undefined ? formatSeconds(b.ageSeconds) : '-',
              b.rpo !== undefined ? `${b.rpo}${b.rpoMissed ? ' MISSED' : ''}` : '-',
              b.keyId ?? '-',
              doc ? (b.keyHeld ? 'yes' : 'NO') : 'unknown (no vault here)',
            ]),
          ]),
        );
      }
      const missed = s.filter((b) => b.rpoMissed);
      const lost = s.filter((b) => !b.keyHeld);
      if (lost.length)
        throw new VaultError(
          'verify-failed',
          `the vault does not hold the key of the newest backup of ${lost.map((b) => b.component).join(', ')}: they cannot be opened`,
        );
      if (missed.length) throw new VaultError('verify-failed', `RPO missed for ${missed.map((b) => `${b.component} (${b.rpo})`).join(', ')}`);
    });
}
