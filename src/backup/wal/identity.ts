import { X25519Identity } from '../../age/x25519.js';
import { VaultError } from '../../errors/errors.js';
import { writeFileAtomic } from '../../fs/atomic.js';
import { checkOutput } from '../../fs/output.js';
import { LIMITS, readFileCapped } from '../../fs/read.js';
import type { VaultDocument } from '../../vault/document.js';
import { recordEvidence } from '../../vault/evidence.js';
import { keyIdOf } from '../../vault/keyfile.js';
import { changed, updateVault, type StoreOptions, type VaultPaths } from '../../vault/store.js';
import { findEntry } from '../../vault/entries.js';
import { BACKUP_ENTRY, backupKeys, peekBackupState, signerId, type TrustedSigner } from '../keys.js';

/**
 * What a restore needs to read the archive: the backup identity (every
 * version, since older files need older ones) and the signing keys whose
 * manifests count. Where the vault is, both come from it; on a restore host
 * they come from an identity file written by `exportIdentity`: an age
 * identity file (the stock `age -d -i FILE` reads it) whose comment lines
 * also name the trusted signers:
 *
 *   # vault-tool backup identity: …
 *   # trusted-signer: <id> <base64 Ed25519 public key> <label>
 *   AGE-SECRET-KEY-1…
 */
export interface ReadKeys {
  identities: { keyId: string; identity: X25519Identity }[];
  signers: TrustedSigner[];
}

export function keysFromVault(doc: VaultDocument): ReadKeys {
  return { identities: backupKeys(doc).map((k) => ({ keyId: k.keyId, identity: k.identity })), signers: peekBackupState(doc).signers };
}

const SIGNER = /^#\s*trusted-signer:\s+([0-9a-f]{16})\s+([A-Za-z0-9+/]{43}=)(?:\s+(.*))?$/;

export function parseIdentityFile(text: string, where: string): ReadKeys {
  const identities: ReadKeys['identities'] = [];
  const signers: TrustedSigner[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      const m = SIGNER.exec(line);
      if (m) {
        if (signerId(m[2]!) !== m[1]) throw new VaultError('integrity', `${where}: line ${i + 1}: the signer id does not match its key`);
        signers.push({ id: m[1]!, publicKey: m[2]!, label: m[3] ?? '', addedAt: '' });
      }
      continue;
    }
    let identity: X25519Identity;
    try {
      identity = X25519Identity.parse(line);
    } catch {
      throw new VaultError('integrity', `${where}: line ${i + 1} is neither a comment nor an AGE-SECRET-KEY-1… identity`);
    }
    identities.push({ keyId: keyIdOf(identity.recipient), identity });
  }
  if (!identities.length) throw new VaultError('not-found', `${where} holds no identity`);
  return { identities, signers };
}

export function readIdentityFile(path: string): ReadKeys {
  return parseIdentityFile(readFileCapped(path, 'identity file', LIMITS.keyFile).toString('utf8'), path);
}

/** The identity file's text: every version of the backup identity, newest first, and the trusted signers. */
export function identityFileText(doc: VaultDocument, now: Date): string {
  const keys = backupKeys(doc);
  if (!keys.length) throw new VaultError('not-found', 'there is no backup key yet', { code: 'backup-no-key' });
  const lines = [
    '# vault-tool backup identity: whoever holds this file can read every backup encrypted to these keys. Keep it 0600; remove it after the restore.',
    `# exported: ${now.toISOString()}`,
    ...keys.map((k) => `# key ${k.keyId} (version ${k.version}): ${k.recipient}`),
    ...peekBackupState(doc).signers.map((s) => `# trusted-signer: ${s.id} ${s.publicKey}${s.label ? ` ${s.label.replace(/[\r\n]/g, ' ')}` : ''}`),
  ];
  for (const k of keys) lines.push(Buffer.from(findValue(doc, k.version)).toString('latin1'));
  return lines.join('\n') + '\n';
}

function findValue(doc: VaultDocument, version: number): Buffer {
  const e = findEntry(doc, BACKUP_ENTRY)!;
  return Buffer.from(e.versions.find((v) => v.version === version)!.value, 'base64');
}

/**
 * Writes the identity file for a restore host (mode 0600, never over an
 * existing file) and records it in the evidence log: a copy of the key that
 * opens every backup now exists outside the vault.
 */
export async function exportIdentity(
  paths: VaultPaths,
  store: StoreOptions,
  out: string,
  host: string,
  now: Date,
): Promise<{ keyIds: string[]; signers: number }> {
  // A key output: never over an existing file (nor, whatever it is named, over a vault or another of the tool's files).
  checkOutput(out, 'key', { force: false });
  // Recorded first: a copy of the key never exists without its record (a failed write leaves a record of an attempt).
  const r = await updateVault(paths, store, (doc) => {
    const text = identityFileText(doc, now);
    const keyIds = backupKeys(doc).map((k) => k.keyId);
    recordEvidence(doc, 'backup.identity.export', { file: out, host, keyIds, signers: peekBackupState(doc).signers.map((s) => s.id) }, now);
    return changed({ text, keyIds, signers: peekBackupState(doc).signers.length });
  });
  writeFileAtomic(out, r.text, { exclusive: true, mode: 0o600 });
  return { keyIds: r.keyIds, signers: r.signers };
}
