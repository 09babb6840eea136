import type { VaultDocument } from '../vault/document.js';
import { backupKeys, peekBackupState } from './keys.js';
import { checkSignature } from './manifest.js';
import type { Listed } from './repo.js';

/** Per backup component, as status and the metrics report it. */
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
export function backupStatus(listed: Listed[], doc: VaultDocument | undefined, rpoMs: (component: string) => number | undefined, now: Date): BackupStatus[] {
  const held = new Set(doc ? backupKeys(doc).map((k) => k.keyId) : []);
  const signers = doc ? peekBackupState(doc).signers : [];
  const components = [...new Set(listed.map((b) => b.component))].sort();
  return components.map((component) => {
    const good = listed
      .filter((b) => b.component === component && !b.problem && b.manifest?.verification?.ok && (!doc || checkSignature(b.manifest, signers).ok))
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
      keyHeld: doc ? Boolean(newest && held.has(newest.keyId)) : true,
    };
  });
}
