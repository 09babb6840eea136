import { linkSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { exists } from '../fs/dirs.js';
import { fsError } from '../fs/errors.js';
import { fsyncDir, refuseLink, removeQuietly, sweepTempFiles, writeFileAtomic } from '../fs/atomic.js';
import { LIMITS, readFileCapped } from '../fs/read.js';
import { isProtectedKeyFile, keyFileWorkFactor, newKeyPath, newVaultKey, oldKeyPath, parseKeyFile, type VaultKey } from './keyfile.js';
import { peekVault } from './container.js';
import {
  changed,
  keyFileBytes,
  loadKey,
  readVaultFile,
  resolvePaths,
  unchanged,
  updateLocked,
  withVaultLock,
  type StoreOptions,
  type VaultPaths,
} from './store.js';

export { newKeyPath, oldKeyPath } from './keyfile.js';

/**
 * Replacing the vault key in two phases, every step under the vault lock, so
 * that a kill at any instant leaves a vault that opens with a key file in
 * place, and running the same command again finishes the step:
 *   start:   write <key>.new (protected as <key> is); re-encrypt the vault to old + new key.
 *            Killed before the vault write: <key>.new opens nothing and the next start replaces it.
 *   confirm: link <key> to <key>.old-<id>; re-encrypt to the new key only; rename <key>.new over <key>.
 *            Killed after the vault write: the vault opens only with <key>.new, and confirm finishes the rename.
 *   abort:   re-encrypt to the old key only; remove <key>.new.
 */
export interface RekeyStarted {
  oldKeyId: string;
  newKeyId: string;
  newKeyFile: string;
  protected: boolean;
}

/** The protection of the key file (passphrase and work factor), for the key that replaces it. */
async function protectionLike(keyFile: string, opts: StoreOptions): Promise<{ passphrase?: Uint8Array; logN?: number }> {
  const logN = keyFileWorkFactor(readFileCapped(keyFile, 'key file', LIMITS.keyFile));
  if (logN === undefined) return {};
  if (!opts.getPassphrase) throw new VaultError('passphrase', 'the key file is passphrase-protected, so the new key must be too, and no passphrase was given');
  return { passphrase: await opts.getPassphrase(), logN };
}

export async function startRekey(paths: VaultPaths, opts: StoreOptions): Promise<RekeyStarted> {
  paths = resolvePaths(paths);
  const key = await loadKey(paths.keyFile, opts);
  const { passphrase, logN } = await protectionLike(paths.keyFile, opts);
  const newFile = newKeyPath(paths.keyFile);
  return withVaultLock(paths, opts, () =>
    updateLocked(paths, opts, key, (doc) => {
      if (doc.pendingKey) {
        throw new VaultError('exists', `a rekey to key id ${doc.pendingKey.keyId} is already pending`, { code: 'rekey-pending' });
      }
      // A <key>.new here opens nothing (the vault opens with the old key and lists no pending key):
      // a start killed before its vault write left it. It is replaced.
      const now = (opts.now ?? (() => new Date()))();
      const nk = newVaultKey(now);
      // A link planted at <key>.new is refused: the new key goes to this name only, never to what a link names.
      writeFileAtomic(newFile, keyFileBytes(nk, passphrase, logN), { ownFile: 'the new key file' });
      doc.pendingKey = {
        recipient: nk.recipient,
        keyId: nk.keyId,
        startedAt: now.toISOString(),
        previousKeyId: key.keyId,
        protected: Boolean(passphrase),
        ...(passphrase && logN !== undefined ? { workFactor: logN } : {}),
      };
      return changed({ oldKeyId: key.keyId, newKeyId: nk.keyId, newKeyFile: newFile, protected: Boolean(passphrase) });
    }),
  );
}

export interface RekeyConfirmed {
  oldKeyId: string;
  newKeyId: string;
  oldKeyFile: string;
  /** The vault had already switched keys; only the files were moved. */
  resumed: boolean;
}

/** Gives the old key file a second name, <key>.old-<id>, so it outlives the rename of the new key over it. */
function keepOldKey(keyFile: string, oldFile: string): void {
  try {
    linkSync(keyFile, oldFile);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(e, 'keep the old key as', oldFile);
    if (!readFileCapped(oldFile, 'key file', LIMITS.keyFile).equals(readFileCapped(keyFile, 'key file', LIMITS.keyFile))) {
      throw new VaultError('exists', `${oldFile} already exists and holds another key; refusing to replace it`, 'move it away, then confirm again');
    }
  }
  fsyncDir(dirname(keyFile));
}

function moveNewKey(paths: VaultPaths): void {
  try {
    renameSync(newKeyPath(paths.keyFile), paths.keyFile);
  } catch (e) {
    throw fsError(e, 'move the new key to', paths.keyFile);
  }
  fsyncDir(dirname(paths.keyFile));
}

export async function confirmRekey(paths: VaultPaths, opts: StoreOptions): Promise<RekeyConfirmed> {
  paths = resolvePaths(paths);
  const newFile = newKeyPath(paths.keyFile);
  return withVaultLock(paths, opts, async () => {
    const meta = peekVault(readVaultFile(paths.vaultFile));
    const openNew = async (): Promise<VaultKey> => {
      refuseLink(newFile, 'the new key file', 'read');
      if (!exists(newFile)) throw new VaultError('not-found', `new key file not found: ${newFile}`, 'no rekey is waiting for confirmation here');
      return loadKey(newFile, opts);
    };
    if (!exists(paths.keyFile)) {
      // An older release moved the old key away first and was killed before moving the new one.
      const nk = await openNew();
      if (meta.keyIds[0] !== nk.keyId)
        throw new VaultError('wrong-key', `${paths.keyFile} is missing and ${newFile} (key id ${nk.keyId}) does not open the vault either`);
      moveNewKey(paths);
      return { oldKeyId: '', newKeyId: nk.keyId, oldKeyFile: '', resumed: true };
    }
    const oldKey = await loadKey(paths.keyFile, opts);
    const oldFile = oldKeyPath(paths.keyFile, oldKey.keyId);
    if (!meta.keyIds.includes(oldKey.keyId)) {
      const nk = await openNew();
      if (meta.keyIds[0] !== nk.keyId)
        throw new VaultError(
          'wrong-key',
          `neither ${paths.keyFile} (key id ${oldKey.keyId}) nor ${newFile} (key id ${nk.keyId}) opens the vault (key ids ${meta.keyIds.join(', ')})`,
        );
      // The vault switched keys before a kill: finish moving the files.
      keepOldKey(paths.keyFile, oldFile);
      moveNewKey(paths);
      return { oldKeyId: oldKey.keyId, newKeyId: nk.keyId, oldKeyFile: oldFile, resumed: true };
    }
    const r = await updateLocked(paths, opts, oldKey, async (doc) => {
      if (!doc.pendingKey) throw new VaultError('usage', 'no rekey is pending', { code: 'no-rekey' });
      const nk = await openNew();
      if (nk.keyId !== doc.pendingKey.keyId) {
        throw new VaultError('wrong-key', `${newFile} holds key id ${nk.keyId}, but the pending rekey is to ${doc.pendingKey.keyId}`);
      }
      keepOldKey(paths.keyFile, oldFile);
      const now = (opts.now ?? (() => new Date()))().toISOString();
      doc.retiredKeys = [...(doc.retiredKeys ?? []), { recipient: doc.key.recipient, keyId: doc.key.keyId, retiredAt: now }];
      doc.key = {
        recipient: doc.pendingKey.recipient,
        keyId: doc.pendingKey.keyId,
        ...(doc.pendingKey.protected !== undefined ? { protected: doc.pendingKey.protected } : {}),
        ...(doc.pendingKey.workFactor !== undefined ? { workFactor: doc.pendingKey.workFactor } : {}),
      };
      delete doc.pendingKey;
      return changed({ oldKeyId: oldKey.keyId, newKeyId: nk.keyId, oldKeyFile: oldFile, resumed: false });
    });
    // The vault now opens only with the new key: put it in place.
    moveNewKey(paths);
    return r;
  });
}

/** The key id named in a plaintext key file's comments or identity; null when it is protected or unreadable. */
function peekKeyId(path: string): string | null {
  try {
    const data = readFileCapped(path, 'key file', LIMITS.keyFile);
    return isProtectedKeyFile(data) ? null : parseKeyFile(data.toString('utf8')).keyId;
  } catch {
    return null;
  }
}

export async function abortRekey(paths: VaultPaths, opts: StoreOptions): Promise<{ abandonedKeyId: string | null; leftover: boolean }> {
  paths = resolvePaths(paths);
  const newFile = newKeyPath(paths.keyFile);
  return withVaultLock(paths, opts, async () => {
    const meta = peekVault(readVaultFile(paths.vaultFile));
    const key = await loadKey(paths.keyFile, opts);
    if (!meta.keyIds.includes(key.keyId)) {
      throw new VaultError('usage', 'the rekey was already confirmed (the vault opens only with the new key): it cannot be aborted', {
        code: 'rekey-confirmed',
      });
    }
    const r = await updateLocked(paths, opts, key, (doc) => {
      if (doc.pendingKey) {
        const abandonedKeyId = doc.pendingKey.keyId;
        delete doc.pendingKey;
        return changed({ abandonedKeyId, leftover: false });
      }
      if (!exists(newFile)) throw new VaultError('usage', 'no rekey is pending');
      // No pending key in the vault, but a <key>.new beside it: a start killed before its vault write.
      return unchanged({ abandonedKeyId: peekKeyId(newFile), leftover: true });
    });
    removeQuietly(newFile);
    sweepTempFiles(newFile);
    fsyncDir(dirname(newFile));
    return r;
  });
}
