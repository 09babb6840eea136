import type { VaultDocument } from '../vault/document.js';
import { backupKeys, peekBackupState } from './keys.js';
import { checkSignature } from './manifest.js';
import type { Listed } from './repo.js';
import { namedComponents, rpoFor, type RpoTargets } from './rpo.js';
import { durationSeconds } from '../vault/duration.js';
import { inTheFuture } from '../vault/time.js';

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
}

/**
 * Per component: the newest verified backup, its age against the RPO
 * target, the key it needs and whether the vault still holds it.
 * Components the targets name one by one count even when the repository
 * has no backup of them: no backup at all misses any RPO.
 */
export function backupStatus(listed: Listed[], doc: VaultDocument | undefined, rpo: RpoTargets | undefined, now: Date): BackupStatus[] {
  const held = new Set(doc ? backupKeys(doc).map((k) => k.keyId) : []);
  const signers = doc ? peekBackupState(doc).signers : [];
  const components = [...new Set([...listed.map((b) => b.component), ...namedComponents(rpo)])].sort();
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
    const target = rpoFor(rpo, component);
    const ageSeconds = newest ? Math.floor((now.getTime() - Date.parse(newest.finishedAt)) / 1000) : undefined;
    const rpoSeconds = target ? durationSeconds(target) : undefined;
    return {
      component,
      ...(newest ? { lastVerifiedAt: newest.finishedAt, keyId: newest.keyId } : {}),
      ...(ageSeconds !== undefined ? { ageSeconds } : {}),
      ...(target ? { rpoSeconds, rpo: target.text, rpoMissed: ageSeconds === undefined || ageSeconds > rpoSeconds! } : {}),
      keyHeld: doc && newest ? held.has(newest.keyId) : true,
    };
  });
}
