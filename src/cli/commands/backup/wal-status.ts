import type { Command } from 'commander';
import { listRepo, requireRepo } from '../../../backup/repo.js';

import { archiverStats, walMetrics, walStatus } from '../../../backup/wal/status.js';
import { basesOf } from '../../../backup/wal/verify.js';
import { VaultError } from '../../../errors/errors.js';
import { exists } from '../../../fs/dirs.js';
import { durationSeconds, formatSeconds, parseDuration } from '../../../vault/duration.js';
import { table, type Context } from '../../context.js';
import { clusterOf, clusterOption, identityOption, openRepo, readKeysOf, repoOption, type RepoOptions } from './wal-options.js';

export default function backupWalStatus(cmd: Command, ctx: Context): void {
  identityOption(clusterOption(repoOption(cmd)))
    .option('--rpo <duration>', 'the recovery point objective: the newest archived segment must be younger (15m)')
    .option('--archiver', "also read pg_stat_archiver from the server (libpq's environment: PGHOST, PGPORT, PGUSER…)")
    .option('--prometheus <file>', 'write the status as Prometheus metrics (node_exporter textfile format), atomically')
    .action(async (o: RepoOptions & { cluster?: string; identity?: string; rpo?: string; archiver?: boolean; prometheus?: string }) => {
      if (o.prometheus) ctx.checkOut(o.prometheus, 'metrics', false);
      const repo = openRepo(ctx, o);
      const cluster = clusterOf(ctx, o);
      await requireRepo(repo);
      const rpoMs = o.rpo ? durationSeconds(parseDuration(o.rpo, { what: '--rpo' })) * 1000 : undefined;
      const paths = ctx.paths(cmd);
      const canTrust = Boolean(o.identity ?? ctx.io.env.VAULT_TOOL_BACKUP_IDENTITY) || (exists(paths.keyFile) && exists(paths.vaultFile));
      const signers = canTrust ? (await readKeysOf(ctx, cmd, o)).signers : undefined;
      const s = await walStatus(repo, cluster, basesOf(await listRepo(repo), cluster), {
        now: ctx.now(),
        ...(rpoMs !== undefined ? { rpoMs } : {}),
        ...(signers ? { signers } : {}),
      });
      if (o.archiver) s.archiver = await archiverStats(ctx.io.env);
      if (o.prometheus) ctx.writeOut(o.prometheus, walMetrics([s], ctx.now()), 'metrics', false);
      const failing = s.archiver?.last_failed_time && (!s.archiver.last_archived_time || s.archiver.last_failed_time > s.archiver.last_archived_time);
      if (ctx.globals(cmd).json) ctx.json(s);
      else {
        ctx.out(
          table([
            ['CLUSTER', 'NEWEST SEGMENT', 'ARCHIVED', 'AGE', 'RPO', 'SEGMENTS', 'BASE BACKUPS'],
            [
              cluster,
              s.newest ?? 'none',
              s.archivedAt ?? '-',
              s.ageSeconds !== undefined ? formatSeconds(s.ageSeconds) : s.future ? 'in the future' : '-',
              s.rpoSeconds !== undefined ? `${formatSeconds(s.rpoSeconds)}${s.rpoMissed ? ' MISSED' : ''}` : '-',
              String(s.segments),
              String(s.bases),
            ],
          ]),
        );
        if (s.archiver)
          ctx.out(
            `pg_stat_archiver: ${s.archiver.archived_count} archived (last ${s.archiver.last_archived_wal || '-'} at ${s.archiver.last_archived_time || '-'}), ${s.archiver.failed_count} failed (last ${s.archiver.last_failed_wal || '-'} at ${s.archiver.last_failed_time || '-'})`,
          );
        for (const n of s.completedUnread ?? [])
          ctx.warn(
            `${n}: completed by a later push from a file found without its manifest, and no full read has passed it yet: \`backup wal-verify --read-data\` reads it (a restore would refuse it if it is not the file pushed)`,
          );
      }
      if (s.trusted === false) throw new VaultError('verify-failed', `the newest segment of ${cluster} (${s.newest}) is not signed by a host the vault trusts`);
      const refused = (s.unusable ?? []).filter((u) => u.verdict === 'failed');
      if (refused.length)
        throw new VaultError(
          'verify-failed',
          `${refused.map((u) => `${u.name}: ${u.message}`).join('; ')}: among the newest segments of ${cluster}, a restore would refuse ${refused.length === 1 ? 'it' : 'them'}`,
        );
      if (failing)
        throw new VaultError(
          'verify-failed',
          `archive_command is failing: ${s.archiver!.last_failed_wal} failed at ${s.archiver!.last_failed_time}, after the last success`,
        );
      if (s.future)
        throw new VaultError(
          'verify-failed',
          `the newest segment of ${cluster} (${s.newest}) says it was archived at ${s.archivedAt}, in the future: the clock of the database host is wrong; the archive's age does not count until that is explained`,
        );
      if (s.rpoMissed)
        throw new VaultError(
          'verify-failed',
          s.newest
            ? `RPO missed for ${cluster}: the newest archived segment is ${formatSeconds(s.ageSeconds!)} old`
            : `RPO missed for ${cluster}: nothing is archived`,
        );
    });
}
