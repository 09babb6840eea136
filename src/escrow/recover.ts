import { linkSync } from 'node:fs';
import { hostname } from 'node:os';
import { VaultError } from '../errors/errors.js';
import { isProtectedKeyFile, keyFileWorkFactor, keyFromScalar, keyIdOf, parseKeyFile, type VaultKey } from '../vault/keyfile.js';
import { isClamped, X25519Identity } from '../age/x25519.js';
import { exists } from '../fs/dirs.js';
import { fsError } from '../fs/errors.js';
import { resolveTarget } from '../fs/target.js';
import { checkOutput } from '../fs/output.js';
import { sweepTempFiles, writeFileAtomic } from '../fs/atomic.js';
import { LIMITS, readFileCapped } from '../fs/read.js';
import { changed, keyFileBytes, readVaultFile, updateVault, type StoreOptions } from '../vault/store.js';
import { openVault, peekVault } from '../vault/container.js';
import { asideStamp } from '../vault/time.js';
import { addPendingEvidence, checkPendingEvidence, pendingEvidencePath } from '../vault/pending-evidence.js';
import type { Share } from './envelope.js';
import { combineShares, type SetAside, type SetInfo, type ShareInput } from './combine.js';
import { COMBINE_EVENT, combineRecord } from './combine-record.js';

/**
 * Recovering the vault key from shares into a key file: checked against the
 * vault it must open before anything is written, the same file that was
 * split (its creation time comes with the shares), and recorded (who, from
 * which custodians' shares) in the vault's evidence log or, where no vault
 * can take it, beside the key file until one does.
 */

/** Key id of a recovered scalar; a non-canonical scalar (see clampScalar) never matches. */
export const idOfSecret = (secret: Uint8Array) => (isClamped(secret) ? keyIdOf(new X25519Identity(secret).recipient) : '');

/** The vault key as a key file rebuilt from shares holds it: with the original `# created:` time when the shares carry it. */
export function recoveredKey(secret: Uint8Array, keyCreatedAt: string | undefined, now: Date): VaultKey {
  return keyFromScalar(secret, keyCreatedAt ?? now.toISOString());
}

export interface RecoverOptions {
  force?: boolean;
  now?: Date;
  /** The vault the key is meant to open; checked before anything is written (its key ids need no key). */
  vaultFile?: string;
  /** Write the key even when it does not open `vaultFile`. */
  skipVaultCheck?: boolean;
  /** Asked when the key file must be passphrase-protected (as the vault or the replaced file says, or `protect`). */
  getPassphrase?: () => Promise<Uint8Array>;
  protect?: boolean;
  /**
   * Record the rebuild (`escrow.combine`): who, from which custodians' shares.
   * It goes into the vault's evidence log when the key opens `vaultFile` and
   * the vault can be written (with `store`); otherwise, and always first, it
   * is kept beside the key file (vault/pending-evidence.ts) until a write of
   * a vault with that key file carries it in.
   */
  record?: { operator: string; manifestKey?: string };
  store?: StoreOptions;
}

/** Where the record of a rebuild went. */
export type CombineEvidence = { recorded: 'vault'; vaultFile: string } | { recorded: 'pending'; file: string; why: string };

export interface RecoverResult {
  key: VaultKey;
  bad: Share[];
  /** Why each of `bad` was set aside, in the same order. */
  reasons: string[];
  /** Everything set aside (also inputs that could not be read as shares), in the order given. */
  setAside: SetAside[];
  used: Share[];
  /** The set the key came from. */
  set: SetInfo;
  /** Whether the shares carried the key file's creation time, so the file written is the original byte for byte (format 2 shares). */
  exact: boolean;
  /** Where the key file that was replaced now is (never deleted). */
  keptAside?: string;
  protected: boolean;
  /** opens: the key opens vaultFile; none: no vault there to check; other: it does not (written to a new file, or the check was skipped). */
  vault: 'opens' | 'none' | 'other';
  /** Where the evidence record went (with `record`). */
  evidence?: CombineEvidence;
}

/**
 * Recovers the vault key from shares and writes it as a key file (0600).
 * Before writing: the key is checked against the vault's key ids (a key from
 * an older split may go to a new file, but never replaces a key file unless
 * `skipVaultCheck`), an existing file is
 * replaced only with `force` and is kept aside, never deleted; the new file
 * keeps the protection the key had (the vault records it) or the replaced
 * file had.
 */
export async function recoverKeyFile(shares: ShareInput[], outPath: string, o: RecoverOptions = {}): Promise<RecoverResult> {
  // A link is written through (the key it names is replaced, and kept aside, in its own folder).
  const out = resolveTarget(outPath);
  // The record goes beside the key file first: where it cannot (a link there, a file of another kind), nothing is written.
  if (o.record) checkPendingEvidence(out);
  const existing = exists(out);
  if (existing && !o.force) throw new VaultError('exists', `${outPath} already exists; refusing to overwrite it`, { code: 'combine-exists' });
  // A new file, too, only under a name the tool does not read as one of its own (an evidence log, a lock).
  if (!existing) checkOutput(out, 'key', { force: true });
  if (existing) {
    // Only a key file is replaced: never a vault, a device, or anything else.
    checkOutput(out, 'key', { force: true });
    const data = readFileCapped(out, 'key file', LIMITS.keyFile);
    if (!isProtectedKeyFile(data)) {
      try {
        parseKeyFile(data.toString('utf8'));
      } catch (e) {
        throw new VaultError('exists', `refusing to replace ${outPath}: it is not a valid key file (${(e as Error).message})`, { code: 'replace-refused' });
      }
    }
    // A key is replaced only by one checked against the vault it must open.
    if (!o.skipVaultCheck && !(o.vaultFile && exists(o.vaultFile))) {
      throw new VaultError(
        'not-found',
        `refusing to replace key file ${outPath}: there is no vault${o.vaultFile ? ` at ${o.vaultFile}` : ''} to check the recovered key against`,
        { code: 'combine-no-vault' },
      );
    }
  }
  const combined = await combineShares(shares, idOfSecret);
  const { secret, bad, used, reasons } = combined;
  const key = recoveredKey(secret, combined.keyCreatedAt, o.now ?? new Date());
  let vault: RecoverResult['vault'] = 'none';
  let protect = Boolean(o.protect);
  let recordedLogN: number | undefined;
  if (o.vaultFile && exists(o.vaultFile)) {
    const file = readVaultFile(o.vaultFile);
    const meta = peekVault(file);
    if (!meta.keyIds.includes(key.keyId)) {
      // Writing a new file destroys nothing (an old key is wanted for old copies); replacing one must not lose the key that opens the vault.
      if (existing && !o.skipVaultCheck) {
        throw new VaultError(
          'wrong-key',
          `the recovered key (key id ${key.keyId}) does not open ${o.vaultFile}, which opens with key id${meta.keyIds.length > 1 ? 's' : ''} ${meta.keyIds.join(', ')}: the shares are from a split of an older key`,
          { code: 'combine-older-key' },
        );
      }
      vault = 'other';
    } else {
      const { doc } = openVault(file, key.identity, key.keyId);
      const meta = doc.key.keyId === key.keyId ? doc.key : doc.pendingKey?.keyId === key.keyId ? doc.pendingKey : undefined;
      if (meta?.protected) protect = true;
      // The work factor the key's file had (recorded since it was made), kept for the recovered file.
      recordedLogN = meta?.protected ? meta.workFactor : undefined;
      vault = 'opens';
    }
  }
  let logN: number | undefined = recordedLogN;
  if (existing) {
    const replaced = keyFileWorkFactor(readFileCapped(out, 'key file', LIMITS.keyFile));
    if (replaced !== undefined) {
      protect = true;
      logN = Math.max(replaced, logN ?? 0);
    }
  }
  let passphrase: Uint8Array | undefined;
  if (protect) {
    if (!o.getPassphrase) throw new VaultError('passphrase', 'the key file must be passphrase-protected (as the vault key was), and no passphrase was given');
    passphrase = await o.getPassphrase();
  }
  const bytes = keyFileBytes(key, passphrase, logN);
  const now = o.now ?? new Date();
  const keptAside = existing ? `${out}.replaced-${asideStamp(now)}` : undefined;
  // The record is kept beside the key file before the key is written, so a key never exists without one.
  const record = o.record
    ? combineRecord(combined, {
        keyId: key.keyId,
        keyFile: out,
        replaced: keptAside ?? null,
        protected: Boolean(passphrase),
        operator: o.record.operator,
        host: hostname(),
        manifestKey: o.record.manifestKey ?? null,
        vaultFile: o.vaultFile ?? null,
        vault,
      })
    : undefined;
  // Taking it back removes this run's record only: another run's, added meanwhile, stays.
  const pending = record ? await addPendingEvidence(out, { event: COMBINE_EVENT, at: now.toISOString(), data: record }) : undefined;
  try {
    sweepTempFiles(out);
    if (keptAside) {
      try {
        linkSync(out, keptAside);
      } catch (e) {
        throw fsError(e, 'keep the replaced key file as', keptAside);
      }
      writeFileAtomic(out, bytes);
    } else {
      writeFileAtomic(out, bytes, { exclusive: true });
    }
  } catch (e) {
    await pending?.takeBack();
    throw e;
  }
  let evidence: CombineEvidence | undefined;
  if (record) {
    const file = pendingEvidencePath(out);
    if (vault === 'opens') {
      try {
        // Any write of the vault with this key file carries the waiting record into its log (vault/store.ts).
        await updateVault({ vaultFile: o.vaultFile!, keyFile: out }, { ...o.store, key, ownPending: [pending!.line] }, () => changed(undefined));
        evidence = { recorded: 'vault', vaultFile: o.vaultFile! };
      } catch (e) {
        evidence = { recorded: 'pending', file, why: `the vault could not be written: ${(e as Error).message}` };
      }
    } else
      evidence = {
        recorded: 'pending',
        file,
        why: vault === 'none' ? `there is no vault${o.vaultFile ? ` at ${o.vaultFile}` : ''}` : `the key does not open ${o.vaultFile}`,
      };
  }
  return {
    key,
    bad,
    used,
    reasons,
    setAside: combined.setAside,
    set: combined.set,
    exact: Boolean(combined.keyCreatedAt),
    ...(keptAside ? { keptAside } : {}),
    protected: Boolean(passphrase),
    vault,
    ...(evidence ? { evidence } : {}),
  };
}

/** The key id a plaintext key file names (null when protected or unreadable): for messages only. */
export function keyIdOfFile(path: string): string | null {
  try {
    const data = readFileCapped(path, 'key file', LIMITS.keyFile);
    return isProtectedKeyFile(data) ? null : parseKeyFile(data.toString('utf8')).keyId;
  } catch {
    return null;
  }
}
