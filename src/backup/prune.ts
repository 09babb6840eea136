import { recordEvidence } from '../vault/evidence.js';
import type { VaultDocument } from '../vault/document.js';
import { changed, updateVault, type StoreOptions, type VaultPaths } from '../vault/store.js';
import { inTheFuture } from '../vault/time.js';
import { backupKeys, editBackupState, peekBackupState } from './keys.js';
import { checkSignature } from './manifest.js';
import { listRepo, removeBackup, requireRepo, type Listed, type Repo } from './repo.js';
import { decideRetention, type Decision, type KeepPolicy } from './retention.js';
import { holdKeys } from './run.js';

/**
 * Prune, planned then carried out (restic's PlanPrune, then plan.Execute).
 * `planPrune` reads the repository and the vault and decides, backup by
 * backup, what stays and what goes and why (`retention.ts`; a backup the
 * vault cannot vouch for, signed by a host it does not trust or needing a
 * key it no longer holds, does not count and stays); a dry run prints the
 * plan. `executePrune` removes what it says, manifests first, then records
 * in the vault which backup keys the repository still needs and the prune
 * itself in the evidence log.
 */
export interface PrunePlan {
  /** The repository, as written. */
  repo: string;
  policy: KeepPolicy;
  /** Every backup, newest first per component, with its decision and the reasons for it. */
  decisions: Decision[];
  /** Those that go. */
  going: Decision[];
  stats: { backups: number; kept: number; removed: number; components: number; bytesRemoved: number };
}

/**
 * `host`: this host's signing key id, when it has one: a failed verdict
 * another host recorded never removes a component's last backup.
 */
export async function planPrune(repo: Repo, doc: VaultDocument, policy: KeepPolicy, o: { now: Date; host?: string }): Promise<PrunePlan> {
  const signers = peekBackupState(doc).signers;
  const held = new Set(backupKeys(doc).map((k) => k.keyId));
  await requireRepo(repo);
  const all = await listRepo(repo);
  const now = o.now;
  const decisions = decideRetention(
    all,
    policy,
    now,
    backupKeys(doc)[0]?.keyId,
    (b) => {
      const s = checkSignature(b.manifest!, signers);
      if (!s.ok) return s.message;
      if (inTheFuture(b.manifest!.finishedAt, now)) return `made at ${b.manifest!.finishedAt}, in the future: a host clock is wrong`;
      return held.has(b.manifest!.keyId) ? null : `the vault no longer holds its key ${b.manifest!.keyId}`;
    },
    o.host ? { host: o.host } : {},
  );
  const going = decisions.filter((d) => !d.keep);
  const size = new Map(all.map((b: Listed) => [`${b.component}/${b.file}`, b.manifest?.ciphertext.size ?? 0]));
  return {
    repo: repo.dest.spec,
    policy,
    decisions,
    going,
    stats: {
      backups: decisions.length,
      kept: decisions.length - going.length,
      removed: going.length,
      components: new Set(decisions.map((d) => d.component)).size,
      bytesRemoved: going.reduce((n, d) => n + (size.get(`${d.component}/${d.file}`) ?? 0), 0),
    },
  };
}

/** Removes what the plan says goes; the vault learns which backup keys the repository still needs, and the evidence log records the prune. */
export async function executePrune(repo: Repo, plan: PrunePlan, vault: { paths: VaultPaths; store: StoreOptions }, now: Date): Promise<void> {
  if (!plan.going.length) return;
  for (const d of plan.going) await removeBackup(repo, d.component, d.file);
  const stillNeeded = new Set(plan.decisions.filter((d) => d.keep && d.keyId).map((d) => d.keyId!));
  await updateVault(vault.paths, vault.store, (doc) => {
    const st = editBackupState(doc);
    for (const [keyId, use] of Object.entries(st.keysInUse)) if (!stillNeeded.has(keyId)) use.repos = use.repos.filter((r) => r !== plan.repo);
    holdKeys(doc);
    return changed(
      recordEvidence(
        doc,
        'backup.prune',
        {
          repo: plan.repo,
          removed: plan.going.map((d) => `${d.component}/${d.file}`),
          policy: { ...plan.policy, ...(plan.policy.within ? { within: plan.policy.within.text } : {}) },
        },
        now,
      ),
    );
  });
}
