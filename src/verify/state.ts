import type { CopyRecord, VaultDocument } from '../vault/document-shape.js';
import { editSection, readSection, type VerifyState } from '../vault/sections.js';

/**
 * What the vault remembers of verification (docs/FORMAT.md, "Verification
 * state"): registered copies and canaries, the last run and the last
 * successful one, when each entry was last found to match production, and
 * the last drill. Declared with the document (vault/document-shape.ts).
 */
export type { CopyRecord, DrillRun, VerifyRun, VerifyState } from '../vault/document.js';

/** The verification section, for reading: never writes to the document. */
export function peekVerifyState(doc: VaultDocument): Readonly<VerifyState> {
  return readSection(doc, 'verify');
}

/** The verification section, to change inside an update: created on first use. */
export function editVerifyState(doc: VaultDocument): VerifyState {
  return editSection(doc, 'verify');
}

/**
 * The registered vault copies a write left behind: every copy made before
 * it lacks the entry versions it added (and still holds the entries it
 * purged). Null when no vault copy is registered.
 */
export function copiesBehind(
  doc: VaultDocument,
  change: { added: string[]; purged: string[] },
): { added: string[]; purged: string[]; copies: CopyRecord[] } | null {
  const copies = peekVerifyState(doc).copies.filter((c) => c.kind === 'vault');
  return copies.length ? { ...change, copies } : null;
}
