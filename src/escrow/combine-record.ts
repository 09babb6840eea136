import type { CombineResult } from './combine.js';

/**
 * The `escrow.combine` evidence record (docs/FORMAT.md, "Evidence log"):
 * who rebuilt the vault key, where, from which custodians' shares, and what
 * was set aside. Never a share value, nor the text of a reason (only its
 * kind: a reason names files and groups, which are for the operator's
 * screen). No Node API here: the recovery kit writes the same record for the
 * CLI to carry into the log; vault/pending-evidence.ts checks a record
 * carried in against this same shape, field by field.
 */
export const COMBINE_EVENT = 'escrow.combine';

export interface CombineRecordInput {
  keyId: string;
  /** The key file written (null: a download whose path the kit cannot know). */
  keyFile: string | null;
  replaced: string | null;
  protected: boolean;
  operator: string;
  host: string;
  manifestKey: string | null;
  vaultFile: string | null;
  /** opens: the key opens vaultFile; none: no vault there; other: it does not. */
  vault: 'opens' | 'none' | 'other';
  /** What rebuilt it, when not `escrow combine` (the recovery kit). */
  via?: string;
}

export function combineRecord(c: Pick<CombineResult, 'set' | 'used' | 'setAside'>, o: CombineRecordInput): Record<string, unknown> {
  return {
    keyId: o.keyId,
    keyFile: o.keyFile,
    replaced: o.replaced,
    protected: o.protected,
    setId: c.set.setId,
    epoch: c.set.epoch,
    custodians: c.used.map((s) => ({ index: s.index, label: s.label })),
    setAside: c.setAside.map((a) => ({ name: a.name, why: a.kind })),
    operator: o.operator,
    host: o.host,
    manifestKey: o.manifestKey,
    vaultFile: o.vaultFile,
    vault: o.vault,
    ...(o.via ? { via: o.via } : {}),
  };
}
