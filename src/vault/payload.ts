import { VaultError } from '../errors/errors.js';
import type { VaultMeta } from './meta.js';
import { checkDocumentShape } from './document-shape.js';

/**
 * The decrypted payload's types and shape checks, with no Node API: the
 * recovery kit checks a vault with this same code.
 */
export const DOC_FORMAT = 'vault-tool/vault';
export const DOC_VERSION = 1;

export interface EntryVersion {
  version: number;
  createdAt: string;
  /** base64 of the exact value bytes. */
  value: string;
  /** generated | imported | rotated | restored… */
  source: string;
  /** Keyed fingerprint (HMAC under the vault's fingerprint key), safe to show for any secret. */
  fingerprint: string;
}

export interface Entry {
  name: string;
  type: string;
  description: string;
  labels: Record<string, string>;
  /** Free-form metadata kept for re-creation (dotenv name, Kubernetes origin…). */
  meta: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  deletedAt?: string;
  versions: EntryVersion[];
}

export interface ExtraRecipient {
  recipient: string;
  keyId: string;
  label: string;
  addedAt: string;
}

export interface VaultDocument {
  format: typeof DOC_FORMAT;
  version: number;
  vaultId: string;
  generation: number;
  createdAt: string;
  updatedAt: string;
  /** The vault key's recipient and key id; `protected` when its key file is passphrase-protected. */
  key: { recipient: string; keyId: string; protected?: boolean; workFactor?: number };
  /** A second key during a rekey, until it is confirmed or aborted. */
  pendingKey?: { recipient: string; keyId: string; startedAt: string; previousKeyId: string; protected?: boolean; workFactor?: number };
  recipients: ExtraRecipient[];
  /** Vault keys replaced by a rekey (older copies of the vault and older shares open with them). */
  retiredKeys?: { recipient: string; keyId: string; retiredAt: string }[];
  /** base64 of 32 random bytes keying the entry fingerprints. */
  fingerprintKey: string;
  entries: Entry[];
  /** Owned by the escrow module; opaque here. */
  escrow?: unknown;
  /** Entries other modules need kept (a backup key retained backups need): a purge is refused while any reason is listed. */
  holds?: Record<string, string[]>;
  /** SHA-256 of the age header of the previous generations (newest last), to tell a descendant copy from a fork. */
  lineage?: { generation: number; header: string }[];
}

/** Checks the shape of a decrypted document; the header MAC already proved who wrote it. */
export function parseDocument(json: Uint8Array): VaultDocument {
  let doc: VaultDocument;
  try {
    doc = JSON.parse(new TextDecoder().decode(json)) as VaultDocument;
  } catch {
    throw new VaultError('integrity', 'vault payload is not valid JSON');
  }
  if (doc?.format !== DOC_FORMAT) throw new VaultError('integrity', 'vault payload is not a vault-tool document');
  if (doc.version !== DOC_VERSION) {
    throw new VaultError(
      'invalid',
      `vault document version ${doc.version} is not supported by this vault-tool (supports ${DOC_VERSION})`,
      'upgrade vault-tool',
    );
  }
  checkDocumentShape(doc);
  return doc;
}

/** The header stanza and the payload must name the same vault and generation. */
export function checkDocumentMeta(doc: VaultDocument, meta: VaultMeta): void {
  if (doc.vaultId !== meta.vaultId || doc.generation !== meta.generation) {
    throw new VaultError('integrity', 'vault header and payload disagree (vault id or generation)');
  }
}
