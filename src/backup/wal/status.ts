import { execFile } from 'node:child_process';
import { inTheFuture } from '../../vault/time.js';
import { promisify } from 'node:util';
import { VaultError } from '../../errors/errors.js';
import { externalTimeoutMs } from '../../tool/bound.js';
import { toolMessage } from '../../tool/run.js';
import { checkSignature } from '../manifest.js';
import type { TrustedSigner } from '../keys.js';
import type { Listed, Repo } from '../repo.js';
import { readArchiveInfo } from './archive.js';
import { committed, readCatalog, readManifests, walManifestRefusal } from './catalog.js';
import { pgClient } from '../../tool/pg-client.js';

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
  /**
   * The backup key the newest segment is encrypted to: of those the status reads (the newest few), the newest whose
   * manifest names one (a completed file's names none; its reads try every key, and a verification always reads it).
   */
  keyId?: string;
  /** Whether the newest segment's manifest is signed by a trusted host (unknown without the vault or an identity file). */
  trusted?: boolean;
  /** Verified base backups of the cluster (with the signers: signed by one of them). */
  bases: number;
  newestBase?: string;
  /**
   * Files a later push completed from a file found without its manifest (their manifests vouch only for a stanza anyone who
   * writes the repository can forge) that no full read has passed yet: named until one does (`wal-verify --read-data`, or a
   * verification's sample, which always reads them). From the listing (their marks), in log order.
   */
  completedUnread?: string[];
  /**
   * Of the newest segments the status reads (up to 8, by position in the log), those a restore would refuse on their
   * manifest: it cannot be read (failed; inconclusive when the read itself failed), or with the signers, no trusted host
   * signed it (the newest one aside: `trusted` says that).
   */
  unusable?: { name: string; message: string; verdict: 'failed' | 'inconclusive' }[];
  archiver?: Record<string, string>;
  /**
   * The newest segment says it was archived more than an hour after this
   * host's now: the database host's clock is wrong, and the segment does
   * not count (no age, the RPO missed where one applies), as a backup
   * dated in the future does not.
   */
  future?: boolean;
}

export async function walStatus(repo: Repo, cluster: string, bases: Listed[], o: { now: Date; rpoMs?: number; signers?: TrustedSigner[] }): Promise<WalStatus> {
  const info = await readArchiveInfo(repo, cluster);
  // With the signers, a base backup counts only when one of them signed it (as everywhere a backup counts): a planted manifest
  // must not raise the count, nor name the newest base.
  const good = bases
    .filter((b) => b.manifest && !b.problem && b.manifest.verification?.ok && (!o.signers || checkSignature(b.manifest, o.signers).ok))
    .sort((a, b) => b.manifest!.finishedAt.localeCompare(a.manifest!.finishedAt));
  const common = {
    cluster,
    bases: good.length,
    ...(good[0] ? { newestBase: `${good[0].component}/${good[0].file}` } : {}),
    ...(o.rpoMs !== undefined ? { rpoSeconds: o.rpoMs / 1000 } : {}),
  };
  if (!info) return { ...common, segments: 0, rpoMissed: o.rpoMs !== undefined };
  const cat = await readCatalog(repo, cluster, info.segmentSize);
  const unread = [...cat.completedMarks].filter((n) => committed(cat.entries.get(n))).sort();
  const listed = { ...common, ...(unread.length ? { completedUnread: unread } : {}) };
  const segs = [...cat.entries.values()].filter((e) => committed(e) && (e.wal.kind === 'segment' || e.wal.kind === 'partial'));
  // The newest by position in the log (then timeline): a few candidates, their manifests say when they were archived.
  const order = (x: (typeof segs)[number]) => (x.wal.kind === 'segment' || x.wal.kind === 'partial' ? x.wal.segno * 1000n + BigInt(x.wal.timeline) : 0n);
  const top = segs.sort((a, b) => (order(b) > order(a) ? 1 : order(b) < order(a) ? -1 : 0)).slice(0, 8);
  const read = await readManifests(
    repo,
    cluster,
    top.map((e) => e.wal.name),
  );
  // A manifest that describes another file (moved under this name) is no more this segment's than one that does not parse
  // (readManifests refuses both by name). Without the signers, the signature is not judged here.
  const ms = [...read].flatMap(([, m]) => (m instanceof Error ? [] : [m]));
  const newest = ms.sort((a, b) => b.finishedAt.localeCompare(a.finishedAt))[0];
  const unusable: NonNullable<WalStatus['unusable']> = [];
  for (const [name, m] of read) {
    // The newest segment's signature is reported on its own (`trusted`).
    if (m === newest) continue;
    const r = m instanceof Error || o.signers ? walManifestRefusal(m, o.signers ?? [], { name, cluster }) : null;
    if (r) unusable.push({ name, message: r.message, verdict: r.why === 'unread' ? 'inconclusive' : 'failed' });
  }
  if (unusable.length) Object.assign(listed, { unusable: unusable.sort((a, b) => a.name.localeCompare(b.name)) });
  if (!newest) return { ...listed, segments: segs.length, rpoMissed: o.rpoMs !== undefined };
  if (inTheFuture(newest.finishedAt, o.now))
    return {
      ...listed,
      segments: segs.length,
      newest: newest.source.wal!,
      archivedAt: newest.finishedAt,
      future: true,
      rpoMissed: o.rpoMs !== undefined,
      ...(o.signers ? { trusted: checkSignature(newest, o.signers).ok } : {}),
    };
  const keyed = ms.find((m) => m.keyId);
  const ageSeconds = Math.max(0, Math.floor((o.now.getTime() - Date.parse(newest.finishedAt)) / 1000));
  return {
    ...listed,
    segments: segs.length,
    newest: newest.source.wal!,
    archivedAt: newest.finishedAt,
    ...(keyed ? { keyId: keyed.keyId } : {}),
    ageSeconds,
    rpoMissed: o.rpoMs !== undefined && ageSeconds * 1000 > o.rpoMs,
    ...(o.signers ? { trusted: checkSignature(newest, o.signers).ok } : {}),
  };
}

/**
 * pg_stat_archiver of a server: the one libpq's environment names, or the
 * connection string `dbname` (checked by the caller: never one holding a
 * password).
 */
export async function archiverStats(env: Record<string, string | undefined>, dbname?: string): Promise<Record<string, string>> {
  const cols = ['archived_count', 'last_archived_wal', 'last_archived_time', 'failed_count', 'last_failed_wal', 'last_failed_time'];
  const psql = pgClient('psql', env);
  try {
    const { stdout } = await run(
      psql,
      ['-X', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', `select ${cols.join(', ')} from pg_stat_archiver`, ...(dbname ? ['--dbname', dbname] : [])],
      {
        env: env as NodeJS.ProcessEnv,
        timeout: externalTimeoutMs(env),
        killSignal: 'SIGKILL',
      },
    );
    const vals = stdout.replace(/\n$/, '').split('\t');
    return Object.fromEntries(cols.map((c, i) => [c, vals[i] ?? '']));
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new VaultError('not-found', 'psql is not installed', { code: 'tool-missing', data: { tool: 'psql' } });
    throw new VaultError('io', `cannot read pg_stat_archiver: ${toolMessage(err.stderr || err.message)}`);
  }
}

/** Whether archive_command failed after its last success, by pg_stat_archiver. */
export const archiverFailing = (a: Record<string, string> | undefined): boolean =>
  Boolean(a?.last_failed_time && (!a.last_archived_time || a.last_failed_time > a.last_archived_time));

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * The archive's metrics, one sample per cluster: name, help, what a value
 * of 1 signals (a failure: each has an alert rule in docs/alerts.yaml), and
 * the value. `backup wal-status --prometheus` writes them alone; `status
 * --prometheus` and `verify --prometheus` with the vault's (verify/metrics.ts).
 */
export const WAL_METRICS: { name: string; help: string; signals?: 'failure'; value: (s: WalStatus) => number }[] = [
  {
    name: 'vault_tool_wal_archive_age_seconds',
    help: 'Seconds since the newest segment of the archive was archived: its RPO now (-1: none archived).',
    value: (s) => s.ageSeconds ?? -1,
  },
  {
    name: 'vault_tool_wal_last_archived_timestamp_seconds',
    help: 'Unix time the newest segment was archived (0: none).',
    value: (s) => (s.archivedAt ? Math.floor(Date.parse(s.archivedAt) / 1000) : 0),
  },
  {
    name: 'vault_tool_wal_rpo_missed',
    help: 'Whether the newest segment is older than the RPO target (1).',
    signals: 'failure',
    value: (s) => (s.rpoMissed ? 1 : 0),
  },
  { name: 'vault_tool_wal_segments', help: 'Segments the archive holds.', value: (s) => s.segments },
  { name: 'vault_tool_wal_base_backups', help: 'Verified base backups of the cluster.', value: (s) => s.bases },
  {
    name: 'vault_tool_wal_completed_unread',
    help: 'Files a later push completed from a file found without its manifest that no full read has passed yet (the next verification that reads data reads them).',
    value: (s) => s.completedUnread?.length ?? 0,
  },
  {
    name: 'vault_tool_wal_archiver_failures',
    help: "pg_stat_archiver's failed_count (0 without a connection).",
    value: (s) => Number(s.archiver?.failed_count ?? 0),
  },
  {
    name: 'vault_tool_wal_archiver_failing',
    help: 'Whether archive_command failed after its last success (1), from pg_stat_archiver.',
    signals: 'failure',
    value: (s) => (archiverFailing(s.archiver) ? 1 : 0),
  },
];

/** When `backup wal-status --prometheus` wrote its metrics (`status --prometheus` has vault_tool_status_timestamp_seconds). */
export const WAL_WRITTEN = 'vault_tool_wal_status_timestamp_seconds';

/**
 * The archives' status as Prometheus metrics (node_exporter textfile
 * format, `vault_tool_wal_…`, base units, a sample for every cluster even
 * when zero). The RPO alert: `vault_tool_wal_archive_age_seconds > 900`.
 */
export function walMetrics(statuses: WalStatus[], at?: Date): string {
  const out: string[] = [];
  // The RPO and archiver gauges move only when these metrics are written again: a job that stops writing them must not leave
  // them saying all is well (VaultWalMetricsStale). Per cluster, as each cluster's file may be written by a job of its own.
  if (at) {
    out.push(`# HELP ${WAL_WRITTEN} Unix time these WAL metrics were written (VaultWalMetricsStale fires when they are not written again).`);
    out.push(`# TYPE ${WAL_WRITTEN} gauge`);
    for (const s of statuses) out.push(`${WAL_WRITTEN}{cluster="${esc(s.cluster)}"} ${Math.floor(at.getTime() / 1000)}`);
  }
  for (const { name, help, value } of WAL_METRICS) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const s of statuses) out.push(`${name}{cluster="${esc(s.cluster)}"} ${value(s)}`);
  }
  return `${out.join('\n')}\n`;
}
