/**
 * Data backups (`vault-tool/backup`): each dump streamed through SHA-256 and
 * age encryption to the backup recipient into a repository (a folder or an
 * rclone remote), checked in full while it is written, with a manifest
 * signed by the host that made it; verification (a manifest signed by a
 * host the vault trusts, a key the vault holds, a full read); restores,
 * which take a backup's key only through `restorableKey` (trusted, not
 * failed); restic-style retention that knows keys; status against RPOs.
 *
 *   const repo = { dest: parseDestination('/srv/backups', process.cwd()), io: { env: process.env } };
 *   const { recipient, keyId } = await ensureBackupKey(paths, {}, new Date());
 *   const m = await backupComponent({ repo, signing: loadSigningKey('signing.key'), recipient: { recipient, keyId },
 *     env: process.env, now: () => new Date(), vault: { paths, store: {} } }, await filesComponent(process.env, { base, paths: ['.'], name: 'app' }));
 *
 * Deleting backups is the command line's (`backup prune`), as are the
 * evidence records of a restore (`backup restore` writes one).
 */
export { parseDestination, type Destination, type DestOptions } from '../dest/dest.js';
export { listRepo, type Repo, type Listed } from '../backup/repo.js';
export { backupComponent, verifyBackup, type BackupContext, type BackupCheck } from '../backup/run.js';
export { auditBackups, chooseForReading } from '../backup/audit.js';
export { postgresComponent, postgresGlobals, listDatabases, redisComponent, filesComponent, execComponent, type Component } from '../backup/components.js';
export {
  BACKUP_ENTRY,
  ensureBackupKey,
  rotateBackupKey,
  loadSigningKey,
  trustSigner,
  untrustSigner,
  type BackupKey,
  type SigningKey,
  type TrustedSigner,
} from '../backup/keys.js';
export type { BackupManifest } from '../backup/manifest.js';
export { restorableKey, restoreBackup, type RestoreTarget, type RestoreRunOptions } from '../backup/restore.js';
export { decideRetention, parseKeepWithin, type KeepPolicy, type Decision } from '../backup/retention.js';
export { backupStatus, type BackupStatus } from '../backup/status.js';
export type { RpoTargets } from '../backup/rpo.js';
