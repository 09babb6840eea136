import { randomInt } from 'node:crypto';
import { VaultError } from '../../errors/errors.js';
import type { Listed, Repo } from '../repo.js';
import { checkSignature, type BackupManifest } from '../manifest.js';
import { infoTrusted } from './archive.js';
import { committed, completedMarkName, readManifests, walManifestRefusal } from './catalog.js';
import { continuity, describeChain, type BaseRef } from './continuity.js';
import { readArchived } from './fetch.js';
import type { ReadKeys } from './identity.js';
import { BASE_KIND, removeFile, segmentsDest } from './store.js';
import { loadArchive } from './view.js';

/**
 * The verification of a cluster's archive, as verdicts:
 * - per retained base backup: its own WAL whole, then the archive from its
 *   start to the newest segment continuous on the timeline recovery
 *   follows; a gap is named (its first missing segment) and fails every
 *   point in time after it;
 * - per archived file (with `readData`; a fraction reads a random sample of
 *   that share, as restic's --read-data-subset, and always the history
 *   files, the first segment each base backup needs, and every file a later
 *   push completed, whose mark goes once it passes): its manifest signed by a trusted
 *   host, the stored bytes, complete decryption, size and SHA-256, and a
 *   segment's page headers against its name and the cluster;
 * - files without their manifest (a push that did not finish), and names
 *   that are not the archive's, are named.
 * A check that cannot run here (a read that failed) is inconclusive, not a
 * failure.
 */
export interface BaseVerdict {
  base: string;
  ok: boolean;
  timeline?: number;
  chain?: string;
  from?: string;
  /** The last segment of the continuous run from the base's start. */
  through?: string;
  /** When that segment was archived: every point in time up to about then is recoverable. */
  recoverableUntil?: string;
  missing?: string;
  newest?: string;
  message: string;
}

export interface FileVerdict {
  name: string;
  ok: boolean;
  inconclusive?: boolean;
  message: string;
}

export interface ArchiveReport {
  cluster: string;
  systemId: string;
  segmentSize: number;
  trustedDescription: boolean;
  bases: BaseVerdict[];
  files: FileVerdict[];
  warnings: string[];
  /** Committed files the report counted, and files read in full. */
  counted: number;
  read: number;
  /**
   * Files a later push completed (their manifest says so, or their mark is there) that this run did not read: unproven until
   * a full read passes them (a restore that reaches one may refuse it). Not judged, so not a pass: the caller says so.
   */
  completedUnread: string[];
  ok: boolean;
}

export function baseRefOf(m: BackupManifest): BaseRef | null {
  const s = m.source;
  return s.timeline && s.startLsn && s.stopLsn ? { timeline: Number(s.timeline), startLsn: s.startLsn, stopLsn: s.stopLsn } : null;
}

/** The base backups of a cluster in a listing, usable ones (trusted, verified) apart. */
export function basesOf(listed: Listed[], cluster: string): Listed[] {
  return listed.filter((b) => b.component === `${BASE_KIND}/${cluster}`);
}

/**
 * The files a verification reads in full: all (`true`), none (`false`), or
 * a fraction: the history files and the first segment of each base
 * backup (without them nothing can be restored), and a random sample of
 * the rest up to that share of all; and, beyond the share, every file a
 * later push completed (`completed`: its manifest vouches only for its
 * stanza, which anyone who writes the repository can forge, so only a full
 * read can tell it is the file pushed, and it is read whenever data is).
 */
export function chooseFiles(names: string[], bases: BaseVerdict[], readData: boolean | number, completed: ReadonlySet<string> = new Set()): string[] {
  if (readData === true) return names;
  if (readData === false) return [];
  const own = new Set<string>();
  for (const b of bases) if (b.from) own.add(b.from);
  const always = new Set(names.filter((n) => n.endsWith('.history') || own.has(n)));
  const rest = names.filter((n) => !always.has(n) && !completed.has(n));
  const want = Math.ceil(names.length * readData) - always.size;
  for (let i = rest.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [rest[i], rest[j]] = [rest[j]!, rest[i]!];
  }
  return [...new Set([...always, ...names.filter((n) => completed.has(n)), ...rest.slice(0, Math.max(0, want))])].sort();
}

export async function verifyArchive(
  repo: Repo,
  cluster: string,
  bases: Listed[],
  keys: ReadKeys,
  o: { readData: boolean | number; onFile?: (n: number, total: number) => void },
): Promise<ArchiveReport> {
  const a = await loadArchive(repo, cluster, keys);
  const committedNames = [...a.view.names].sort();
  const manifests = await readManifests(repo, cluster, committedNames);
  // Files a restore would refuse (a manifest that does not parse, was moved from another name, or no trusted host signed; after
  // a full read, one that failed it): present by name, but not WAL a recovery can replay, so continuity judges without them and
  // names them where it stops. A manifest the repository did not give is not judged: inconclusive, never a failure.
  const unusable = new Map<string, string>();
  const unread = new Map<string, string>();
  for (const [n, m] of manifests) {
    const r = walManifestRefusal(m, keys.signers, { name: n, cluster });
    if (r?.why === 'unread') unread.set(n, r.message);
    else if (r) unusable.set(n, r.message);
  }
  const judgeBases = (): BaseVerdict[] => {
    const baseVerdicts: BaseVerdict[] = [];
    const view = { ...a.view, names: new Set([...a.view.names].filter((n) => !unusable.has(n))) };
    const gap = (missing: string, own = '') =>
      unusable.has(missing) ? `WAL segment ${missing}${own} cannot be used (${unusable.get(missing)})` : `WAL segment ${missing}${own} is missing`;
    for (const b of bases) {
      const name = `${b.component}/${b.file}`;
      const m = b.manifest;
      if (!m || b.problem) {
        baseVerdicts.push({ base: name, ok: false, message: b.problem ?? 'no manifest' });
        continue;
      }
      const sig = checkSignature(m, keys.signers);
      if (!sig.ok) {
        baseVerdicts.push({ base: name, ok: false, message: sig.message });
        continue;
      }
      const ref = baseRefOf(m);
      if (!ref) {
        baseVerdicts.push({ base: name, ok: false, message: 'its manifest does not record its WAL (timeline, start and stop LSN)' });
        continue;
      }
      if (m.source.systemId !== a.info.systemId) {
        baseVerdicts.push({ base: name, ok: false, message: `it is of the cluster ${m.source.systemId}; the archive holds ${a.info.systemId}'s` });
        continue;
      }
      const c = continuity(view, ref);
      const last = c.segments[c.segments.length - 1];
      const lastM = last ? manifests.get(last) : undefined;
      const until = lastM && !(lastM instanceof Error) ? lastM.finishedAt : undefined;
      const common = {
        base: name,
        timeline: c.timeline,
        chain: describeChain(c.chain),
        ...(c.segments[0] ? { from: c.segments[0] } : {}),
        ...(last ? { through: last } : {}),
        ...(until ? { recoverableUntil: until } : {}),
        ...(c.newest ? { newest: c.newest } : {}),
        ...(c.missing ? { missing: c.missing } : {}),
      };
      if (!c.baseWhole)
        baseVerdicts.push({
          ...common,
          ok: false,
          message: `cannot be restored: ${gap(c.missing!, ' of the backup itself')}${unusable.has(c.missing!) ? '' : ' from the archive'}`,
        });
      else if (c.missing)
        baseVerdicts.push({
          ...common,
          ok: false,
          message: `${gap(c.missing)}: points in time after about ${until ?? '?'} (when ${last} was archived) cannot be recovered; the archive goes on to ${c.newest}`,
        });
      else
        baseVerdicts.push({
          ...common,
          ok: c.problems.length === 0,
          message: c.problems.length
            ? c.problems.join('; ')
            : `continuous from ${c.segments[0]} to ${last} (${c.segments.length} segment(s)) on timeline ${common.chain}`,
        });
    }
    return baseVerdicts;
  };
  let baseVerdicts = judgeBases();
  const files: FileVerdict[] = [];
  // Neither counts for recovery (continuity above sees only committed files): named, not failed.
  const warnings: string[] = [];
  for (const e of a.catalog.entries.values())
    if (!committed(e))
      warnings.push(
        e.file
          ? `${e.wal.name}: its file is there without its manifest (a push that did not finish, or one under way): it does not count until a push completes it`
          : `${e.wal.name}: a manifest without its file: it does not count`,
      );
  for (const s of a.catalog.strangers) warnings.push(`${s}: not a file of the archive; left alone`);
  for (const p of a.problems) files.push({ name: p.name, ok: false, message: `${p.message} (its timeline is not followed)` });
  for (const [n, message] of unusable) if (!files.some((f) => f.name === n)) files.push({ name: n, ok: false, message });
  for (const [n, message] of unread) if (!files.some((f) => f.name === n)) files.push({ name: n, ok: false, inconclusive: true, message });
  let read = 0;
  // Completed by its signed manifest, or by its mark alone (unsigned: read all the same, so a mark cannot hide nor pin a file).
  const completed = new Set([
    ...[...manifests].filter(([, m]) => !(m instanceof Error) && m.completed).map(([n]) => n),
    ...[...a.catalog.completedMarks].filter((n) => a.view.names.has(n)),
  ]);
  const toRead = chooseFiles(committedNames, baseVerdicts, o.readData, completed);
  const passed = new Set<string>();
  if (toRead.length) {
    for (const n of toRead) {
      if (files.some((f) => f.name === n)) continue;
      o.onFile?.(read, toRead.length);
      try {
        const r = await readArchived(repo, cluster, n, keys);
        if (r.status !== 'restored') throw new VaultError('not-found', `${n} was listed, then not found when read: removed meanwhile`);
        read++;
        passed.add(n);
        // A completed file read in full and passed: its mark goes, and `wal-status` stops naming it.
        if (a.catalog.completedMarks.has(n))
          await removeFile(repo, segmentsDest(repo, cluster), completedMarkName(n)).catch((e: Error) =>
            warnings.push(`${n}: read in full and passed, but its mark ${completedMarkName(n)} could not be removed: ${e.message}`),
          );
      } catch (e) {
        const err = e as { kind?: string; message: string };
        const inconclusive = err.kind === 'io' || err.kind === 'not-found' || err.kind === 'internal' || err.kind === undefined;
        files.push({ name: n, ok: false, ...(inconclusive ? { inconclusive: true } : {}), message: err.message });
        if (!inconclusive) unusable.set(n, err.message);
      }
    }
    // A file that failed its read stops a recovery there: the bases are judged again without it.
    baseVerdicts = judgeBases();
  }
  const trustedDescription = infoTrusted(a.info, keys.signers);
  return {
    cluster,
    systemId: a.info.systemId,
    segmentSize: a.info.segmentSize,
    trustedDescription,
    bases: baseVerdicts,
    files: files.sort((x, y) => x.name.localeCompare(y.name)),
    warnings,
    counted: committedNames.length,
    read,
    completedUnread: [...completed].filter((n) => !passed.has(n) && !files.some((f) => f.name === n)).sort(),
    ok: trustedDescription && baseVerdicts.every((b) => b.ok) && files.every((f) => f.ok || f.inconclusive),
  };
}
