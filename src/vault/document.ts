import { createHmac, randomBytes } from 'node:crypto';
import { DOC_FORMAT, DOC_VERSION, type VaultDocument } from './payload.js';

/** The payload's types and checks are in payload.ts (shared with the recovery kit); this file adds node:crypto. */
export {
  DOC_FORMAT,
  DOC_VERSION,
  parseDocument,
  checkDocumentMeta,
  type EntryVersion,
  type Entry,
  type ExtraRecipient,
  type VaultDocument,
} from './payload.js';

export function newDocument(key: VaultDocument['key'], now: Date): VaultDocument {
  const t = now.toISOString();
  return {
    format: DOC_FORMAT,
    version: DOC_VERSION,
    vaultId: randomBytes(16).toString('hex'),
    generation: 0,
    createdAt: t,
    updatedAt: t,
    key,
    recipients: [],
    fingerprintKey: randomBytes(32).toString('base64'),
    entries: [],
  };
}

export function fingerprint(doc: Pick<VaultDocument, 'fingerprintKey'>, value: Uint8Array): string {
  return 'fp:' + createHmac('sha256', Buffer.from(doc.fingerprintKey, 'base64')).update(value).digest('hex').slice(0, 24);
}

export function serializeDocument(doc: VaultDocument): Buffer {
  return Buffer.from(JSON.stringify(doc));
}
