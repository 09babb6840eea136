import { createHmac, randomBytes } from 'node:crypto';
import type { VaultDocument } from './document-shape.js';
import { DOC_FORMAT, DOC_VERSION } from './payload.js';

/**
 * The vault document: its types and checks are declared once, in
 * document-shape.ts (no Node API: shared with the recovery kit); this file
 * makes new documents, fingerprints values (node:crypto), and is the one
 * way to a section: `readSection` never writes, `editSection` (inside an
 * update) creates what is missing.
 */
export { DOC_FORMAT, DOC_VERSION, parseDocument, checkDocumentMeta } from './payload.js';
export type * from './document-shape.js';
export { readSection, editSection, type VerifyState, type SectionName, type Section } from './sections.js';

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
