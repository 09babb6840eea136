import type { VaultDocument } from '../vault/document.js';
import { entryType } from '../vault/types.js';
import type { BackupStatus } from '../backup/status.js';
import { escrowOf } from '../escrow/escrow.js';
import { checkEscrow } from './escrow.js';
import { dueState, type Interval } from './schedule.js';
import { peekVerifyState, type DrillRun, type VerifyRun } from './state.js';

export interface VaultStatus {
  /** When it was taken: the metrics say so, and an alert fires when they stop being written. */
  at?: string;
  vault: { vaultId: string; generation: number; keyId: string; updatedAt: string };
  interval: string;
  lastVerification?: VerifyRun;
  lastSuccess?: VerifyRun;
  nextDue?: string;
  overdue: boolean;
  overdueSeconds: number;
  lastDrill?: DrillRun;
  /**
   * The current share set, and whether it opens the vault key (absent: never split).
   * stale: a split exists and its current set does not open the vault key (a FAIL).
   */
  escrow?: {
    setId?: string;
    epoch: number;
    threshold?: number;
    count?: number;
    custodians: string[];
    keyMatchesVault: boolean;
    stale: boolean;
    message: string;
  };
  copies: { id: string; kind: string; dest: string; file: string; createdAt: string; ageSeconds: number; lastStatus?: string }[];
  /** Key material never found to match production (no drift check ever matched it). */
  neverVerified: string[];
  backups: BackupStatus[];
}

export function vaultStatus(doc: VaultDocument, iv: Interval, now: Date, backups: BackupStatus[] = []): VaultStatus {
  const st = peekVerifyState(doc);
  const due = dueState(st.lastSuccess?.at, iv, now);
  const esc = escrowOf(doc).current;
  const escrow = checkEscrow(doc);
  const lastCopy = new Map((st.last?.copies ?? []).filter((c) => c.id).map((c) => [c.id!, c.status]));
  return {
    at: now.toISOString(),
    vault: { vaultId: doc.vaultId, generation: doc.generation, keyId: doc.key.keyId, updatedAt: doc.updatedAt },
    interval: iv.text,
    ...(st.last ? { lastVerification: st.last } : {}),
    ...(st.lastSuccess ? { lastSuccess: st.lastSuccess } : {}),
    ...(due.nextDue ? { nextDue: due.nextDue.toISOString() } : {}),
    overdue: due.overdue,
    overdueSeconds: due.overdueSeconds,
    ...(st.lastDrill ? { lastDrill: st.lastDrill } : {}),
    ...(escrow
      ? {
          escrow: {
            ...(esc ? { setId: esc.setId, threshold: esc.threshold, count: esc.count } : {}),
            epoch: esc?.epoch ?? escrow.epoch ?? 0,
            custodians: esc ? esc.custodians.map((c) => c.label) : [],
            keyMatchesVault: escrow.verdict === 'ok',
            stale: escrow.verdict !== 'ok',
            message: escrow.message,
          },
        }
      : {}),
    copies: st.copies.map((c) => ({
      id: c.id,
      kind: c.kind,
      dest: c.dest,
      file: c.file,
      createdAt: c.createdAt,
      ageSeconds: Math.floor((now.getTime() - Date.parse(c.createdAt)) / 1000),
      ...(lastCopy.has(c.id) ? { lastStatus: lastCopy.get(c.id)! } : {}),
    })),
    neverVerified: doc.entries
      .filter((e) => !e.deletedAt && isKey(e.type) && !Object.hasOwn(st.production, e.name))
      .map((e) => e.name)
      .sort(),
    backups,
  };
}

const isKey = (type: string) => {
  try {
    return entryType(type).key;
  } catch {
    return false;
  }
};
