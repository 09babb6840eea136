import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { exists } from '../../../fs/dirs.js';
import { listRepo, requireRepo } from '../../../backup/repo.js';
import { vaultForBackups } from '../../../backup/run.js';
import { archiveFindings, archiverLine, archiveStatus, backupStatus, type BackupStatus } from '../../../backup/status.js';
import { formatSeconds } from '../../../vault/duration.js';
import { table, type Context } from '../../context.js';
import { openRepo, repoOption, type RepoOptions } from './options.js';
import { archiverOption, archiversOf, rpoOf } from './report-options.js';

/** What a WAL archive's row adds below the table: its newest segment, its size, PostgreSQL's archiver. */
export function archiveLines(s: BackupStatus[]): string[] {
  return s.flatMap((b) => {
    const w = b.wal;
    if (!w) return [];
    const head = w.problem
      ? `${b.component}: ${w.problem.verdict === 'failed' ? 'FAILED' : 'not judged'}: ${w.problem.message}`
      : `${b.component}: ${w.newest ? `newest segment ${w.newest} archived ${w.archivedAt}${w.future ? " (IN THE FUTURE: the database host's clock is wrong)" : ''}` : 'nothing archived'}; ${w.segments} segment(s), ${w.bases} verified base backup(s)${w.trusted === false ? '; the newest segment is NOT signed by a trusted host' : ''}`;
    return [
      head,
      ...(w.archiver ? [`  pg_stat_archiver: ${archiverLine(w.archiver)}`] : []),
      ...(w.archiverError ? [`  pg_stat_archiver: not read: ${w.archiverError}`] : []),
    ];
  });
}

export default function backupStatusCommand(cmd: Command, ctx: Context): void {
  archiverOption(repoOption(cmd))
    .option('--rpo <duration>', 'the recovery point objective of every component (15m, 6h, 1d; s, m/min, h, d, w, mo, y)')
    .option('--rpo-file <file>', 'RPO per kind or component (YAML: rpo: { default: 24h, postgres: 6h, postgres/app: 15m, postgres-wal/main: 5m })')
    .action(async (o: RepoOptions & { rpo?: string; rpoFile?: string; archiver?: string[] }) => {
      const repo = openRepo(ctx, o);
      const archivers = archiversOf(o.archiver);
      const paths = ctx.paths(cmd);
      const doc = exists(paths.keyFile) && exists(paths.vaultFile) ? await vaultForBackups(paths, ctx.storeOptions(cmd)) : undefined;
      await requireRepo(repo);
      const rpo = await rpoOf(ctx, o);
      const listed = await listRepo(repo);
      const now = ctx.now();
      const s = [
        ...backupStatus(listed, doc, rpo, now),
        ...(await archiveStatus(repo, listed, doc, rpo, now, { env: ctx.io.env, ...(archivers ? { archivers } : {}) })),
      ];
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
        for (const l of archiveLines(s)) ctx.out(l);
      }
      const missed = s.filter((b) => b.rpoMissed);
      const lost = s.filter((b) => !b.keyHeld);
      const found = s.map(archiveFindings);
      const failed = [
        ...(lost.length ? [`the vault does not hold the key of the newest backup of ${lost.map((b) => b.component).join(', ')}: they cannot be opened`] : []),
        ...(missed.length ? [`RPO missed for ${missed.map((b) => `${b.component} (${b.rpo})`).join(', ')}`] : []),
        ...found.flatMap((f) => f.failed),
      ];
      if (failed.length) throw new VaultError('verify-failed', failed.join('; '));
      const undecided = found.flatMap((f) => f.inconclusive);
      if (undecided.length) throw new VaultError('inconclusive', `${undecided.join('; ')}; nothing failed, and this is not a pass`);
    });
}
