import { statSync } from 'node:fs';
import { VaultError } from './errors.js';
import { acquireLock, exists, readFileOr, sweepTempFiles, writeFileAtomic } from './fsutil.js';
import { formatKeyFile, newVaultKey, openKeyFile, protectKeyFile, type PassphraseSource, type VaultKey } from './keyfile.js';
import { newDocument, type VaultDocument } from './document.js';
import { openVault, sealVault, type VaultMeta } from './container.js';
import { lastSeen, recordSeen } from './state.js';

export interface VaultPaths {
  vaultFile: string;
  keyFile: string;
}

export interface StoreOptions {
  getPassphrase?: PassphraseSource;
  /** Where the highest generation seen per vault is kept; no rollback check without it. */
  stateFile?: string;
  /** Refuse (instead of warn about) a vault older than one seen before. */
  strict?: boolean;
  onWarning?: (message: string) => void;
  lockTimeoutMs?: number;
  now?: () => Date;
}

export interface OpenedVault {
  doc: VaultDocument;
  key: VaultKey;
  meta: VaultMeta;
}

/** Refuses a key file that group or others can read, naming the chmod to run. */
export function checkKeyFilePermissions(keyFile: string): void {
  let mode: number;
  try {
    mode = statSync(keyFile).mode;
  } catch {
    return; // readFileOr reports the missing file precisely
  }
  if (mode & 0o077) {
    throw new VaultError(
      'insecure-permissions',
      `key file ${keyFile} is accessible by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`,
      `run: chmod 600 ${keyFile}`,
    );
  }
}

export async function loadKey(keyFile: string, opts: StoreOptions = {}): Promise<VaultKey> {
  checkKeyFilePermissions(keyFile);
  return openKeyFile(readFileOr(keyFile, 'key file'), opts.getPassphrase);
}

function checkRollback(paths: VaultPaths, meta: VaultMeta, opts: StoreOptions): void {
  if (!opts.stateFile) return;
  const seen = lastSeen(opts.stateFile, meta.vaultId);
  if (seen && meta.generation < seen.generation) {
    const msg = `this copy of vault ${meta.vaultId.slice(0, 12)} is at generation ${meta.generation}, but generation ${seen.generation} was seen on this machine on ${seen.seenAt} (${seen.path}): it may be a stale copy`;
    if (opts.strict) throw new VaultError('rollback', msg, 'use the newest copy, or drop --strict to read this one anyway');
    opts.onWarning?.(msg);
  }
}

function remember(paths: VaultPaths, meta: { vaultId: string; generation: number }, opts: StoreOptions): void {
  if (!opts.stateFile) return;
  const err = recordSeen(opts.stateFile, meta.vaultId, meta.generation, paths.vaultFile, (opts.now ?? (() => new Date()))());
  if (err) opts.onWarning?.(err);
}

/** Opens and fully authenticates the vault; the key file is checked first. */
export async function readVault(paths: VaultPaths, opts: StoreOptions = {}, key?: VaultKey): Promise<OpenedVault> {
  const k = key ?? (await loadKey(paths.keyFile, opts));
  const file = readFileOr(paths.vaultFile, 'vault file');
  const { doc, meta } = openVault(file, k.identity, k.keyId);
  checkRollback(paths, meta, opts);
  remember(paths, meta, opts);
  return { doc, key: k, meta };
}

export function writeVault(paths: VaultPaths, doc: VaultDocument, opts: { exclusive?: boolean } = {}): void {
  writeFileAtomic(paths.vaultFile, sealVault(doc), opts);
}

/**
 * Read-modify-write under the vault's exclusive lock. The mutation runs on
 * the freshly read document; the generation goes up by one on every write.
 * A mutation that returns `{ unchanged: true }` writes nothing.
 */
export async function updateVault<R>(
  paths: VaultPaths,
  opts: StoreOptions,
  mutate: (doc: VaultDocument, key: VaultKey) => R | Promise<R>,
): Promise<R> {
  const key = await loadKey(paths.keyFile, opts);
  const release = await acquireLock(paths.vaultFile, opts.lockTimeoutMs);
  try {
    sweepTempFiles(paths.vaultFile);
    const { doc } = await readVault(paths, opts, key);
    const result = await mutate(doc, key);
    if ((result as { unchanged?: boolean } | undefined)?.unchanged) return result;
    doc.generation += 1;
    doc.updatedAt = (opts.now ?? (() => new Date()))().toISOString();
    writeVault(paths, doc);
    remember(paths, doc, opts);
    return result;
  } finally {
    release();
  }
}

export interface InitOptions extends StoreOptions {
  /** Protect vault.key with this passphrase (age scrypt, armored). */
  passphrase?: Uint8Array;
  logN?: number;
}

/** Creates vault.key and an empty secrets.vault; never replaces either. */
export async function initVault(paths: VaultPaths, opts: InitOptions = {}): Promise<{ key: VaultKey; doc: VaultDocument }> {
  for (const [p, what] of [[paths.keyFile, 'key file'], [paths.vaultFile, 'vault file']] as const) {
    if (exists(p)) throw new VaultError('exists', `${what} ${p} already exists; refusing to overwrite it`, 'choose other paths with --vault-file/--key-file');
  }
  const now = (opts.now ?? (() => new Date()))();
  const key = newVaultKey(now);
  const text = formatKeyFile(key);
  const keyBytes = opts.passphrase ? protectKeyFile(text, opts.passphrase, opts.logN) : Buffer.from(text);
  const doc = newDocument({ recipient: key.recipient, keyId: key.keyId }, now);
  doc.generation = 1;
  writeFileAtomic(paths.keyFile, keyBytes, { exclusive: true });
  writeVault(paths, doc, { exclusive: true });
  remember(paths, doc, opts);
  return { key, doc };
}
