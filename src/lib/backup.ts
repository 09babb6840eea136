/**
 * Data backups (`vault-tool/backup`): each dump streamed through SHA-256 and
 * age encryption to the backup recipient into a repository (a folder or an
 * rclone remote), checked in full while it is written, with a manifest
 * signed by the host that made it; verification (a manifest signed by a
 * host the vault trusts, a key the vault holds, a full read), planned then
 * executed; restores, planned then executed, which take a backup's key only
 * through `restorableKey` (trusted, not failed); restic-style retention
 * that knows keys, planned then executed; status against RPOs (a WAL
 * archive's: the age of its newest segment, pg_stat_archiver). What a kind
 * of backup is (how it is dumped, checked, restored) is its object in
 * `KINDS`.
 *
 *   const repo = { dest: parseDestination('/srv/backups', process.cwd(), { env: process.env }) };
 *   const { recipient, keyId } = await ensureBackupKey(paths, {}, new Date());
 *   const m = await backupComponent({ repo, signing: loadSigningKey('signing.key'), recipient: { recipient, keyId },
 *     env: process.env, now: () => new Date(), vault: { paths, store: {} } }, await files.dump({ base, paths: ['.'], name: 'app' }, process.env));
 *
 * The evidence record of a restore is the command line's (`backup restore`
 * writes one, complete or not).
 */
export { parseDestination } from '../dest/index.js';
export type { Destination, DestOptions } from '../dest/dest.js';
export { listRepo, requireRepo, type Repo, type Listed } from '../backup/repo.js';
export { backupComponent, verifyBackup, type BackupContext, type BackupCheck } from '../backup/run.js';
export { auditBackups, chooseForReading, planVerify, executeVerify, verifyWithVault, type VerifyPlan } from '../backup/audit.js';
export { selectBackup, newestVerified, latestSet, parseBefore, type SelectOptions, type Selected, type ChosenSet } from '../backup/select.js';
export { KINDS, findKind, kindNamed, kindOfComponent } from '../backup/kinds/index.js';
export type { BackupKind, Beside, Component, RestoreRequest, Restorer } from '../backup/kind.js';
export { postgres, listDatabases, type PostgresOptions } from '../backup/kinds/postgres.js';
export { postgresGlobals } from '../backup/kinds/postgres-globals.js';
export { redis, type RedisOptions } from '../backup/kinds/redis.js';
export { files, type FilesOptions } from '../backup/kinds/files.js';
export { exec, type ExecOptions } from '../backup/kinds/exec.js';
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
export {
  restorableKey,
  usableManifest,
  restoreTarget,
  planRestore,
  executeRestore,
  restoreBackup,
  type RestorePlan,
  type RestoreRunOptions,
} from '../backup/restore.js';
export { planPrune, executePrune, type PrunePlan } from '../backup/prune.js';
export { decideRetention, parseKeepWithin, type KeepPolicy, type Decision } from '../backup/retention.js';
export { backupStatus, archiveStatus, archiveFindings, backupFindings, type BackupStatus, type ArchiveState, type ExcludedBackup } from '../backup/status.js';
export type { RpoTargets } from '../backup/rpo.js';
