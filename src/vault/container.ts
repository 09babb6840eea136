import { createHash } from 'node:crypto';
import { decrypt, encrypt, parseRecipient, type X25519Identity } from '../age/index.js';
import { serializeDocument, type VaultDocument } from './document.js';
import { CONTAINER_VERSION, metaStanza, type VaultMeta } from './meta.js';
import { openSealed, readSealed } from './open.js';

/** The header stanza is read and written by meta.ts (shared with the recovery kit); this file adds node:crypto. */
export { STANZA_TYPE, CONTAINER_VERSION, metaStanza, readMeta, type VaultMeta } from './meta.js';

/** Every recipient the vault is encrypted to: its key, a pending new key, and the escrow recipients. */
export function recipientsOf(doc: VaultDocument): { recipient: string; keyId: string }[] {
  return [doc.key, ...(doc.pendingKey ? [doc.pendingKey] : []), ...doc.recipients];
}

export function sealVault(doc: VaultDocument): Buffer {
  const rs = recipientsOf(doc);
  const meta: VaultMeta = { format: CONTAINER_VERSION, vaultId: doc.vaultId, generation: doc.generation, keyIds: rs.map((r) => r.keyId) };
  return encrypt(serializeDocument(doc), { recipients: rs.map((r) => parseRecipient(r.recipient)), extraStanzas: [metaStanza(meta)] });
}

/** Reads the metadata of a vault file without any key; `header` is the SHA-256 of its age header (unique to each write). */
export function peekVault(file: Uint8Array): VaultMeta & { header: string } {
  const { meta, header, binary } = readSealed(file);
  return { ...meta, header: createHash('sha256').update(binary.subarray(0, header.length)).digest('hex') };
}

/** Opens a vault file with its key (vault/open.ts makes every check), decrypting with node:crypto. */
export function openVault(file: Uint8Array, identity: X25519Identity, keyId: string): { doc: VaultDocument; meta: VaultMeta & { header: string } } {
  const meta = peekVault(file);
  return { doc: openSealed(meta, keyId, () => decrypt(file, { identities: [identity] }).plaintext), meta };
}
