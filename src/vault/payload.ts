import { VaultError } from '../errors/errors.js';
import type { VaultMeta } from './meta.js';
import { checkDocumentShape, type VaultDocument } from './document-shape.js';

export type { Entry, EntryVersion, ExtraRecipient, VaultDocument } from './document-shape.js';

/**
 * The decrypted payload's types and shape checks, with no Node API: the
 * recovery kit checks a vault with this same code.
 */
export const DOC_FORMAT: VaultDocument['format'] = 'vault-tool/vault';
export const DOC_VERSION = 1;

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
