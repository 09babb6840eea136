import { VaultError } from '../errors/errors.js';
import type { VaultDocument } from '../vault/document.js';
import { durationSeconds } from '../vault/duration.js';
import { backupKeys, peekBackupState } from './keys.js';
import { kindOfComponent } from './kinds/index.js';
import { checkDbname } from './kinds/postgres.js';
import { checkSignature } from './manifest.js';
import { isComponentName, type Listed, type Repo } from './repo.js';
import { namedComponents, rpoFor, type RpoTargets } from './rpo.js';
import { archiverFailing, archiverStats, type WalStatus, walStatus } from './wal/status.js';
import { BASE_KIND, WAL_KIND } from './wal/store.js';
import { basesOf } from './wal/verify.js';
import { inTheFuture } from '../vault/time.js';

type Env = Record<string, string | undefined>;

/** Per component, as status and the metrics report it. */
export interface BackupStatus {
  component: string;
  lastVerifiedAt?: string;
  ageSeconds?: number;
  /** The RPO that applies (absent: none does, and nothing is said about it). */
  rpoSeconds?: number;
  /** The RPO in its normalized text (`15m`, `1d`). */
  rpo?: string;
  /** Present only with an RPO: whether the newest verified backup is older than it (or there is none). */
  rpoMissed?: boolean;
  keyId?: string;
  keyHeld: boolean;
  /**
   * Backups of the component that do not count, and are not left to a person's judgment alone: a full read failed (the
   * verdict a trusted host recorded in the manifest), or the stored file's size is not its manifest's. Each stays excluded
   * (a restore passes over it, the RPO ignores it) until a full read passes it, even once its file is put back whole.
   */
  excluded?: ExcludedBackup[];
  /** A cluster's WAL archive (component postgres-wal/NAME): its newest backup is its newest archived segment. */
  wal?: ArchiveState;
}

/** A backup that does not count until a full read passes it (BackupStatus.excluded). */
export interface ExcludedBackup {
  file: string;
  /** When it was made. */
  at?: string;
  /** Why it does not count. */
  why: string;
}

/** A WAL archive as status sees it: `backup/wal/status.ts`'s view, and what could not be read. */
export interface ArchiveState extends WalStatus {
  /** A connection was given, and pg_stat_archiver could not be read through it: why. */
  archiverError?: string;
  /** The archive could not be judged: why; failed when the archive is at fault (an altered archive.json), inconclusive when this host is (unreachable). */
  problem?: { message: string; verdict: 'failed' | 'inconclusive' };
}

/**
 * Per component: the newest verified backup, its age against the RPO
 * target, the key it needs and whether the vault holds it.
 * Components the targets name one by one count even when the repository
 * has no backup of them: no backup at all misses any RPO. A WAL archive is
 * not among them (archiveStatus reports it).
 */
export function backupStatus(listed: Listed[], doc: VaultDocument | undefined, rpo: RpoTargets | undefined, now: Date): BackupStatus[] {
  const held = new Set(doc ? backupKeys(doc).map((k) => k.keyId) : []);
  const signers = doc ? peekBackupState(doc).signers : [];
  const named = namedComponents(rpo).filter((c) => kindOfComponent(c)?.restoredElsewhere !== 'archive');
  const components = [...new Set([...listed.map((b) => b.component), ...named])].sort();
  return components.map((component) => {
    const good = listed
      .filter(
        (b) =>
          b.component === component &&
          !b.problem &&
          b.manifest?.verification?.ok &&
          !inTheFuture(b.manifest.finishedAt, now) &&
          (!doc || checkSignature(b.manifest, signers).ok),
      )
      .sort((a, b) => b.manifest!.finishedAt.localeCompare(a.manifest!.finishedAt));
    const newest = good[0]?.manifest;
    const excluded = listed
      .filter((b) => b.component === component)
      .flatMap((b): ExcludedBackup[] => {
        const m = b.manifest;
        if (!m || (doc && !checkSignature(m, signers).ok)) return [];
        const at = { file: b.file, at: m.finishedAt };
        if (b.resized && b.problem) return [{ ...at, why: b.problem }];
        if (!b.problem && m.verification && !m.verification.ok)
          return [{ ...at, why: `its full read failed (recorded ${m.verification.at}: ${m.verification.message})` }];
        return [];
      });
    const target = rpoFor(rpo, component);
    const ageSeconds = newest ? Math.floor((now.getTime() - Date.parse(newest.finishedAt)) / 1000) : undefined;
    const rpoSeconds = target ? durationSeconds(target) : undefined;
    return {
      component,
      ...(newest ? { lastVerifiedAt: newest.finishedAt, keyId: newest.keyId } : {}),
      ...(ageSeconds !== undefined ? { ageSeconds } : {}),
      ...(target ? { rpoSeconds, rpo: target.text, rpoMissed: ageSeconds === undefined || ageSeconds > rpoSeconds! } : {}),
      keyHeld: doc && newest ? held.has(newest.keyId) : true,
      ...(excluded.length ? { excluded } : {}),
    };
  });
}

/**
 * What status says of a component's backups beyond its RPO and key: each
 * backup that does not count because a full read failed or its stored
 * file's size is not its manifest's fails (the data is proved bad, or was
 * changed after it was written), named with why; a full read of it judges
 * it again (a pass makes it count: its file put back whole is not enough),
 * and a prune removes it once it is not the component's last.
 */
export function backupFindings(s: BackupStatus): { failed: string[]; inconclusive: string[] } {
  return {
    failed: (s.excluded ?? []).map((x) => `${s.component}/${x.file} does not count: ${x.why}; a full read judges it again, and only a pass makes it count`),
    inconclusive: [],
  };
}

/**
 * The clusters whose WAL archive status reports: those the repository
 * holds an archive or base backups of, those the RPO targets name
 * (`postgres-wal/NAME`: expected, so an archive missing misses its RPO),
 * and those a connection is given for.
 */
export async function archiveClusters(repo: Repo, listed: Listed[], rpo: RpoTargets | undefined, also: string[] = []): Promise<string[]> {
  const held = await repo.dest.child(WAL_KIND).folders();
  const bases = listed.filter((b) => b.component.startsWith(`${BASE_KIND}/`)).map((b) => b.component.slice(BASE_KIND.length + 1));
  const named = namedComponents(rpo)
    .filter((c) => c.startsWith(`${WAL_KIND}/`))
    .map((c) => c.slice(WAL_KIND.length + 1));
  return [...new Set([...held, ...bases, ...named, ...also])].filter((c) => isComponentName(c)).sort();
}

/**
 * Each cluster's WAL archive as a component (`postgres-wal/NAME`): its RPO
 * is the age of its newest archived segment (the RPO targets may name the
 * component, its kind or a default), the key that segment needs, whether
 * a trusted host signed it; with a connection (`archivers`: cluster →
 * libpq connection string, '' for libpq's environment), PostgreSQL's own
 * pg_stat_archiver. An archive that cannot be read is reported, not thrown.
 */
export async function archiveStatus(
  repo: Repo,
  listed: Listed[],
  doc: VaultDocument | undefined,
  rpo: RpoTargets | undefined,
  now: Date,
  o: { archivers?: Record<string, string>; env: Env },
): Promise<BackupStatus[]> {
  const held = new Set(doc ? backupKeys(doc).map((k) => k.keyId) : []);
  const signers = doc ? peekBackupState(doc).signers : undefined;
  const out: BackupStatus[] = [];
  for (const cluster of await archiveClusters(repo, listed, rpo, Object.keys(o.archivers ?? {}))) {
    const component = `${WAL_KIND}/${cluster}`;
    const target = rpoFor(rpo, component);
    const rpoMs = target ? durationSeconds(target) * 1000 : undefined;
    const bases = basesOf(listed, cluster);
    let w: ArchiveState;
    try {
      w = await walStatus(repo, cluster, bases, { now, ...(rpoMs !== undefined ? { rpoMs } : {}), ...(signers ? { signers } : {}) });
    } catch (e) {
      if (!(e instanceof VaultError)) throw e;
      const verdict = e.kind === 'io' ? 'inconclusive' : 'failed';
      w = {
        cluster,
        segments: 0,
        bases: bases.filter((b) => b.manifest?.verification?.ok && !b.problem && (!signers || checkSignature(b.manifest, signers).ok)).length,
        rpoMissed: verdict === 'failed' && rpoMs !== undefined,
        ...(rpoMs !== undefined ? { rpoSeconds: rpoMs / 1000 } : {}),
        problem: { message: e.message, verdict },
      };
    }
    const conn = o.archivers?.[cluster];
    if (conn !== undefined) {
      try {
        if (conn) checkDbname(conn);
        w.archiver = await archiverStats(o.env, conn || undefined);
      } catch (e) {
        if (!(e instanceof VaultError)) throw e;
        w.archiverError = e.message;
      }
    }
    out.push({
      component,
      ...(w.archivedAt && !w.future ? { lastVerifiedAt: w.archivedAt } : {}),
      ...(w.ageSeconds !== undefined ? { ageSeconds: w.ageSeconds } : {}),
      ...(target && !(w.problem?.verdict === 'inconclusive') ? { rpoSeconds: rpoMs! / 1000, rpo: target.text, rpoMissed: w.rpoMissed } : {}),
      ...(w.keyId ? { keyId: w.keyId } : {}),
      keyHeld: doc && w.keyId ? held.has(w.keyId) : true,
      wal: w,
    });
  }
  return out;
}

/**
 * What status says of an archive beyond its RPO and key (which every
 * component has): failures (the archive damaged, its newest segment signed
 * by no trusted host, archive_command failing) and what could not be
 * judged (the archive out of reach, pg_stat_archiver unreadable, files a
 * later push completed that no full read has passed yet); a newest segment
 * dated in the future fails too. Each has a metric (verify/metrics.ts:
 * vault_tool_wal_archiver_failing, …_archive_failed, …_archive_inconclusive),
 * so none is silent in Prometheus.
 */
export function archiveFindings(s: BackupStatus): { failed: string[]; inconclusive: string[] } {
  const w = s.wal;
  const failed: string[] = [];
  const inconclusive: string[] = [];
  if (!w) return { failed, inconclusive };
  if (w.problem) (w.problem.verdict === 'failed' ? failed : inconclusive).push(`the WAL archive of ${w.cluster}: ${w.problem.message}`);
  if (w.trusted === false) failed.push(`the newest segment of ${w.cluster} (${w.newest}) is not signed by a host the vault trusts`);
  if (w.future)
    failed.push(
      `the newest segment of ${w.cluster} (${w.newest}) says it was archived at ${w.archivedAt}, in the future: the clock of the database host is wrong; the archive's age does not count until that is explained`,
    );
  if (archiverFailing(w.archiver))
    failed.push(`archive_command of ${w.cluster} is failing: ${w.archiver!.last_failed_wal} failed at ${w.archiver!.last_failed_time}, after the last success`);
  if (w.archiverError) inconclusive.push(`pg_stat_archiver of ${w.cluster} could not be read: ${w.archiverError}`);
  for (const u of w.unusable ?? [])
    (u.verdict === 'failed' ? failed : inconclusive).push(
      `${u.name}, among the newest segments of ${w.cluster}, ${u.verdict === 'failed' ? 'would be refused by a restore' : 'could not be judged'}: ${u.message}`,
    );
  if (w.completedUnread?.length)
    inconclusive.push(
      `${w.completedUnread.length} file(s) of the WAL archive of ${w.cluster} (${listed(w.completedUnread)}) were completed by a later push from a file found without its manifest, and no full read has passed them yet: a restore that reaches one refuses it unless it is the file pushed`,
    );
  return { failed, inconclusive };
}

/** Names in a message: the first few, and how many more. */
const listed = (names: string[], few = 5): string =>
  names.length > few ? `${names.slice(0, few).join(', ')} and ${names.length - few} more` : names.join(', ');

/** pg_stat_archiver in one line. */
export const archiverLine = (a: Record<string, string>): string =>
  `${a.archived_count} archived (last ${a.last_archived_wal || '-'} at ${a.last_archived_time || '-'}), ${a.failed_count} failed (last ${a.last_failed_wal || '-'} at ${a.last_failed_time || '-'})`;
