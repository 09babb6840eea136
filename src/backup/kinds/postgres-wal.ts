import { VaultError } from '../../errors/errors.js';
import { WAL_KIND } from '../wal/store.js';
import type { BackupKind } from '../kind.js';
import { defineKind } from './loaded.js';

/**
 * `postgres-wal`: a cluster's WAL archive, one age file per segment (or
 * `.history`/`.backup` file) pushed by PostgreSQL's `archive_command`
 * (backup/wal/push.ts) and fetched back by its `restore_command`
 * (backup/wal/fetch.ts), which check each file against its name and the
 * archive (page headers, the cluster's system identifier). Its files live a
 * level below the component folder (`postgres-wal/NAME/segments/`), so the
 * listing of backups never shows them; verification, retention and status
 * have their own commands (backup/wal/verify.ts, prune.ts, status.ts).
 */
export const postgresWal: BackupKind<never> = defineKind({
  name: WAL_KIND,
  folder: WAL_KIND,
  label: 'WAL archive',
  ext: 'wal',
  dump: async () => {
    throw new VaultError('usage', "a WAL archive is written by PostgreSQL's archive_command, one segment at a time (backup wal-push), not by a backup run", {
      code: 'wal-not-a-backup',
    });
  },
  shape: (_h, size) => (size === 0 ? 'an empty WAL file' : null),
  // A segment's own checks need its name and its archive (backup/wal/fetch.ts); here it is decrypted in full.
  verifier: () => ({ kind: 'discard', label: 'decrypt' }),
  restoredElsewhere: 'archive',
});
