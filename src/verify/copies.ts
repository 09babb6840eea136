import { createHash, randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { VaultError } from '../errors/errors.js';
import type { Verdict } from '../errors/verdict.js';
import type { VaultDocument } from '../vault/document.js';
import { openVault, peekVault } from '../vault/container.js';
import { fileStamp } from '../vault/time.js';
import { recordEvidence } from '../vault/evidence.js';
import type { OnProgress } from '../fs/progress.js';
import { LIMITS, readFileCapped } from '../fs/read.js';
import { openKeyFile, type PassphraseSource, type VaultKey } from '../vault/keyfile.js';
import { changed, loadKey, readVaultFile, updateLocked, withVaultLock, type StoreOptions, type VaultPaths } from '../vault/store.js';
import type { Destination } from '../dest/dest.js';
import { editVerifyState, type CopyRecord } from './state.js';

export type { CopyRecord } from './state.js';

export interface CopyOptions {
  to: Destination;
  keyTo?: Destination;
  /** Allow the vault and its key in the same place. */
  force?: boolean;
  now: Date;
  /** Registered copies (ids) the new ones take the place of: unregistered in the same write (their files are left as they are). */
  replaces?: string[];
  /** Told how the copy goes (`item`: the vault copy, then the key copy): writing, reading back, opening. */
  onProgress?: OnProgress;
}

/**
 * Writes a dated copy of the vault (and, to a separate place, of its key),
 * reads each back and opens it as `list` does, then registers the copies in
 * the vault and its evidence log. A copy that does not check out is removed
 * and nothing is registered. Runs under the vault lock, so the copy is of
 * the vault as it is.
 */
export async function copyVault(
  paths: VaultPaths,
  store: StoreOptions,
  o: CopyOptions,
): Promise<{ vault: CopyRecord; key?: CopyRecord; replaced: CopyRecord[] }> {
  if (o.keyTo && o.to.samePlace(o.keyTo) && !o.force) {
    throw new VaultError('usage', `the vault and its key would be copied to the same place (${o.to.place}): whoever holds both holds every secret`, {
      code: 'copy-same-place',
    });
  }
  const key = await loadKey(paths.keyFile, store);
  return withVaultLock(paths, store, async () => {
    const bytes = readVaultFile(paths.vaultFile);
    const { meta } = openVault(bytes, key.identity, key.keyId);
    const when = fileStamp(o.now);
    const written: [Destination, string][] = [];
    // Each copy's name carries its id: two copies in the same second never collide.
    const ids = { vault: randomBytes(4).toString('hex'), key: randomBytes(4).toString('hex') };
    try {
      const vaultName = `${basename(paths.vaultFile)}.${when}-${ids.vault}`;
      const say = (item: string, phase: string) => o.onProgress?.({ item, phase });
      say('vault copy', `writing it to ${o.to.locate(vaultName)}`);
      const v = await o.to.write(vaultName, bytes, { exclusive: true });
      written.push([o.to, vaultName]);
      say('vault copy', 'reading it back');
      const back = await o.to.read(vaultName, LIMITS.vaultFile, 'vault copy');
      if (!back.equals(bytes)) throw new VaultError('integrity', `the copy read back from ${v.location} differs from what was written`);
      say('vault copy', 'opening it');
      openVault(back, key.identity, key.keyId);
      const vaultRec: CopyRecord = {
        id: ids.vault,
        kind: 'vault',
        dest: o.to.spec,
        file: vaultName,
        vaultId: meta.vaultId,
        generation: meta.generation,
        keyId: key.keyId,
        sha256: v.sha256,
        createdAt: o.now.toISOString(),
      };
      let keyRec: CopyRecord | undefined;
      if (o.keyTo) {
        const keyBytes = readFileCapped(paths.keyFile, 'key file', LIMITS.keyFile);
        const keyName = `${basename(paths.keyFile)}.${when}-${ids.key}`;
        say('key copy', `writing it to ${o.keyTo.locate(keyName)}`);
        const k = await o.keyTo.write(keyName, keyBytes, { exclusive: true });
        written.push([o.keyTo, keyName]);
        say('key copy', 'checking its mode and reading it back');
        const exposed = exposedBy(await o.keyTo.mode(keyName));
        if (exposed) throw new VaultError('insecure-permissions', `the key copy at ${k.location} ${exposed}`, { code: 'key-copy-exposed' });
        const kb = await o.keyTo.read(keyName, LIMITS.keyFile, 'key copy');
        const copied = await openKeyFile(kb, store.getPassphrase);
        if (copied.keyId !== key.keyId)
          throw new VaultError('integrity', `the key copy read back from ${k.location} holds key id ${copied.keyId}, not ${key.keyId}`);
        openVault(back, copied.identity, copied.keyId);
        keyRec = {
          id: ids.key,
          kind: 'key',
          dest: o.keyTo.spec,
          file: keyName,
          vaultId: meta.vaultId,
          generation: meta.generation,
          keyId: key.keyId,
          sha256: k.sha256,
          createdAt: o.now.toISOString(),
          pair: vaultRec.id,
        };
        vaultRec.pair = keyRec.id;
      }
      say('registration', 'recording the copies in the vault');
      const replaced = await updateLocked(paths, store, key, (d) => {
        const st = editVerifyState(d);
        const gone = (o.replaces ?? []).map((id) => {
          const c = st.copies.find((x) => x.id === id);
          if (!c) throw new VaultError('not-found', `no registered copy ${id}`, { code: 'copy-missing' });
          return c;
        });
        st.copies = st.copies.filter((c) => !gone.includes(c));
        st.copies.push(vaultRec, ...(keyRec ? [keyRec] : []));
        recordEvidence(
          d,
          'vault.copy',
          {
            vault: { id: vaultRec.id, at: o.to.locate(vaultRec.file), sha256: vaultRec.sha256 },
            ...(keyRec ? { key: { id: keyRec.id, at: o.keyTo!.locate(keyRec.file), sha256: keyRec.sha256 } } : {}),
            generation: meta.generation,
            ...(gone.length ? { replaces: gone.map((c) => ({ id: c.id, kind: c.kind, dest: c.dest, file: c.file })) } : {}),
          },
          o.now,
        );
        return changed(gone);
      });
      return { vault: vaultRec, ...(keyRec ? { key: keyRec } : {}), replaced };
    } catch (e) {
      for (const [d, n] of written) await d.remove(n).catch(() => undefined);
      throw e;
    }
  });
}

export type CopyStatus = 'current' | 'stale' | 'diverged' | 'other-vault' | 'old-key' | 'missing' | 'damaged' | 'exposed' | 'unreachable';

/** What a key copy's mode lets others do, or null when only its owner can read it (or the place keeps no mode). */
export function exposedBy(mode: number | undefined): string | null {
  if (mode === undefined || !(mode & 0o077)) return null;
  return `is readable by ${mode & 0o007 ? 'anyone on that host' : 'its group'} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}), as a key file must never be`;
}

/** A copy that could not be read: unreachable (its place did not answer, or not within the bound), else damaged. */
export function unreadable(e: unknown): CopyStatus {
  return e instanceof VaultError && (e.kind === 'io' || e.code === 'external-timeout') ? 'unreachable' : 'damaged';
}

/** A copy that is not current cannot serve in a disaster (failed); one whose place could not be reached from here is inconclusive. */
export function copyVerdict(status: CopyStatus): Verdict {
  return status === 'current' ? 'ok' : status === 'unreachable' ? 'inconclusive' : 'failed';
}

export interface CopyFinding {
  id?: string;
  kind: 'vault' | 'key';
  location: string;
  status: CopyStatus;
  generation?: number;
  /** Days since the copy's content last changed (vault) or since it was made (key). */
  ageDays?: number;
  /** Entry versions the primary holds and the copy lacks. */
  lacking?: number;
  message: string;
}

/** Every entry version, by name@version and fingerprint: what a copy must hold to restore everything. */
function versionsOf(doc: VaultDocument): Map<string, string> {
  return new Map(doc.entries.flatMap((e) => e.versions.map((v) => [`${e.name}@${v.version}`, v.fingerprint] as const)));
}

/** Entry versions by name (the first ten, then how many more). */
const names = (xs: string[]) => (xs.length > 10 ? `${xs.slice(0, 10).join(', ')} and ${xs.length - 10} more` : xs.join(', '));

const days = (from: string, now: Date) => Math.floor((now.getTime() - Date.parse(from)) / 86_400_000);

/**
 * Checks one vault copy: it opens (with its paired key copy, else the
 * vault's key), is the same vault, and holds every entry version the
 * primary holds. Changes to metadata alone (evidence, registrations) do not
 * make a copy stale; a missing secret does.
 */
export function checkVaultCopy(doc: VaultDocument, bytes: Buffer | null, key: VaultKey, location: string, now: Date, id?: string): CopyFinding {
  const base = { ...(id ? { id } : {}), kind: 'vault' as const, location };
  if (!bytes) return { ...base, status: 'missing', message: `${location}: the copy is not there` };
  let meta;
  try {
    meta = peekVault(bytes);
  } catch (e) {
    return { ...base, status: 'damaged', message: `${location}: ${(e as Error).message}` };
  }
  if (meta.vaultId !== doc.vaultId)
    return {
      ...base,
      status: 'other-vault',
      generation: meta.generation,
      message: `${location} is a copy of vault ${meta.vaultId.slice(0, 12)}, not of this vault (${doc.vaultId.slice(0, 12)})`,
    };
  if (!meta.keyIds.includes(key.keyId)) {
    const retired = doc.retiredKeys?.find((r) => meta.keyIds.includes(r.keyId));
    return {
      ...base,
      status: 'old-key',
      generation: meta.generation,
      message: `${location} opens only with key id ${meta.keyIds.join(', ')}${retired ? ` (replaced on ${retired.retiredAt})` : ''}: it is older than the last rekey, and the vault key no longer opens it`,
    };
  }
  let copy: VaultDocument;
  try {
    copy = openVault(bytes, key.identity, key.keyId).doc;
  } catch (e) {
    return { ...base, status: 'damaged', generation: meta.generation, message: `${location}: ${(e as Error).message}` };
  }
  const mine = versionsOf(doc);
  const theirs = versionsOf(copy);
  const lacking = [...mine].filter(([k, fp]) => theirs.get(k) !== fp).map(([k]) => k);
  const extra = [...theirs].filter(([k, fp]) => mine.get(k) !== fp).map(([k]) => k);
  const ageDays = days(copy.updatedAt, now);
  const common = { ...base, generation: meta.generation, ageDays, lacking: lacking.length };
  if (extra.length)
    return {
      ...common,
      status: 'diverged',
      message: `${location} holds ${extra.length} entry version(s) the vault does not (${names(extra)}): purged since, or the copies parted`,
    };
  if (lacking.length)
    return {
      ...common,
      status: 'stale',
      message: `${location} (generation ${meta.generation}, ${ageDays} days old) lacks ${lacking.length} entry version(s) the vault holds (${names(lacking)}): it cannot restore them`,
    };
  return {
    ...common,
    status: 'current',
    message: `${location}: generation ${meta.generation} (the vault: ${doc.generation}), ${ageDays} days old, holds every entry version`,
  };
}

/** A key copy as fetched: its bytes, and its mode where the place keeps one. */
export interface FetchedKey {
  bytes: Buffer;
  mode?: number;
}

/**
 * Checks one key copy: only its owner can read it (where the place keeps
 * modes), it opens (passphrase as the vault key's) and is the vault's
 * current key.
 */
export async function checkKeyCopy(
  doc: VaultDocument,
  copy: FetchedKey | Buffer | null,
  location: string,
  now: Date,
  getPassphrase: PassphraseSource | undefined,
  createdAt?: string,
  id?: string,
): Promise<CopyFinding> {
  const base = { ...(id ? { id } : {}), kind: 'key' as const, location, ...(createdAt ? { ageDays: days(createdAt, now) } : {}) };
  if (!copy) return { ...base, status: 'missing', message: `${location}: the key copy is not there` };
  const bytes = Buffer.isBuffer(copy) ? copy : copy.bytes;
  const exposed = exposedBy(Buffer.isBuffer(copy) ? undefined : copy.mode);
  if (exposed) return { ...base, status: 'exposed', message: `${location} ${exposed}: make it 0600, or copy the key again` };
  let k: VaultKey;
  try {
    k = await openKeyFile(bytes, getPassphrase);
  } catch (e) {
    return { ...base, status: 'damaged', message: `${location}: ${(e as Error).message}` };
  }
  if (k.keyId === doc.key.keyId) return { ...base, status: 'current', message: `${location}: the vault's key (key id ${k.keyId})` };
  const retired = doc.retiredKeys?.find((r) => r.keyId === k.keyId);
  if (retired)
    return { ...base, status: 'old-key', message: `${location} holds key id ${k.keyId}, replaced on ${retired.retiredAt}: it no longer opens the vault` };
  return { ...base, status: 'other-vault', message: `${location} holds key id ${k.keyId}, not a key of this vault` };
}

/** Reads a key copy and its mode; a missing file is null. */
export async function fetchKeyCopy(d: Destination, file: string): Promise<FetchedKey | null> {
  const bytes = await fetchCopy(d, file, LIMITS.keyFile);
  if (!bytes) return null;
  const mode = await d.mode(file);
  return mode === undefined ? { bytes } : { bytes, mode };
}

/** Reads a registered copy's bytes; a missing file is null, any other failure a damaged finding's message. */
export async function fetchCopy(d: Destination, file: string, limit: number): Promise<Buffer | null> {
  try {
    return await d.read(file, limit, 'copy');
  } catch (e) {
    if (e instanceof VaultError && e.kind === 'not-found') return null;
    throw e;
  }
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
