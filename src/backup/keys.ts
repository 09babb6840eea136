import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { dirname } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { editSection, readSection, type BackupSection, type TrustedSigner, type VaultDocument } from '../vault/document.js';
import { findEntry, putEntry, rotateEntry } from '../vault/entries.js';
import { recordEvidence } from '../vault/evidence.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { exists, makeDirs } from '../fs/dirs.js';
import { LIMITS, readFileCapped } from '../fs/read.js';
import { checkNewName } from '../fs/output.js';
import { resolveTarget } from '../fs/target.js';
import { keyIdOf } from '../vault/keyfile.js';
import { changed, readVault, unchanged, updateVault, type StoreOptions, type VaultPaths } from '../vault/store.js';
import { X25519Identity } from '../age/x25519.js';

/**
 * The keys of backups. Backups are encrypted to the *backup recipient*, the
 * public half of an X25519 identity kept as the vault entry
 * `backup/identity` (type age-identity): a backup host needs only the
 * recipient, never vault.key, and escrowing the vault escrows the backups.
 * Rotating it adds a version; old versions stay, because old backups need
 * them.
 *
 * Age does not say who wrote a file, so each manifest is signed with the
 * backup host's Ed25519 signing key, whose public half the vault registers
 * ("trusted signers"): a manifest written or altered by anyone else is
 * refused (docs/THREAT-MODEL.md, "Backups").
 */
export const BACKUP_ENTRY = 'backup/identity';

/** The vault's backup section (declared with the document: vault/document-shape.ts). */
export type { TrustedSigner, BackupSection as BackupState } from '../vault/document.js';

/** The backup section, to change inside an update: created on first use. */
export function editBackupState(doc: VaultDocument): BackupSection {
  return editSection(doc, 'backup');
}

/** The backup section, for reading: never writes to the document. */
export function peekBackupState(doc: VaultDocument): Readonly<BackupSection> {
  return readSection(doc, 'backup');
}

export interface BackupKey {
  keyId: string;
  recipient: string;
  version: number;
  identity: X25519Identity;
}

/** Every version of the backup identity the vault holds, newest first. */
export function backupKeys(doc: VaultDocument): BackupKey[] {
  const e = findEntry(doc, BACKUP_ENTRY);
  if (!e) return [];
  return [...e.versions].reverse().map((v) => {
    const identity = X25519Identity.parse(Buffer.from(v.value, 'base64').toString('latin1'));
    return { keyId: keyIdOf(identity.recipient), recipient: identity.recipient, version: v.version, identity };
  });
}

/** The current backup recipient; made (and recorded) on first use. */
export async function ensureBackupKey(paths: VaultPaths, store: StoreOptions, now: Date): Promise<{ recipient: string; keyId: string; created: boolean }> {
  // Every run but the first finds it: a read, without the vault's lock (the backup's record takes it once, at the end).
  const found = currentBackupKey((await readVault(paths, store)).doc);
  if (found) return { ...found, created: false };
  return updateVault<{ recipient: string; keyId: string; created: boolean }>(paths, store, (doc) => {
    const have = currentBackupKey(doc);
    if (have) return unchanged({ ...have, created: false });
    putEntry(doc, { name: BACKUP_ENTRY, type: 'age-identity', description: 'the key that opens the backups (its recipient encrypts them)', update: true, now });
    const k = backupKeys(doc)[0]!;
    recordEvidence(doc, 'backup.key', { keyId: k.keyId, version: k.version, recipient: k.recipient }, now);
    return changed({ recipient: k.recipient, keyId: k.keyId, created: true });
  });
}

/** The newest backup key's recipient, if there is one; a removed backup key is never silently replaced (its versions still open the backups made with them). */
function currentBackupKey(doc: VaultDocument): { recipient: string; keyId: string } | undefined {
  if (findEntry(doc, BACKUP_ENTRY)?.deletedAt)
    throw new VaultError('not-found', `${BACKUP_ENTRY} was removed; its versions still open older backups, and no new one is made in its place`, {
      code: 'backup-key-removed',
    });
  const have = backupKeys(doc)[0];
  return have ? { recipient: have.recipient, keyId: have.keyId } : undefined;
}

/** A new backup key; the old versions stay in the vault for the backups made with them. */
export async function rotateBackupKey(paths: VaultPaths, store: StoreOptions, now: Date): Promise<BackupKey> {
  return updateVault(paths, store, (doc) => {
    if (!findEntry(doc, BACKUP_ENTRY)) throw new VaultError('not-found', 'there is no backup key yet', { code: 'backup-no-key' });
    rotateEntry(doc, BACKUP_ENTRY, now);
    const k = backupKeys(doc)[0]!;
    recordEvidence(doc, 'backup.key', { keyId: k.keyId, version: k.version, recipient: k.recipient, rotated: true }, now);
    return changed(k);
  });
}

export interface SigningKey {
  id: string;
  publicKey: string;
  privateKey: KeyObject;
}

const rawPublic = (k: KeyObject) => Buffer.from(createPublicKey(k).export({ format: 'der', type: 'spki' })).subarray(12);
export const signerId = (publicKey: string) => createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('hex').slice(0, 16);

/** The DER prefix of an Ed25519 private key in PKCS#8 (RFC 8410): the 32-byte seed follows. */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The host's signing key (PKCS#8 PEM, mode 0600), made on first use. */
export function loadSigningKey(path: string, create = true): SigningKey {
  let privateKey: KeyObject;
  if (exists(path)) {
    try {
      privateKey = createPrivateKey(readFileCapped(path, 'signing key', LIMITS.keyFile));
    } catch (e) {
      if (e instanceof VaultError) throw e;
      throw new VaultError('integrity', `the signing key ${path} is not an Ed25519 private key`);
    }
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new VaultError('integrity', `the signing key ${path} is not an Ed25519 private key`);
  } else {
    if (!create) throw new VaultError('not-found', `signing key not found: ${path}`);
    // Made at a name the tool reads as its own (a vault's lock: the next write of the vault would find it in the way).
    checkNewName(resolveTarget(path), path);
    // 32 random bytes as the seed, imported (PKCS#8): never generateKeyPairSync, whose key Node may deadlock on when it is exported (age/x25519.ts).
    privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, randomBytes(32)]), format: 'der', type: 'pkcs8' });
    makeDirs(dirname(path));
    writeFileAtomic(path, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { exclusive: true });
  }
  const publicKey = rawPublic(privateKey).toString('base64');
  return { id: signerId(publicKey), publicKey, privateKey };
}

export function signBytes(k: SigningKey, data: Uint8Array): string {
  return sign(null, data, k.privateKey).toString('base64');
}

export function verifyBytes(publicKey: string, data: Uint8Array, signature: string): boolean {
  try {
    return verify(null, data, publicKeyOf(publicKey), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/**
 * A signer's public key as a key object, made once per key: a restore's plan checks the manifest of every WAL segment it
 * replays, nearly all by one host, and making the key object again for each took as long as the check itself.
 */
const keyObjects = new Map<string, KeyObject>();
function publicKeyOf(publicKey: string): KeyObject {
  let k = keyObjects.get(publicKey);
  if (!k) {
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKey, 'base64')]);
    k = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    // A handful of hosts at most; a bound all the same.
    if (keyObjects.size >= 64) keyObjects.clear();
    keyObjects.set(publicKey, k);
  }
  return k;
}

/** Stops trusting a host's signing key (a host retired or compromised): its manifests no longer count. Recorded. */
export async function untrustSigner(paths: VaultPaths, store: StoreOptions, idOrKey: string, now: Date): Promise<TrustedSigner> {
  return updateVault(paths, store, (doc) => {
    const st = editBackupState(doc);
    const s = st.signers.find((x) => x.id === idOrKey || x.publicKey === idOrKey || (x.label !== '' && x.label === idOrKey));
    if (!s) throw new VaultError('not-found', `no trusted signing key ${idOrKey}`, { code: 'backup-no-signer' });
    st.signers = st.signers.filter((x) => x !== s);
    recordEvidence(doc, 'backup.signer.removed', { id: s.id, label: s.label }, now);
    return changed(s);
  });
}

/** Registers a host's signing key in the vault (an officer's decision, recorded). */
export async function trustSigner(paths: VaultPaths, store: StoreOptions, publicKey: string, label: string, now: Date): Promise<TrustedSigner> {
  const raw = Buffer.from(publicKey, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== publicKey)
    throw new VaultError('usage', 'a signing key is 32 bytes of standard base64 (44 characters), as `backup signer` prints it');
  return updateVault(paths, store, (doc) => {
    const st = editBackupState(doc);
    const id = signerId(publicKey);
    const have = st.signers.find((s) => s.id === id);
    if (have) return unchanged(have);
    const s: TrustedSigner = { id, publicKey, label, addedAt: now.toISOString() };
    st.signers.push(s);
    recordEvidence(doc, 'backup.signer', { id, label }, now);
    return changed(s);
  });
}
