import type { Verdict } from '../errors/verdict.js';
import type { VaultDocument } from '../vault/document.js';
import type { Canary } from './canary.js';

/** A registered copy of the vault or of its key (docs/FORMAT.md, "Verification state"). */
export interface CopyRecord {
  id: string;
  kind: 'vault' | 'key';
  /** The destination as given: a folder or an rclone remote. */
  dest: string;
  file: string;
  vaultId: string;
  generation: number;
  keyId: string;
  sha256: string;
  createdAt: string;
  /** The key copy made with this vault copy, or the vault copy made with this key copy. */
  pair?: string;
}

/**
 * What the vault remembers of verification (docs/FORMAT.md, "Verification
 * state"): registered copies and canaries, the last run and the last
 * successful one, when each entry was last found to match production, and
 * the last drill. Holds no secret.
 */
export interface VerifyRun {
  at: string;
  /** Whether it passed (verdict ok). */
  ok: boolean;
  /** ok, failed, or inconclusive (nothing failed, some check could not be judged); absent in runs recorded before verdicts had three values. */
  verdict?: Verdict;
  operator: string;
  failures: number;
  /** Checks that could not be judged on the host that ran it. */
  inconclusive?: number;
  reportSha256: string;
  /** Verdicts of the run, by name (status and the metrics report them). */
  drift?: { entry: string; source: string; status: string }[];
  copies?: { id?: string; location: string; status: string; ageDays?: number }[];
  canaries?: { id: string; entry: string; status: string }[];
  backups?: { component: string; file: string; ok: boolean; verdict?: Verdict }[];
  escrow?: { status: string; setId?: string };
}

export interface DrillRun {
  at: string;
  ok: boolean;
  /** The recovery time measured: only by a drill that passed. */
  rtoSeconds?: number;
  rtoTargetSeconds?: number;
  /** The recovery took longer than the RTO (the drill then failed for that alone, or for that too). */
  rtoMissed?: boolean;
  reportSha256: string;
}

export interface VerifyState {
  copies: CopyRecord[];
  canaries: Canary[];
  last?: VerifyRun;
  lastSuccess?: VerifyRun;
  /** Per entry: when production was last found to hold its current version, and where. */
  production: Record<string, { at: string; source: string }>;
  lastDrill?: DrillRun;
}

/** The document's verification state, created empty on first use (like the escrow state). */
export function verifyState(doc: VaultDocument): VerifyState {
  const d = doc as VaultDocument & { verify?: VerifyState };
  d.verify ??= { copies: [], canaries: [], production: {} };
  d.verify.copies ??= [];
  d.verify.canaries ??= [];
  d.verify.production ??= {};
  return d.verify;
}

/** The state without creating it (for read-only callers). */
export function peekVerifyState(doc: VaultDocument): VerifyState {
  const v = (doc as VaultDocument & { verify?: VerifyState }).verify;
  return {
    copies: v?.copies ?? [],
    canaries: v?.canaries ?? [],
    production: v?.production ?? {},
    ...(v?.last ? { last: v.last } : {}),
    ...(v?.lastSuccess ? { lastSuccess: v.lastSuccess } : {}),
    ...(v?.lastDrill ? { lastDrill: v.lastDrill } : {}),
  };
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
