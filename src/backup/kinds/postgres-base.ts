import { checkBaseStream } from '../wal/base-check.js';
import { type BaseOptions, postgresBaseComponent } from '../wal/base.js';
import { BASE_KIND } from '../wal/store.js';
import type { BackupKind } from '../kind.js';
import { defineKind } from './loaded.js';

/**
 * `postgres-base`: a base backup for point-in-time recovery, `pg_basebackup
 * -Ft -X none` as one tar stream (backup/wal/base.ts), checked in full
 * against its own `backup_manifest` (every file's size and SHA-256). Its
 * WAL is the archive's (`postgres-wal`): the backup counts only once the
 * archive holds the segments it needs. It goes back into a data directory
 * with the WAL to a recovery target (backup/wal/restore.ts: planPitr, then
 * executePitr), not through the restore every other kind shares.
 */
export const postgresBase: BackupKind<BaseOptions> = defineKind({
  name: BASE_KIND,
  folder: BASE_KIND,
  label: 'base backup',
  ext: 'tar',
  dump: (o, env) => postgresBaseComponent(env, o),
  shape: (_h, size) => (size < 1024 || size % 512 !== 0 ? `its output (${size} bytes) is not a tar archive` : null),
  verifier: () => ({ kind: 'inline', label: "backup_manifest (every file's size and SHA-256)", consume: async (r) => void (await checkBaseStream(r)) }),
  restoredElsewhere: 'pitr',
});
