import { createHash } from 'node:crypto';
import { VaultError, AgeError } from './errors.js';
import { decrypt, encrypt, parseRecipient, readHeader, type Stanza, type ParsedHeader, X25519Identity } from './age/index.js';
import { parseDocument, serializeDocument, type VaultDocument } from './document.js';

/**
 * secrets.vault is an age v1 file with one extra stanza ahead of the
 * recipient stanzas:  -> vault-tool <format> <vault id> <generation> <key id>[,<key id>…]
 * Age identities skip stanzas of unknown types and the header MAC covers it,
 * so it can be read before decryption and cannot be altered undetected.
 */
export const STANZA_TYPE = 'vault-tool';
export const CONTAINER_VERSION = 1;

export interface VaultMeta {
  format: number;
  vaultId: string;
  generation: number;
  keyIds: string[];
}

export function metaStanza(m: VaultMeta): Stanza {
  return { type: STANZA_TYPE, args: [String(m.format), m.vaultId, String(m.generation), m.keyIds.join(',')], body: Buffer.alloc(0) };
}

export function readMeta(header: ParsedHeader): VaultMeta {
  const s = header.stanzas.find((x) => x.type === STANZA_TYPE);
  if (!s) throw new VaultError('integrity', 'not a vault-tool vault: the age header has no vault-tool stanza', 'is this the key file or another age file?');
  const [format, vaultId, generation, ids] = s.args;
  if (s.args.length !== 4 || !/^[0-9]+$/.test(format!) || !/^[0-9a-f]{32}$/.test(vaultId!) || !/^[0-9]+$/.test(generation!) || !/^[0-9a-f]{16}(,[0-9a-f]{16})*$/.test(ids!)) {
    throw new VaultError('integrity', 'malformed vault-tool header stanza');
  }
  if (Number(format) !== CONTAINER_VERSION) {
    throw new VaultError('invalid', `vault format ${format} is not supported by this vault-tool (supports ${CONTAINER_VERSION})`, 'upgrade vault-tool');
  }
  return { format: Number(format), vaultId: vaultId!, generation: Number(generation), keyIds: ids!.split(',') };
}

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
    throw new VaultError(
      'wrong-key',
      `this vault opens with key id${meta.keyIds.length > 1 ? 's' : ''} ${meta.keyIds.join(', ')}; the key file holds key id ${keyId}`,
      { code: 'wrong-key', hint: 'is this the right key file? a lost key can be rebuilt from escrow shares' },
    );
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
  if (doc.vaultId !== meta.vaultId || doc.generation !== meta.generation) {
    throw new VaultError('integrity', 'vault header and payload disagree (vault id or generation)');
  }
  return { doc, meta };
}
