import { VaultError } from '../errors/errors.js';
import { peekVault } from './container.js';
import { deferEvidence } from './deferred.js';
import { recordEvidence } from './evidence.js';
import { changed, readVaultFile, updateVault, type StoreOptions, type VaultPaths } from './store.js';

/** Where the record of an access went. */
export type AccessRecorded =
  | { outcome: 'recorded' }
  /** This copy could not be written: kept in the state folder, appended by the next write to this vault here. */
  | { outcome: 'deferred'; why: string; file: string }
  /** Neither: the caller says so. */
  | { outcome: 'lost'; why: string };

/**
 * Records that key material or data left the vault or was restored (a value
 * written out, an export, a restore): an evidence record written through
 * the vault (names, versions and places only, never a value). When this
 * copy cannot be written (a stale copy, which is never written to for this;
 * read-only media; a lock held too long; a full disk), the record is kept
 * in the state folder and appended by the next write to this vault on this
 * machine. It never fails the access it records: the outcome says where the
 * record went.
 */
export async function recordAccess(paths: VaultPaths, store: StoreOptions, event: string, data: Record<string, unknown>, now: Date): Promise<AccessRecorded> {
  try {
    // Never a rollback for a record: a stale copy keeps it for the newest one.
    await updateVault(paths, { ...store, allowRollback: false, onEntriesChanged: undefined }, (doc) => {
      recordEvidence(doc, event, data, now);
      return changed(undefined);
    });
    return { outcome: 'recorded' };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    if (!(e instanceof VaultError) && !(e as NodeJS.ErrnoException)?.code) throw e;
    if (!store.stateFile) return { outcome: 'lost', why };
    try {
      const { vaultId } = peekVault(readVaultFile(paths.vaultFile));
      return { outcome: 'deferred', why, file: await deferEvidence(store.stateFile, vaultId, { at: now.toISOString(), event, data, why }) };
    } catch (e2) {
      return { outcome: 'lost', why: `${why}; keeping it for later failed too: ${(e2 as Error).message}` };
    }
  }
}
