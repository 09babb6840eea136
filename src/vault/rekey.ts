import { renameSync, unlinkSync } from 'node:fs';
import { VaultError } from './errors.js';
import { exists, readFileOr, writeFileAtomic } from './fsutil.js';
import { formatKeyFile, newVaultKey, openKeyFile, protectKeyFile, type VaultKey } from './keyfile.js';
import { peekVault } from './container.js';
import { updateVault, type StoreOptions, type VaultPaths } from './store.js';

/**
 * Replacing the vault key in two phases, so a crash at any instant leaves a
 * vault that opens with the old or the new key file:
 *   start:   write <key>.new; re-encrypt the vault to old + new key.
 *   confirm: re-encrypt to the new key only; <key> → <key>.old-<id>, <key>.new → <key>.
 *   abort:   re-encrypt to the old key only; remove <key>.new.
 */
export const newKeyPath = (keyFile: string) => keyFile + '.new';
export const oldKeyPath = (keyFile: string, keyId: string) => `${keyFile}.old-${keyId}`;

export async function startRekey(paths: VaultPaths, opts: StoreOptions & { passphrase?: Uint8Array; logN?: number }): Promise<{ oldKeyId: string; newKeyId: string; newKeyFile: string }> {
  const newFile = newKeyPath(paths.keyFile);
  return updateVault(paths, opts, (doc, key) => {
    if (doc.pendingKey) {
      throw new VaultError('exists', `a rekey to key id ${doc.pendingKey.keyId} is already pending`, 'finish it with `vault-tool rekey --confirm` or `vault-tool rekey --abort`');
    }
    if (exists(newFile)) throw new VaultError('exists', `${newFile} already exists`, 'move it away first; it may be the key of an unfinished rekey');
    const now = (opts.now ?? (() => new Date()))();
    const nk = newVaultKey(now);
    const text = formatKeyFile(nk);
    writeFileAtomic(newFile, opts.passphrase ? protectKeyFile(text, opts.passphrase, opts.logN) : text, { exclusive: true });
    doc.pendingKey = { recipient: nk.recipient, keyId: nk.keyId, startedAt: now.toISOString(), previousKeyId: key.keyId };
    return { oldKeyId: key.keyId, newKeyId: nk.keyId, newKeyFile: newFile };
  });
}

export async function confirmRekey(paths: VaultPaths, opts: StoreOptions): Promise<{ oldKeyId: string; newKeyId: string; oldKeyFile: string }> {
  const newFile = newKeyPath(paths.keyFile);
  const resumed = await resumeConfirm(paths, opts);
  if (resumed) return resumed;
  let newKey: VaultKey | undefined;
  const r = await updateVault(paths, opts, async (doc, key) => {
    if (!doc.pendingKey) throw new VaultError('usage', 'no rekey is pending', 'start one with `vault-tool rekey`');
    if (key.keyId !== doc.pendingKey.previousKeyId) throw new VaultError('usage', 'confirm the rekey with the old key file in place (the new one is read from <key>.new)');
    newKey = await openKeyFile(readFileOr(newFile, 'new key file'), opts.getPassphrase);
    if (newKey.keyId !== doc.pendingKey.keyId) {
      throw new VaultError('wrong-key', `${newFile} holds key id ${newKey.keyId}, but the pending rekey is to ${doc.pendingKey.keyId}`);
    }
    doc.key = { recipient: doc.pendingKey.recipient, keyId: doc.pendingKey.keyId };
    delete doc.pendingKey;
    return { oldKeyId: key.keyId, newKeyId: newKey.keyId, oldKeyFile: oldKeyPath(paths.keyFile, key.keyId) };
  });
  // The vault now opens only with the new key: move the files into place.
  renameSync(paths.keyFile, r.oldKeyFile);
  renameSync(newFile, paths.keyFile);
  return r;
}

export async function abortRekey(paths: VaultPaths, opts: StoreOptions): Promise<{ abandonedKeyId: string }> {
  const r = await updateVault(paths, opts, (doc) => {
    if (!doc.pendingKey) throw new VaultError('usage', 'no rekey is pending');
    const abandonedKeyId = doc.pendingKey.keyId;
    delete doc.pendingKey;
    return { abandonedKeyId };
  });
  try {
    unlinkSync(newKeyPath(paths.keyFile));
  } catch {
    /* already removed */
  }
  return r;
}

/** A confirm interrupted after the vault was re-encrypted but before the key files moved: finish the moves. */
async function resumeConfirm(paths: VaultPaths, opts: StoreOptions): Promise<{ oldKeyId: string; newKeyId: string; oldKeyFile: string } | null> {
  const newFile = newKeyPath(paths.keyFile);
  if (!exists(newFile) || !exists(paths.keyFile)) return null;
  const meta = peekVault(readFileOr(paths.vaultFile, 'vault file'));
  const oldKey = await openKeyFile(readFileOr(paths.keyFile, 'key file'), opts.getPassphrase);
  if (meta.keyIds.includes(oldKey.keyId)) return null;
  const newKey = await openKeyFile(readFileOr(newFile, 'new key file'), opts.getPassphrase);
  if (!meta.keyIds.includes(newKey.keyId)) return null;
  const oldKeyFile = oldKeyPath(paths.keyFile, oldKey.keyId);
  renameSync(paths.keyFile, oldKeyFile);
  renameSync(newFile, paths.keyFile);
  return { oldKeyId: oldKey.keyId, newKeyId: newKey.keyId, oldKeyFile };
}
