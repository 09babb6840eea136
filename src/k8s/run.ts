import { createHash } from 'node:crypto';
import { VaultError } from '../errors/errors.js';
import { recordEvidence } from '../vault/evidence.js';
import { changed, checkWritable, readVault, updateVault, type StoreOptions, type VaultPaths } from '../vault/store.js';
import { connect, type SecretsPort } from './cluster.js';
import { compareWithCluster, type CompareResult } from './compare.js';
import { guardRestore, type GuardAnswers, type GuardRecord } from './guard.js';
import { contextTarget } from './policy.js';
import { loadKubeconfig, type ResolvedKubeconfig } from './kubeconfig.js';
import { desiredSecrets, mapNamespaces, parsePlan, type DesiredSecret, type RestorePlan } from './plan.js';
import { restore, type RestoreOptions, type RestoreReport } from './restore.js';
import { CONTENT_HASH_ANNOTATION, contentHash, contentHashKey, type SecretObject } from './secret.js';

/** Which cluster, as kubectl picks it. */
export interface ClusterTarget {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  env: Record<string, string | undefined>;
  requestTimeoutMs: number;
}

export function resolveTarget(t: ClusterTarget): ResolvedKubeconfig {
  return loadKubeconfig({ kubeconfig: t.kubeconfig, context: t.context, namespace: t.namespace, env: t.env });
}

/** The cluster's port; `signal` aborts every request still running once it fires (the caller gave up). */
export async function openCluster(t: ClusterTarget, cfg: ResolvedKubeconfig = resolveTarget(t), signal?: AbortSignal): Promise<SecretsPort> {
  return connect(cfg, { requestTimeoutMs: t.requestTimeoutMs, ...(signal ? { signal } : {}) });
}

/** A plan file's text, parsed, with namespace renames applied. */
export function loadPlan(file: { path: string; text: string }, namespaceMap: Record<string, string> = {}): RestorePlan {
  return mapNamespaces(parsePlan(file.text, file.path), namespaceMap);
}

export interface RestoreRun {
  paths: VaultPaths;
  store: StoreOptions;
  /** The restore plan (values from the vault); or, with `secrets`, the name and text of what holds them. */
  plan: { path: string; text: string };
  /** Secrets taken as they are (from a backup), instead of the plan's: names, types, labels and values. */
  secrets?: SecretObject[];
  namespaceMap?: Record<string, string>;
  target: ClusterTarget;
  options: Omit<RestoreOptions, 'hashKey'>;
  /** The restore policy, if one applies; enforced for restores that write. */
  policy?: { path: string; text: string };
  answers: GuardAnswers;
  now: Date;
  /** Told the context as soon as it is resolved (prompts name it). */
  onTarget?: (context: string) => void;
  /** Told when the policy's decision could not go into the evidence log. */
  onUnrecorded?: (why: string) => void;
}

export interface RestoreOutcome {
  report: RestoreReport;
  context: string;
  server: string;
  /** Whether a k8s.restore record went into the evidence log (never for dry runs). */
  evidenceRecorded: boolean;
  /** Why the record could not be written, when the restore itself ran. */
  evidenceError?: VaultError;
}

/**
 * A restore by plan, in the order that keeps mistakes cheap: the plan and
 * every value are checked before the cluster is contacted, the policy before
 * anything is written, then the restore, then its evidence record (context,
 * server, plan hash, guard-rail outcome, per Secret the action and the
 * entry@version of each key; never values).
 */
export async function restoreFromPlan(run: RestoreRun): Promise<RestoreOutcome> {
  const opened = await readVault(run.paths, run.store);
  const { doc } = opened;
  // The record is written after the cluster is: a vault copy that would refuse it (older than one seen) is refused first.
  if (run.options.dryRun === 'none') await checkWritable(run.paths, opened, run.store);
  const hashKey = contentHashKey(doc.fingerprintKey);
  const desired = run.secrets
    ? secretsAsGiven(run.secrets, run.namespaceMap ?? {}, hashKey, run.plan.path)
    : desiredSecrets(doc, loadPlan(run.plan, run.namespaceMap), hashKey);
  const cfg = resolveTarget(run.target);
  run.onTarget?.(cfg.context);
  const writes = run.options.dryRun === 'none';
  const guard: GuardRecord | undefined = writes
    ? await guardRestore({
        policy: run.policy,
        target: contextTarget(cfg.context, cfg.sameServer),
        restore: run.plan.path,
        now: run.now,
        doc,
        answers: run.answers,
        paths: run.paths,
        store: run.store,
        ...(run.onUnrecorded ? { onUnrecorded: run.onUnrecorded } : {}),
      })
    : undefined;
  const port = await openCluster(run.target, cfg);
  const report = await restore(port, desired, { ...run.options, hashKey });
  const outcome: RestoreOutcome = { report, context: cfg.context, server: cfg.server, evidenceRecorded: false };
  if (!writes) return outcome;
  try {
    await updateVault(run.paths, run.store, (d) =>
      changed(
        recordEvidence(
          d,
          'k8s.restore',
          {
            context: cfg.context,
            server: cfg.server,
            [run.secrets ? 'backup' : 'plan']: run.plan.path,
            [run.secrets ? 'backupSha256' : 'planSha256']: createHash('sha256').update(run.plan.text).digest('hex'),
            onConflict: run.options.onConflict,
            ...(run.namespaceMap && Object.keys(run.namespaceMap).length
              ? { namespaceMap: Object.entries(run.namespaceMap).map(([a, b]) => `${a}:${b}`) }
              : {}),
            ...(guard ?? {}),
            ...(run.answers.reason ? { reason: run.answers.reason } : {}),
            counts: report.counts,
            complete: report.complete,
            secrets: report.results.map((r) => ({ secret: `${r.namespace}/${r.name}`, action: r.action, keys: r.keys, sources: r.sources })),
          },
          run.now,
        ),
      ),
    );
    outcome.evidenceRecorded = true;
  } catch (e) {
    outcome.evidenceError = e instanceof VaultError ? e : new VaultError('io', (e as Error).message);
  }
  return outcome;
}

/** Secrets from a backup, renamed into mapped namespaces, with the content hash a restore writes; each key's source is the backup. */
function secretsAsGiven(secrets: SecretObject[], namespaceMap: Record<string, string>, hashKey: Buffer, label: string): DesiredSecret[] {
  const seen = new Set<string>();
  return secrets.map((s) => {
    const namespace = namespaceMap[s.metadata.namespace ?? 'default'] ?? s.metadata.namespace ?? 'default';
    const id = `${namespace}/${s.metadata.name}`;
    if (seen.has(id)) throw new VaultError('invalid', `${label} holds Secret ${id} twice (check the namespace mappings)`);
    seen.add(id);
    const annotations = { ...(s.metadata.annotations ?? {}), [CONTENT_HASH_ANNOTATION]: contentHash(hashKey, s.type, s.data ?? {}) };
    const obj: SecretObject = { ...s, metadata: { ...s.metadata, namespace, annotations } };
    return { obj, sources: Object.fromEntries(Object.keys(s.data ?? {}).map((k) => [k, label])) };
  });
}

/** Which Secrets of a plan hold exactly the vault's current values in the cluster (keyed hashes, no values). */
export async function compareFromPlan(
  paths: VaultPaths,
  store: StoreOptions,
  planFile: { path: string; text: string },
  namespaceMap: Record<string, string>,
  target: ClusterTarget,
): Promise<{ context: string; results: CompareResult[] }> {
  const plan = loadPlan(planFile, namespaceMap);
  const { doc } = await readVault(paths, store);
  const desired = desiredSecrets(doc, plan);
  const port = await openCluster(target);
  return { context: port.target.context, results: await compareWithCluster(port, desired) };
}
