import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { AgeError, VaultError } from '../errors/errors.js';
import { fromBase64, fromUtf8, toBase64, toHex, utf8 } from '../age/bytes.js';
import { identityScalar as identityScalarOf, isClamped } from '../age/keys.js';
import { isPassphraseFile } from '../age/parse.js';
import { encodeIdentity, formatKeyText, isProtectedKeyFile, keyIdOf, parseKeyText } from '../vault/keytext.js';
import type { VaultMeta } from '../vault/meta.js';
import { openSealed, readSealed, UNREADABLE } from '../vault/open.js';
import type { Entry, VaultDocument } from '../vault/payload.js';
import { combineShares, type CombineResult } from '../escrow/combine.js';
import { parseShareFile } from '../escrow/files.js';
import type { Share } from '../escrow/envelope.js';
import { decryptAge, encryptWithPassphrase, identityFromScalar, readHeader, type Identity } from './age.js';

/**
 * What the recovery kit does, without the page: read shares, rebuild the
 * vault key, open key files, vaults and other age files. The checks are the
 * CLI's own modules; only the crypto is @noble's.
 */
export interface KitKey {
  identity: Identity;
  /** The AGE-SECRET-KEY-1… line. */
  secret: string;
  recipient: string;
  keyId: string;
  createdAt?: string;
}

const keyOf = (identity: Identity, createdAt?: string): KitKey => ({
  identity,
  secret: encodeIdentity(identity.scalar),
  recipient: identity.recipient,
  keyId: keyIdOf(identity.recipient),
  ...(createdAt ? { createdAt } : {}),
});

/** Key id of a recovered scalar; a non-canonical scalar never matches (as the CLI's idOfSecret). */
export const idOfSecret = (secret: Uint8Array): string => (isClamped(secret) ? keyIdOf(identityFromScalar(secret).recipient) : '');

/** A share from a share file or typed text; an age-encrypted share file opens with one of `identities`. */
export async function readShare(bytes: Uint8Array, name: string, identities: Identity[] = []): Promise<Share> {
  let text: string;
  if (isProtectedKeyFile(bytes)) {
    // An age file, armored or not: an encrypted share file.
    if (!identities.length)
      throw new VaultError('wrong-key', `${name} is encrypted to a custodian's age key: give that custodian's identity (AGE-SECRET-KEY-1…) first`);
    try {
      text = fromUtf8((await decryptAge(bytes, { identities })).plaintext);
    } catch (e) {
      if (e instanceof AgeError && e.failure === 'no-match') throw new VaultError('wrong-key', `${name}: none of the identities given opens it`);
      if (e instanceof VaultError) throw new VaultError(e.kind, `${name}: ${e.message}`);
      throw new VaultError('bad-share', `${name}: not a share file`);
    }
  } else {
    try {
      text = fromUtf8(bytes);
    } catch {
      throw new VaultError('bad-share', `${name}: not a share file (not text)`);
    }
  }
  return parseShareFile(text, name);
}

/**
 * Combines the shares with every check `escrow combine` makes, and rebuilds
 * the key: from the one set with K shares, the others set aside and named.
 * The key file keeps the creation time the shares carry, so it is the
 * original byte for byte (shares of format 1 carry none: `now` is used).
 */
export async function recoverKey(shares: Share[], now: Date): Promise<{ key: KitKey } & Omit<CombineResult, 'secret'>> {
  const { secret, ...rest } = await combineShares(shares, idOfSecret);
  return { key: keyOf(identityFromScalar(secret), rest.keyCreatedAt ?? now.toISOString()), ...rest };
}

/** The key ids a vault file opens with, read from its header (no key needed): which share set it needs. */
export function vaultKeyIds(bytes: Uint8Array): VaultMeta {
  try {
    return readSealed(bytes).meta;
  } catch (e) {
    // The page names every file that is not a vault alike (another age file, a stanza of a newer format).
    if (e instanceof VaultError && !e.message.startsWith(UNREADABLE)) throw new VaultError('integrity', `${UNREADABLE}: ${e.message}`);
    throw e;
  }
}

/** vault.key as the CLI writes it; the stock `age -i` reads it. */
export const keyFileText = (key: KitKey): string => formatKeyText(key);

/** vault.key protected with a passphrase, as `init --passphrase` and `escrow combine` write it; `age -d vault.key` opens it. */
export const protectedKeyFile = (key: KitKey, passphrase: Uint8Array, onProgress?: (p: number) => void): Promise<string> =>
  encryptWithPassphrase(utf8(keyFileText(key)), passphrase, undefined, onProgress);

/** Opens a vault.key, plaintext or passphrase-protected. */
export async function openKeyFile(bytes: Uint8Array, passphrase?: Uint8Array, onProgress?: (p: number) => void): Promise<KitKey & { protected: boolean }> {
  let text: string;
  const prot = isProtectedKeyFile(bytes);
  if (prot) {
    const { header } = readHeader(bytes);
    if (!isPassphraseFile(header)) throw new VaultError('invalid', 'key file is an age file but not passphrase-protected');
    if (!passphrase?.length) throw new VaultError('passphrase', 'the key file is passphrase-protected: type its passphrase');
    try {
      text = fromUtf8((await decryptAge(bytes, { passphrase, ...(onProgress ? { onProgress } : {}) })).plaintext);
    } catch (e) {
      if (e instanceof VaultError && e.kind === 'wrong-key') throw new VaultError('wrong-key', 'wrong passphrase for the key file');
      throw e;
    }
  } else {
    try {
      text = fromUtf8(bytes);
    } catch {
      throw new VaultError('integrity', 'key file is not an age identity file (not text)');
    }
  }
  let identity: Identity | undefined;
  const k = parseKeyText(text, (scalar) => (identity = identityFromScalar(scalar)).recipient);
  return { ...keyOf(identity!, k.createdAt), protected: prot };
}

/** The keyed fingerprint the CLI stores with each version: "fp:" + 24 hex of HMAC-SHA-256(fingerprintKey, value). */
export function fingerprintOf(doc: Pick<VaultDocument, 'fingerprintKey'>, value: Uint8Array): string {
  return 'fp:' + toHex(hmac(sha256, fromBase64(doc.fingerprintKey) ?? new Uint8Array(0), value)).slice(0, 24);
}

export interface OpenedVault {
  doc: VaultDocument;
  meta: VaultMeta;
  /** Entry versions whose value and fingerprint were checked against each other. */
  checked: number;
}

/**
 * Opens secrets.vault with the key and verifies it fully: the header stanza,
 * the key id, the header MAC, every payload chunk, the document's shape, the
 * header and payload agreeing, and every version's fingerprint.
 */
export async function openVault(bytes: Uint8Array, key: KitKey): Promise<OpenedVault> {
  const { meta } = readSealed(bytes);
  const doc = await openSealed(meta, key.keyId, async () => (await decryptAge(bytes, { identities: [key.identity] })).plaintext);
  let checked = 0;
  for (const e of doc.entries) {
    for (const v of e.versions) {
      const value = fromBase64(v.value);
      if (!value || fingerprintOf(doc, value) !== v.fingerprint)
        throw new VaultError('integrity', `entry ${e.name} version ${v.version}: its value does not match its fingerprint`);
      checked++;
    }
  }
  return { doc, meta, checked };
}

export interface EntryRow {
  name: string;
  type: string;
  version: number;
  versions: number;
  /** Every version kept, newest first, with its fingerprint and date: older backups need older values. */
  history: { version: number; fingerprint: string; createdAt: string }[];
  fingerprint: string;
  updatedAt: string;
  removed: boolean;
}

/** The entries as `list` shows them: sorted by name. */
export function entryRows(doc: VaultDocument): EntryRow[] {
  const sorted = [...doc.entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return sorted.map((e) => {
    const cur = e.versions[e.versions.length - 1]!;
    return {
      name: e.name,
      type: e.type,
      version: cur.version,
      versions: e.versions.length,
      history: [...e.versions].reverse().map((v) => ({ version: v.version, fingerprint: v.fingerprint, createdAt: v.createdAt })),
      fingerprint: cur.fingerprint,
      updatedAt: e.updatedAt,
      removed: Boolean(e.deletedAt),
    };
  });
}

export function entryValue(doc: VaultDocument, name: string, version?: number): { entry: Entry; version: number; value: Uint8Array } {
  const entry = doc.entries.find((e) => e.name === name);
  if (!entry) throw new VaultError('not-found', `no entry named ${name}`);
  const v = version === undefined ? entry.versions[entry.versions.length - 1] : entry.versions.find((x) => x.version === version);
  if (!v) throw new VaultError('not-found', `entry ${name} has no version ${version}`);
  return { entry, version: v.version, value: fromBase64(v.value)! };
}

/** How a value is shown: as text when it is printable UTF-8, else as base64. */
export function showValue(value: Uint8Array): { text: string; encoding: 'text' | 'base64' } {
  try {
    const t = fromUtf8(value);
    if (!/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(t)) return { text: t, encoding: 'text' };
  } catch {
    // not UTF-8
  }
  return { text: toBase64(value), encoding: 'base64' };
}

/** Every entry version whose value is an age X25519 identity (a backup recipient's, an `age-identity` entry…). */
export function ageIdentitiesIn(doc: VaultDocument): { label: string; identity: Identity }[] {
  const out: { label: string; identity: Identity }[] = [];
  for (const e of doc.entries) {
    for (const v of [...e.versions].reverse()) {
      const value = fromBase64(v.value);
      if (!value || value.length > 200) continue;
      const line = (() => {
        try {
          return fromUtf8(value).trim();
        } catch {
          return '';
        }
      })();
      if (!line.startsWith('AGE-SECRET-KEY-1')) continue;
      try {
        const identity = identityFromScalar(identityScalarOf(line));
        out.push({ label: `${e.name}@${v.version}`, identity });
      } catch {
        // not a valid identity: not offered
      }
    }
  }
  return out;
}

/** Opens any age file with the vault key, or with an age identity held in the vault. */
export async function openAgeFile(bytes: Uint8Array, key: KitKey, doc?: VaultDocument): Promise<{ plaintext: Uint8Array; openedWith: string }> {
  const candidates = [
    { label: `the vault key (key id ${key.keyId})`, identity: key.identity },
    ...(doc ? ageIdentitiesIn(doc).map((c) => ({ label: `entry ${c.label}`, identity: c.identity })) : []),
  ];
  try {
    const r = await decryptAge(bytes, { identities: candidates.map((c) => c.identity) });
    return { plaintext: r.plaintext, openedWith: candidates.find((c) => c.identity === r.opener)!.label };
  } catch (e) {
    if (e instanceof AgeError && e.failure === 'no-match') {
      throw new VaultError(
        'wrong-key',
        `neither the vault key nor any of the ${candidates.length - 1} age identities in the vault opens this file`,
        doc ? undefined : 'open the vault first: an age file may be encrypted to an identity kept in it',
      );
    }
    if (e instanceof AgeError) throw new VaultError(e.kind, `the age file is damaged or was modified: ${e.message}`);
    throw e;
  }
}
