import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { VaultError } from '../../errors/errors.js';
import { externalTimeoutMs } from '../../tool/bound.js';
import { checkSignature, type BackupManifest } from '../manifest.js';
import type { TrustedSigner } from '../keys.js';
import type { Listed, Repo } from '../repo.js';
import { readArchiveInfo } from './archive.js';
import { committed, readCatalog, readManifests } from './catalog.js';

const run = promisify(execFile);

/**
 * The RPO of a cluster's archive: the age of its newest archived segment
 * (with archive_timeout = 60 s, a busy or idle server loses at most about a
 * minute). With a connection, PostgreSQL's own view too: pg_stat_archiver's
 * counts, last archived and last failed file.
 */
export interface WalStatus {
  cluster: string;
  segments: number;
  newest?: string;
  archivedAt?: string;
  ageSeconds?: number;
  rpoSeconds?: number;
  rpoMissed: boolean;
  /** Whether the newest segment's manifest is signed by a trusted host (unknown without the vault or an identity file). */
  trusted?: boolean;
  bases: number;
  newestBase?: string;
  archiver?: Record<string, string>;
}

export async function walStatus(repo: Repo, cluster: string, bases: Listed[], o: { now: Date; rpoMs?: number; signers?: TrustedSigner[] }): Promise<WalStatus> {
  const info = await readArchiveInfo(repo, cluster);
  const good = bases
    .filter((b) => b.manifest && !b.problem && b.manifest.verification?.ok)
    .sort((a, b) => b.manifest!.finishedAt.localeCompare(a.manifest!.finishedAt));
  const common = {
    cluster,
    bases: good.length,
    ...(good[0] ? { newestBase: `${good[0].component}/${good[0].file}` } : {}),
    ...(o.rpoMs !== undefined ? { rpoSeconds: o.rpoMs / 1000 } : {}),
  };
  if (!info) return { ...common, segments: 0, rpoMissed: o.rpoMs !== undefined };
  const cat = await readCatalog(repo, cluster, info.segmentSize);
  const segs = [...cat.entries.values()].filter((e) => committed(e) && (e.wal.kind === 'segment' || e.wal.kind === 'partial'));
  // The newest by position in the log (then timeline): a few candidates, their manifests say when they were archived.
  const order = (x: (typeof segs)[number]) => (x.wal.kind === 'segment' || x.wal.kind === 'partial' ? x.wal.segno * 1000n + BigInt(x.wal.timeline) : 0n);
  const top = segs.sort((a, b) => (order(b) > order(a) ? 1 : order(b) < order(a) ? -1 : 0)).slice(0, 8);
  const ms = [
    ...(
      await readManifests(
        repo,
        cluster,
        top.map((e) => e.wal.name),
      )
    ).values(),
  ].filter((m): m is BackupManifest => !(m instanceof Error));
  const newest = ms.sort((a, b) => b.finishedAt.localeCompare(a.finishedAt))[0];
  if (!newest) return { ...common, segments: segs.length, rpoMissed: o.rpoMs !== undefined };
  const ageSeconds = Math.max(0, Math.floor((o.now.getTime() - Date.parse(newest.finishedAt)) / 1000));
  return {
    ...common,
    segments: segs.length,
    newest: newest.source.wal!,
    archivedAt: newest.finishedAt,
    ageSeconds,
    rpoMissed: o.rpoMs !== undefined && ageSeconds * 1000 > o.rpoMs,
    ...(o.signers ? { trusted: checkSignature(newest, o.signers).ok } : {}),
  };
}

/** pg_stat_archiver of the server libpq's environment names. */
export async function archiverStats(env: Record<string, string | undefined>): Promise<Record<string, string>> {
  const cols = ['archived_count', 'last_archived_wal', 'last_archived_time', 'failed_count', 'last_failed_wal', 'last_failed_time'];
  try {
    const { stdout } = await run('psql', ['-X', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', `select ${cols.join(', ')} from pg_stat_archiver`], {
      env: env as NodeJS.ProcessEnv,
      timeout: externalTimeoutMs(env),
      killSignal: 'SIGKILL',
    });
    const vals = stdout.replace(/\n$/, '').split('\t');
    return Object.fromEntries(cols.map((c, i) => [c, vals[i] ?? '']));
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new VaultError('not-found', 'psql is not installed', { code: 'tool-missing', data: { tool: 'psql' } });
    throw new VaultError('io', `cannot read pg_stat_archiver: ${(err.stderr ?? err.message).trim().split('\n').slice(-1)[0]}`);
  }
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * The archives' status as Prometheus metrics (node_exporter textfile
 * format, `vault_tool_wal_…`, base units, a sample for every cluster even
 * when zero). The RPO alert: `vault_tool_wal_archive_age_seconds > 900`.
 */
export function walMetrics(statuses: WalStatus[]): string {
  const rows: [string, string, (s: WalStatus) => number][] = [
    [
      'vault_tool_wal_archive_age_seconds',
      'Seconds since the newest segment of the archive was archived: its RPO now (-1: none archived).',
      (s) => s.ageSeconds ?? -1,
    ],
    [
      'vault_tool_wal_last_archived_timestamp_seconds',
      'Unix time the newest segment was archived (0: none).',
      (s) => (s.archivedAt ? Math.floor(Date.parse(s.archivedAt) / 1000) : 0),
    ],
    ['vault_tool_wal_rpo_missed', 'Whether the newest segment is older than the RPO target (1).', (s) => (s.rpoMissed ? 1 : 0)],
    ['vault_tool_wal_segments', 'Segments the archive holds.', (s) => s.segments],
    ['vault_tool_wal_base_backups', 'Verified base backups of the cluster.', (s) => s.bases],
    ['vault_tool_wal_archiver_failures', "pg_stat_archiver's failed_count (0 without a connection).", (s) => Number(s.archiver?.failed_count ?? 0)],
    [
      'vault_tool_wal_archiver_failing',
      'Whether archive_command failed after its last success (1), from pg_stat_archiver.',
      (s) => (s.archiver?.last_failed_time && (!s.archiver.last_archived_time || s.archiver.last_failed_time > s.archiver.last_archived_time) ? 1 : 0),
    ],
  ];
  const out: string[] = [];
  for (const [name, help, value] of rows) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const s of statuses) out.push(`${name}{cluster="${esc(s.cluster)}"} ${value(s)}`);
  }
  return `${out.join('\n')}\n`;
}
