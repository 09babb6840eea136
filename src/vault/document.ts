import { createHmac, randomBytes } from 'node:crypto';
import type { BackupSection, CanaryRecord, CopyRecord, EscrowSection, Holds, VaultDocument, VerifySection } from './document-shape.js';
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

/** The verification section as readers see it: every list present (empty when the vault never recorded one). */
export type VerifyState = VerifySection & {
  copies: CopyRecord[];
  canaries: CanaryRecord[];
  production: Record<string, { at: string; source: string }>;
};

/** Each optional section, and what it holds before anything was recorded in it. */
const EMPTY = {
  escrow: (): EscrowSection => ({ epoch: 0, history: [] }),
  verify: (): VerifyState => ({ copies: [], canaries: [], production: {} }),
  backup: (): BackupSection => ({ signers: [], keysInUse: {} }),
  holds: (): Holds => ({}),
};

export type SectionName = keyof typeof EMPTY;
export type Section<K extends SectionName> = ReturnType<(typeof EMPTY)[K]>;

/**
 * A section for reading: the document's own fields, with what it lacks read
 * as empty. Never writes to the document: a command that only reads leaves
 * it as it was, byte for byte.
 */
export function readSection<K extends SectionName>(doc: VaultDocument, name: K): Readonly<Section<K>> {
  const have = doc[name] as Partial<Section<K>> | undefined;
  return { ...EMPTY[name](), ...have } as Section<K>;
}

/**
 * A section to change, inside an update (`updateVault`): created on first
 * use, and any list it lacks added, in the document itself.
 */
export function editSection<K extends SectionName>(doc: VaultDocument, name: K): Section<K> {
  const empty = EMPTY[name]() as Record<string, unknown>;
  const d = doc as unknown as Record<string, Record<string, unknown> | undefined>;
  const s = (d[name] ??= empty);
  for (const [k, v] of Object.entries(empty)) s[k] ??= v;
  return s as Section<K>;
}
