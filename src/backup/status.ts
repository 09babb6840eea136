import { statSync } from 'node:fs';
import { VaultError } from '../errors/errors.js';
import type { VaultDocument } from '../vault/document.js';
import { runRclone } from '../dest/dest.js';
import { backupKeys, peekBackupState } from './keys.js';
import { checkSignature } from './manifest.js';
import type { Listed, Repo } from './repo.js';

/**
 * A repository that is read (status, verify, prune, list) must exist: a
 * missing one is an error, never an empty and therefore passing list.
 */
export async function requireRepo(repo: Repo): Promise<void> {
  const d = repo.dest;
  if (d.kind === 'folder') {
    let dir = false;
    try {
      dir = statSync(d.path).isDirectory();
    } catch {
      /* missing */
    }
    if (!dir) throw new VaultError('not-found', `there is no backup repository at ${d.spec}`, { code: 'backup-no-repo' });
    return;
  }
  const r = await runRclone(repo.io, ['lsf', '--max-depth', '1', `${d.remote}:${d.path}`]);
  if (r.code !== 0) {
    if (/not found/i.test(r.stderr)) throw new VaultError('not-found', `there is no backup repository at ${d.spec}`, { code: 'backup-no-repo' });
    throw new VaultError('io', `cannot list ${d.spec}: ${r.stderr.split('\n').filter(Boolean).slice(-1)[0] ?? `rclone exit ${r.code}`}`);
  }
}

/** Per component, as status and the metrics report it. */
export interface BackupStatus {
  component: string;
  lastVerifiedAt?: string;
  ageSeconds?: number;
  rpoSeconds?: number;
  rpoMissed: boolean;
  keyId?: string;
  keyHeld: boolean;
}

/**
 * Per component: the newest verified backup, its age against the RPO
 * target, the key it needs and whether the vault still holds it.
 */
export function backupStatus(
  listed: Listed[],
  doc: VaultDocument | undefined,
  rpoMs: (component: string) => number | undefined,
  now: Date,
  expected: string[] = [],
): BackupStatus[] {
  const held = new Set(doc ? backupKeys(doc).map((k) => k.keyId) : []);
  const signers = doc ? peekBackupState(doc).signers : [];
  // Components an RPO names but the repository lacks count too: no backup at all misses any RPO.
  const components = [...new Set([...listed.map((b) => b.component), ...expected])].sort();
  return components.map((component) => {
    const good = listed
      .filter(
        (b) =>
          b.component === component &&
          !b.problem &&
          b.manifest?.verification?.ok &&
          Date.parse(b.manifest.finishedAt) <= now.getTime() + 3_600_000 &&
          (!doc || checkSignature(b.manifest, signers).ok),
      )
      .sort((a, b) => b.manifest!.finishedAt.localeCompare(a.manifest!.finishedAt));
    const newest = good[0]?.manifest;
    const rpo = rpoMs(component);
    const ageSeconds = newest ? Math.floor((now.getTime() - Date.parse(newest.finishedAt)) / 1000) : undefined;
    return {
      component,
      ...(newest ? { lastVerifiedAt: newest.finishedAt, keyId: newest.keyId } : {}),
      ...(ageSeconds !== undefined ? { ageSeconds } : {}),
      ...(rpo !== undefined ? { rpoSeconds: rpo / 1000 } : {}),
      rpoMissed: rpo !== undefined && (ageSeconds === undefined || ageSeconds * 1000 > rpo),
      keyHeld: doc && newest ? held.has(newest.keyId) : true,
    };
  });
}
