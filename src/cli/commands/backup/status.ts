import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { exists } from '../../../fs/dirs.js';
import { listRepo, requireRepo } from '../../../backup/repo.js';
import { vaultForBackups } from '../../../backup/run.js';
import { archiveFindings, archiverLine, archiveStatus, backupFindings, backupStatus, type BackupStatus } from '../../../backup/status.js';
import { shellWord } from '../../../errors/shell.js';
import { formatSeconds } from '../../../vault/duration.js';
import { table, type Context } from '../../context.js';
import { openRepo, repoOption, type RepoOptions } from './options.js';
import { archiverOption, archiversOf, rpoOf } from './report-options.js';

/** The command that reads a backup in full and records its verdict (a pass makes it count again). */
const rejudge = (component: string, file: string) => `vault-tool backup verify ${shellWord(`${component}/${file}`)}`;
/** The command that reads a cluster's archived files in full (a completed file that passes loses its mark). */
const readArchive = (cluster: string) => `vault-tool backup wal-verify --cluster ${shellWord(cluster)} --read-data`;

/**
 * What a row adds below the table: a backup that does not count and the
 * command that judges it again; a WAL archive's newest segment, its size,
 * PostgreSQL's archiver, and the files no full read has passed yet.
 */
export function archiveLines(s: BackupStatus[]): string[] {
  return s.flatMap((b) => {
    const w = b.wal;
    const excluded = (b.excluded ?? []).map(
      (x) => `${b.component}/${x.file}: does NOT count: ${x.why}; \`${rejudge(b.component, x.file)}\` reads it in full (a pass makes it count)`,
    );
    if (!w) return excluded;
    const head = w.problem
      ? `${b.component}: ${w.problem.verdict === 'failed' ? 'FAILED' : 'not judged'}: ${w.problem.message}`
      : `${b.component}: ${w.newest ? `newest segment ${w.newest} archived ${w.archivedAt}${w.future ? " (IN THE FUTURE: the database host's clock is wrong)" : ''}` : 'nothing archived'}; ${w.segments} segment(s), ${w.bases} verified base backup(s)${w.trusted === false ? '; the newest segment is NOT signed by a trusted host' : ''}`;
    return [
      head,
      ...(w.archiver ? [`  pg_stat_archiver: ${archiverLine(w.archiver)}`] : []),
      ...(w.archiverError ? [`  pg_stat_archiver: not read: ${w.archiverError}`] : []),
      ...(w.completedUnread?.length
        ? [
            `  not yet read in full: ${w.completedUnread.join(', ')} (completed by a later push from a file found without its manifest): \`${readArchive(w.cluster)}\` judges them`,
          ]
        : []),
      ...excluded,
    ];
  });
}

/**
 * Every finding of a status (failed, then not judged), and the hint that
 * names the commands which judge them: what `backup status` and `status`
 * end with.
 */
export function statusFindings(s: BackupStatus[]): { failed: string[]; inconclusive: string[]; hint?: string } {
  const found = s.map((b) => {
    const a = archiveFindings(b);
    const k = backupFindings(b);
    return { failed: [...k.failed, ...a.failed], inconclusive: [...k.inconclusive, ...a.inconclusive] };
  });
  const commands = [
    ...s.flatMap((b) => (b.excluded ?? []).map((x) => rejudge(b.component, x.file))),
    ...s.filter((b) => b.wal?.completedUnread?.length).map((b) => readArchive(b.wal!.cluster)),
  ];
  return {
    failed: found.flatMap((f) => f.failed),
    inconclusive: found.flatMap((f) => f.inconclusive),
    ...(commands.length ? { hint: `${commands.map((c) => `\`${c}\``).join(', ')} judges what does not count yet` } : {}),
  };
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
      const found = statusFindings(s);
      const hint = found.hint ? { hint: found.hint } : undefined;
      const failed = [
        ...(lost.length ? [`the vault does not hold the key of the newest backup of ${lost.map((b) => b.component).join(', ')}: they cannot be opened`] : []),
        ...(missed.length ? [`RPO missed for ${missed.map((b) => `${b.component} (${b.rpo})`).join(', ')}`] : []),
        ...found.failed,
      ];
      if (failed.length) throw new VaultError('verify-failed', failed.join('; '), hint);
      if (found.inconclusive.length) throw new VaultError('inconclusive', `${found.inconclusive.join('; ')}; nothing failed, and this is not a pass`, hint);
    });
}
