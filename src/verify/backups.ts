import { VaultError } from '../errors/errors.js';
import type { VaultDocument } from '../vault/document.js';
import { formatSeconds } from '../vault/duration.js';
import { auditBackups } from '../backup/audit.js';
import type { SigningKey } from '../backup/keys.js';
import { listRepo, type Repo } from '../backup/repo.js';
import type { RpoTargets } from '../backup/rpo.js';
import type { BackupCheck } from '../backup/run.js';
import { backupStatus, type BackupStatus } from '../backup/status.js';
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
 * the repository lacks misses it). A repository that cannot be read is one
 * failed finding, not a crash.
 */
export async function checkBackups(
  repo: Repo,
  doc: VaultDocument,
  o: { readData: boolean | number; env: Record<string, string | undefined>; signing?: SigningKey; rpo?: RpoTargets; now: Date },
): Promise<BackupsChecked> {
  let checks: BackupCheck[];
  try {
    checks = await auditBackups(repo, doc, { readData: o.readData, env: o.env, ...(o.signing ? { signing: o.signing } : {}), now: o.now });
  } catch (e) {
    if (!(e instanceof VaultError)) throw e;
    // A repository missing is a failure (there is nothing to restore); one out of reach is inconclusive.
    const verdict = e.kind === 'io' ? 'inconclusive' : 'failed';
    return { findings: [{ component: 'repository', file: repo.dest.spec, verdict, ok: false, message: e.message }], status: [] };
  }
  const findings: BackupFinding[] = checks.map(({ component, file, verdict, ok, message }) => ({ component, file, verdict, ok, message }));
  // Verdicts this run recorded count at once: the status reads the manifests again.
  const status = backupStatus(await listRepo(repo), doc, o.rpo, o.now);
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
  return { findings, checks, status };
}
