import { VaultError } from '../errors/errors.js';
import type { OnProgress } from '../fs/progress.js';
import type { Verdict } from '../errors/verdict.js';
import type { VaultDocument } from '../vault/document.js';
import { formatSeconds } from '../vault/duration.js';
import { auditBackups } from '../backup/audit.js';
import type { SigningKey } from '../backup/keys.js';
import { type Listed, listRepo, type Repo } from '../backup/repo.js';
import type { RpoTargets } from '../backup/rpo.js';
import type { BackupCheck } from '../backup/run.js';
import { archiveFindings, archiveStatus, backupStatus, type BackupStatus } from '../backup/status.js';
import { keysFromVault } from '../backup/wal/identity.js';
import { archiverFailing } from '../backup/wal/status.js';
import { basesOf, verifyArchive } from '../backup/wal/verify.js';
import type { BackupFinding } from './verify.js';

export interface BackupsChecked {
  findings: BackupFinding[];
  /** Each backup's check (absent when the repository could not be read). */
  checks?: BackupCheck[];
  status: BackupStatus[];
}

/**
 * The backups of one repository, as the quarterly verification sees them:
 * each backup's verdict (signed manifest, key held, and for those chosen a
 * full read), then each component's RPO where one applies: the newest
 * verified backup must be younger than it (a component the RPO names and
 * the repository lacks misses it); then each cluster's WAL archive (see
 * `checkArchives`). A repository that cannot be read is one failed finding,
 * not a crash.
 */
export async function checkBackups(
  repo: Repo,
  doc: VaultDocument,
  o: {
    readData: boolean | number;
    env: Record<string, string | undefined>;
    signing?: SigningKey;
    rpo?: RpoTargets;
    archivers?: Record<string, string>;
    now: Date;
    /** Each full read's bytes as they pass (the caller shows progress). */
    onProgress?: OnProgress;
  },
): Promise<BackupsChecked> {
  let checks: BackupCheck[];
  try {
    checks = await auditBackups(repo, doc, {
      readData: o.readData,
      env: o.env,
      ...(o.signing ? { signing: o.signing } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      now: o.now,
    });
  } catch (e) {
    if (!(e instanceof VaultError)) throw e;
    // A repository missing is a failure (there is nothing to restore); one out of reach is inconclusive.
    const verdict = e.kind === 'io' ? 'inconclusive' : 'failed';
    return { findings: [{ component: 'repository', file: repo.dest.spec, verdict, ok: false, message: e.message }], status: [] };
  }
  const findings: BackupFinding[] = checks.map(({ component, file, verdict, ok, message }) => ({ component, file, verdict, ok, message }));
  // Verdicts this run recorded count at once: the status reads the manifests again.
  const listed = await listRepo(repo);
  const status = backupStatus(listed, doc, o.rpo, o.now);
  for (const s of status) {
    if (s.rpoMissed === undefined) continue;
    const age = s.ageSeconds !== undefined ? `${formatSeconds(s.ageSeconds)} old` : undefined;
    findings.push({
      component: `${s.component}: RPO ${s.rpo}`,
      file: '',
      verdict: s.rpoMissed ? 'failed' : 'ok',
      ok: !s.rpoMissed,
      message: s.rpoMissed
        ? age
          ? `${s.component}: the newest verified backup (${s.lastVerifiedAt}) is ${age}, over the RPO of ${s.rpo}`
          : `${s.component}: no verified backup at all, so the RPO of ${s.rpo} is missed`
        : `${s.component}: the newest verified backup is ${age}, within the RPO of ${s.rpo}`,
    });
  }
  const archives = await archiveStatus(repo, listed, doc, o.rpo, o.now, { env: o.env, ...(o.archivers ? { archivers: o.archivers } : {}) });
  findings.push(...(await checkArchives(repo, doc, listed, archives, o.readData)));
  return { findings, checks, status: [...status, ...archives] };
}

const finding = (component: string, file: string, verdict: Verdict, message: string): BackupFinding => ({
  area: 'archive',
  component,
  file,
  verdict,
  ok: verdict === 'ok',
  message,
});

/**
 * Each cluster's WAL archive: for every retained base backup, the archive
 * continuous from its start to the newest segment (a gap named, and every
 * point in time after it failed); the files read in full per `readData`
 * (all, none, or a sample); the archive's description signed by a trusted
 * host; its RPO where one applies (the age of its newest segment); the
 * newest segment's key held; pg_stat_archiver where a connection was
 * given. What this host cannot judge (an archive or server out of reach)
 * is inconclusive; an archive missing while base backups need it fails.
 */
export async function checkArchives(
  repo: Repo,
  doc: VaultDocument,
  listed: Listed[],
  archives: BackupStatus[],
  readData: boolean | number,
): Promise<BackupFinding[]> {
  const out: BackupFinding[] = [];
  const keys = keysFromVault(doc);
  for (const s of archives) {
    const w = s.wal!;
    const c = s.component;
    const bases = basesOf(listed, w.cluster).filter((b) => b.manifest && !b.problem);
    if (!w.problem && w.segments + bases.length > 0) {
      try {
        const r = await verifyArchive(repo, w.cluster, bases, keys, { readData });
        // What this run read and passed is proven now; those it did not read stay named (archiveFindings, below).
        if (r.completedUnread.length) w.completedUnread = r.completedUnread;
        else delete w.completedUnread;
        for (const b of r.bases) out.push(finding(c, `WAL for ${b.base}`, b.ok ? 'ok' : 'failed', b.message));
        for (const f of r.files) out.push(finding(c, f.name, f.inconclusive ? 'inconclusive' : 'failed', f.message));
        if (!r.trustedDescription)
          out.push(finding(c, 'archive.json', 'failed', `the archive's description (archive.json) is not signed by a host the vault trusts`));
        const bad = r.files.filter((f) => !f.ok).length;
        out.push(
          finding(
            c,
            '',
            r.bases.length ? 'ok' : 'failed',
            r.bases.length
              ? `${r.counted} archived file(s), ${r.read} read in full${bad ? ` (${bad} not good: listed apart)` : ''}; ${r.bases.length} base backup(s) checked for continuity`
              : `${r.counted} archived file(s), but no base backup of ${w.cluster}: the archive alone restores nothing`,
          ),
        );
      } catch (e) {
        if (!(e instanceof VaultError)) throw e;
        const verdict: Verdict = e.kind === 'io' ? 'inconclusive' : 'failed';
        out.push(
          finding(
            c,
            '',
            verdict,
            e.code === 'wal-no-archive'
              ? `${bases.length} base backup(s) of ${w.cluster}, but no WAL archive: not one of them can be restored (their own WAL is the archive's)`
              : e.message,
          ),
        );
      }
    }
    if (s.rpoMissed !== undefined)
      out.push(
        finding(
          `${c}: RPO ${s.rpo}`,
          '',
          s.rpoMissed ? 'failed' : 'ok',
          s.rpoMissed
            ? w.problem
              ? `the archive could not be read, so the RPO of ${s.rpo} cannot be shown met`
              : w.future
                ? `the newest archived segment (${w.newest}) is dated ${w.archivedAt}, in the future: its age does not count, so the RPO of ${s.rpo} cannot be shown met`
                : w.newest
                  ? `the newest archived segment (${w.newest}, archived ${w.archivedAt}) is ${formatSeconds(w.ageSeconds!)} old, over the RPO of ${s.rpo}: a restore now loses more`
                  : `nothing is archived, so the RPO of ${s.rpo} is missed`
            : `the newest archived segment is ${formatSeconds(w.ageSeconds!)} old, within the RPO of ${s.rpo}`,
        ),
      );
    if (!s.keyHeld) out.push(finding(c, w.newest ?? '', 'failed', `the vault does not hold backup key ${s.keyId}, which the newest segment needs`));
    const f = archiveFindings(s);
    for (const m of f.failed) out.push(finding(c, '', 'failed', m));
    for (const m of f.inconclusive) out.push(finding(c, '', 'inconclusive', m));
    if (w.archiver && !archiverFailing(w.archiver))
      out.push(
        finding(
          `${c}: pg_stat_archiver`,
          '',
          'ok',
          `archive_command succeeds: ${w.archiver.archived_count} archived, ${w.archiver.failed_count} failed, none since the last success`,
        ),
      );
  }
  return out;
}
