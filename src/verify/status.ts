import type { VaultDocument } from '../vault/document.js';
import { entryType } from '../vault/types.js';
import type { BackupStatus } from '../backup/status.js';
import { escrowOf } from '../escrow/escrow.js';
import { dueState, type Interval } from './schedule.js';
import { peekVerifyState, type DrillRun, type VerifyRun } from './state.js';

export interface VaultStatus {
  vault: { vaultId: string; generation: number; keyId: string; updatedAt: string };
  interval: string;
  lastVerification?: VerifyRun;
  lastSuccess?: VerifyRun;
  nextDue?: string;
  overdue: boolean;
  overdueSeconds: number;
  lastDrill?: DrillRun;
  escrow?: { setId: string; epoch: number; threshold: number; count: number; custodians: string[]; keyMatchesVault: boolean };
  copies: { id: string; kind: string; dest: string; file: string; createdAt: string; ageSeconds: number; lastStatus?: string }[];
  /** Key material never found to match production (no drift check ever matched it). */
  neverVerified: string[];
  backups: BackupStatus[];
}

export function vaultStatus(doc: VaultDocument, iv: Interval, now: Date, backups: BackupStatus[] = []): VaultStatus {
  const st = peekVerifyState(doc);
  const due = dueState(st.lastSuccess?.at, iv, now);
  const esc = escrowOf(structuredClone(doc)).current;
  const lastCopy = new Map((st.last?.copies ?? []).filter((c) => c.id).map((c) => [c.id!, c.status]));
  return {
    vault: { vaultId: doc.vaultId, generation: doc.generation, keyId: doc.key.keyId, updatedAt: doc.updatedAt },
    interval: iv.text,
    ...(st.last ? { lastVerification: st.last } : {}),
    ...(st.lastSuccess ? { lastSuccess: st.lastSuccess } : {}),
    ...(due.nextDue ? { nextDue: due.nextDue.toISOString() } : {}),
    overdue: due.overdue,
    overdueSeconds: due.overdueSeconds,
    ...(st.lastDrill ? { lastDrill: st.lastDrill } : {}),
    ...(esc
      ? {
          escrow: {
            setId: esc.setId,
            epoch: esc.epoch,
            threshold: esc.threshold,
            count: esc.count,
            custodians: esc.custodians.map((c) => c.label),
            keyMatchesVault: esc.keyId === doc.key.keyId,
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
