import type { Verdict } from '../errors/verdict.js';
import { readSection, type VaultDocument } from '../vault/document.js';

/**
 * The escrow's verdict: does the current share set open the current vault
 * key? It applies once the key was ever split; a vault never split has no
 * escrow to check (null). During a rekey the vault opens with the pending
 * key too, so a set that opens the pending key passes.
 */
export interface EscrowFinding {
  verdict: Verdict;
  /** stale: the set opens another key; missing: a split happened, but no current set is recorded. */
  status: 'current' | 'stale' | 'missing';
  setId?: string;
  epoch?: number;
  /** The key id the current set opens. */
  keyId?: string;
  message: string;
}

export function checkEscrow(doc: VaultDocument): EscrowFinding | null {
  const esc = readSection(doc, 'escrow');
  if (!esc.current && !esc.history.length && !esc.epoch) return null;
  const c = esc.current;
  if (!c)
    return {
      verdict: 'failed',
      status: 'missing',
      message: `the vault key was split before (epoch ${esc.epoch ?? 0}), but no current share set is recorded: the custodians' shares may open nothing`,
    };
  const set = `share set ${c.setId} (epoch ${c.epoch}, any ${c.threshold} of ${c.count}: ${c.custodians.map((x) => x.label).join(', ')})`;
  const base = { setId: c.setId, epoch: c.epoch, keyId: c.keyId };
  if (c.keyId === doc.key.keyId) return { ...base, verdict: 'ok', status: 'current', message: `${set} opens the vault key (key id ${c.keyId})` };
  if (doc.pendingKey && c.keyId === doc.pendingKey.keyId)
    return {
      ...base,
      verdict: 'ok',
      status: 'current',
      message: `${set} opens the pending new key (key id ${c.keyId}), which opens the vault during the rekey in progress`,
    };
  const retired = doc.retiredKeys?.find((r) => r.keyId === c.keyId);
  return {
    ...base,
    verdict: 'failed',
    status: 'stale',
    message: `the escrow is stale: ${set} opens key id ${c.keyId}${retired ? `, replaced on ${retired.retiredAt}` : ''}, not the vault key ${doc.key.keyId}: the custodians' shares cannot open this vault`,
  };
}
