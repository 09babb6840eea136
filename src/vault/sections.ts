import type { BackupSection, CanaryRecord, CopyRecord, EscrowSection, Holds, VaultDocument, VerifySection } from './document-shape.js';

/**
 * The document's optional sections, read and edited one way everywhere.
 * Types only from the document's shape: reading a section (the state a
 * command starts with) loads no schema code.
 */

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
