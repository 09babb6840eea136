import { createHash } from 'node:crypto';
import { VaultError, AgeError } from '../errors/errors.js';
import { decrypt, encrypt, parseRecipient, readHeader, type X25519Identity } from '../age/index.js';
import { checkDocumentMeta, parseDocument, serializeDocument, type VaultDocument } from './document.js';
import { CONTAINER_VERSION, metaStanza, readMeta, wrongKeyMessage, type VaultMeta } from './meta.js';

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
  try {
    const { header, binary } = readHeader(file);
    return { ...readMeta(header), header: createHash('sha256').update(binary.subarray(0, header.length)).digest('hex') };
  } catch (e) {
    if (e instanceof AgeError) throw new VaultError('integrity', `not a readable vault file: ${e.message}`);
    throw e;
  }
}

export function openVault(file: Uint8Array, identity: X25519Identity, keyId: string): { doc: VaultDocument; meta: VaultMeta & { header: string } } {
  const meta = peekVault(file);
  if (!meta.keyIds.includes(keyId)) {
    throw new VaultError('wrong-key', wrongKeyMessage(meta, keyId), {
      code: 'wrong-key',
      hint: 'is this the right key file? a lost key can be rebuilt from escrow shares',
    });
  }
  let plaintext: Buffer;
  try {
    plaintext = decrypt(file, { identities: [identity] }).plaintext;
  } catch (e) {
    if (e instanceof AgeError) {
      const what = e.failure === 'no-match' ? 'the key file does not unwrap the vault although its key id is listed' : e.message;
      throw new VaultError('integrity', `vault integrity check failed: ${what}`, 'the file is damaged or was modified; use another copy');
    }
    throw e;
  }
  const doc = parseDocument(plaintext);
  checkDocumentMeta(doc, meta);
  return { doc, meta };
}
