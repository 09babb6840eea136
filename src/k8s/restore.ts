import type { ErrorCode } from '../errors/codes.js';
import { VaultError } from '../errors/errors.js';
import { ClusterError, type SecretsPort } from './cluster.js';
import type { DesiredSecret } from './plan.js';
import { annotationCarriesData, checkClientSafe, CONTENT_HASH_ANNOTATION, contentHash, toYaml, type SecretObject } from './secret.js';

export type OnConflict = 'skip' | 'overwrite' | 'fail' | 'if-unchanged';
export type DryRun = 'none' | 'client' | 'server';
/**
 * What happened to one Secret. `deleted-not-recreated`: a recreate deleted
 * the live Secret and the create that should have followed failed; the
 * cluster lacks the Secret until the restore runs again.
 */
export type Action = 'created' | 'updated' | 'recreated' | 'unchanged' | 'skipped' | 'failed' | 'not-attempted' | 'deleted-not-recreated';

export interface RestoreOptions {
  onConflict: OnConflict;
  dryRun: DryRun;
  /** Delete and create an immutable Secret (or one whose type changes) instead of failing. */
  recreate: boolean;
  createNamespaces: boolean;
  concurrency: number;
  hashKey: Buffer;
  /** Compute a masked diff for every Secret that changes. */
  diff: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface SecretResult {
  namespace: string;
  name: string;
  action: Action;
  /** Secret keys written (names only) and the vault entries they come from. */
  keys: string[];
  sources: Record<string, string>;
  reason?: string;
  /** Advice on the failure; `code` names a condition whose advice depends on the caller (a CLI names its flags). */
  hint?: string;
  code?: ErrorCode;
  diff?: string;
}

export interface RestoreReport {
  dryRun: DryRun;
  onConflict: OnConflict;
  /** true when --on-conflict fail found a conflict and nothing was written. */
  aborted: boolean;
  namespacesCreated: string[];
  results: SecretResult[];
  counts: Record<Action, number>;
  /** Every Secret is created, updated, recreated or unchanged. */
  complete: boolean;
  /** Secrets deleted and not created again (a recreate whose create failed): they are gone from the cluster. */
  lost: string[];
}

/** Runs `f` over `items` with at most `limit` at a time, keeping order in the results. */
export async function pool<T, R>(items: T[], limit: number, f: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

const sameMap = (want: Record<string, string> | undefined, have: Record<string, string> | undefined) =>
  Object.entries(want ?? {}).every(([k, v]) => have?.[k] === v);

/** What the plan sets is already in the cluster (its own content-hash annotation aside). */
export function matches(want: SecretObject, live: SecretObject): boolean {
  const { [CONTENT_HASH_ANNOTATION]: _, ...annotations } = want.metadata.annotations ?? {};
  return (
    (live.type ?? 'Opaque') === (want.type ?? 'Opaque') &&
    sameMap(want.data, live.data) &&
    sameMap(want.metadata.labels, live.metadata.labels) &&
    sameMap(annotations, live.metadata.annotations) &&
    (want.immutable === undefined || Boolean(live.immutable) === want.immutable)
  );
}

/**
 * One side of a diff: only what the restore governs (the type, `immutable`
 * if it sets it, and the labels, annotations and data keys it writes), every
 * data value masked as kubectl diff masks Secrets, and the value of every
 * annotation that can carry data (last-applied-configuration, the content
 * hash) masked too. What the live Secret holds beyond that is not shown.
 */
function governed(s: SecretObject | undefined, want: SecretObject, other: SecretObject | undefined, side: 'before' | 'after'): string {
  if (!s) return '';
  const mask = (a: string | undefined, b: string | undefined) => (a === b ? '***' : `*** (${side})`);
  const pick = (
    from: Record<string, string> | undefined,
    keys: Record<string, string> | undefined,
    secret: (k: string) => boolean,
    theirs?: Record<string, string>,
  ) => {
    const out: Record<string, string> = {};
    for (const k of Object.keys(keys ?? {}).sort()) {
      const v = from?.[k];
      if (v !== undefined) out[k] = secret(k) ? mask(v, theirs?.[k]) : v;
    }
    return out;
  };
  const labels = pick(s.metadata.labels, want.metadata.labels, () => false);
  const annotations = pick(s.metadata.annotations, want.metadata.annotations, annotationCarriesData, other?.metadata.annotations);
  const data = pick(s.data, want.data, () => true, other?.data);
  const { name, namespace } = s.metadata;
  return toYaml({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, ...(Object.keys(labels).length ? { labels } : {}), ...(Object.keys(annotations).length ? { annotations } : {}) },
    type: s.type ?? 'Opaque',
    ...(want.immutable !== undefined ? { immutable: Boolean(s.immutable) } : {}),
    ...(Object.keys(data).length ? { data } : {}),
  });
}

/** A unified diff of two short texts (line LCS), labelled like kubectl diff. */
export function unifiedDiff(before: string, after: string, label: string): string {
  const a = before ? before.trimEnd().split('\n') : [];
  const b = after ? after.trimEnd().split('\n') : [];
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out = [`--- live/${label}`, `+++ merged/${label}`];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(` ${a[i]}`);
      i++;
      j++;
    } else if (i < a.length && (j >= b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) out.push(`-${a[i++]}`);
    else out.push(`+${b[j++]}`);
  }
  return out.join('\n') + '\n';
}

interface Decision {
  kind: 'create' | 'update' | 'recreate' | 'unchanged' | 'skip' | 'conflict' | 'fail';
  reason?: string;
  code?: ErrorCode;
}

function decide(d: DesiredSecret, live: SecretObject | undefined, opts: RestoreOptions): Decision {
  if (!live) return { kind: 'create' };
  const want = d.obj;
  if (matches(want, live)) return { kind: 'unchanged' };
  if (opts.onConflict === 'skip') return { kind: 'skip', reason: 'exists in the cluster and differs from the vault', code: 'k8s-on-conflict' };
  if (opts.onConflict === 'fail') return { kind: 'conflict', reason: 'exists in the cluster and differs from the vault' };
  if (opts.onConflict === 'if-unchanged') {
    const recorded = live.metadata.annotations?.[CONTENT_HASH_ANNOTATION];
    if (!recorded)
      return { kind: 'skip', reason: 'exists and differs from the vault, and vault-tool did not write it (no content-hash annotation)', code: 'k8s-not-ours' };
    if (recorded !== contentHash(opts.hashKey, live.type, live.data, Object.keys(want.data ?? {}))) {
      return { kind: 'skip', reason: 'changed in the cluster since vault-tool last wrote it', code: 'k8s-changed-since' };
    }
  }
  const typeChanges = (live.type ?? 'Opaque') !== (want.type ?? 'Opaque');
  if (live.immutable || typeChanges) {
    const why = live.immutable ? 'the Secret is immutable' : `its type changes from ${live.type} to ${want.type}, which Kubernetes does not allow in place`;
    if (!opts.recreate) return { kind: 'fail', reason: `${why}; it must be deleted and created again`, code: 'k8s-recreate' };
    return { kind: 'recreate' };
  }
  return { kind: 'update' };
}

const emptyCounts = (): Record<Action, number> => ({
  created: 0,
  updated: 0,
  recreated: 0,
  unchanged: 0,
  skipped: 0,
  failed: 0,
  'not-attempted': 0,
  'deleted-not-recreated': 0,
});

/**
 * Restores the desired Secrets: reads every one first, decides, then writes
 * (server-side apply, field manager vault-tool) with bounded concurrency.
 * With --on-conflict fail, a conflict found while reading stops the restore
 * before anything is written. Updates carry the resourceVersion that was read,
 * so a Secret changed in between fails instead of being clobbered. API errors
 * end up in the report, one line per Secret; the restore never stops half-way
 * without saying what was and was not applied.
 */
export async function restore(port: SecretsPort, desired: DesiredSecret[], opts: RestoreOptions): Promise<RestoreReport> {
  for (const d of desired) checkClientSafe(d.obj);
  const results: SecretResult[] = desired.map((d) => ({
    namespace: d.obj.metadata.namespace!,
    name: d.obj.metadata.name,
    action: 'not-attempted',
    keys: Object.keys(d.obj.data ?? {}),
    sources: d.sources,
  }));
  const report: RestoreReport = {
    dryRun: opts.dryRun,
    onConflict: opts.onConflict,
    aborted: false,
    namespacesCreated: [],
    results,
    counts: emptyCounts(),
    complete: false,
    lost: [],
  };
  const finish = () => {
    report.counts = emptyCounts();
    for (const r of results) report.counts[r.action]++;
    report.complete = results.every((r) => ['created', 'updated', 'recreated', 'unchanged'].includes(r.action));
    report.lost = results.filter((r) => r.action === 'deleted-not-recreated').map((r) => `${r.namespace}/${r.name}`);
    return report;
  };
  const fail = (i: number, e: unknown) => {
    const err = e instanceof VaultError ? e : new VaultError('internal', String((e as Error)?.message ?? e));
    results[i]!.action = 'failed';
    results[i]!.reason = err.message;
    if (err instanceof ClusterError && err.status === 404 && err.reason === 'NotFound' && /namespaces? "/.test(err.message))
      results[i]!.code = 'k8s-namespace-missing';
    else {
      if (err.hint) results[i]!.hint = err.hint;
      if (err.code) results[i]!.code = err.code;
    }
  };

  // Namespaces first: a restore into a new cluster usually needs them.
  const namespaces = [...new Set(results.map((r) => r.namespace))];
  const missingNs = new Set<string>();
  if (opts.createNamespaces) {
    const exist = await pool(namespaces, opts.concurrency, (ns) => port.namespaceExists(ns));
    namespaces.forEach((ns, i) => !exist[i] && missingNs.add(ns));
    if (opts.dryRun !== 'client') {
      for (const ns of missingNs) {
        await port.createNamespace(ns, opts.dryRun === 'server');
        report.namespacesCreated.push(ns);
      }
    } else report.namespacesCreated.push(...missingNs);
  }

  // Read phase.
  let fatal: ClusterError | undefined;
  const lives = await pool(desired, opts.concurrency, async (d, i) => {
    if (missingNs.has(results[i]!.namespace)) return { ok: true as const, live: undefined };
    try {
      return { ok: true as const, live: await port.getSecret(d.obj.metadata.namespace!, d.obj.metadata.name) };
    } catch (e) {
      if (e instanceof ClusterError && (e.status === 0 || e.status === 401)) fatal ??= e;
      fail(i, e);
      return { ok: false as const, live: undefined };
    }
  });
  // A cluster that cannot be reached, or refuses the credentials, fails every
  // call alike: say so once, before anything is written.
  if (fatal) throw fatal;
  const decisions = desired.map((d, i) => (lives[i]!.ok ? decide(d, lives[i]!.live, opts) : undefined));
  decisions.forEach((dec, i) => {
    if (opts.diff && dec && ['create', 'update', 'recreate'].includes(dec.kind)) {
      const live = lives[i]!.live;
      const want = desired[i]!.obj;
      results[i]!.diff = unifiedDiff(
        governed(live, want, want, 'before'),
        governed(want, want, live, 'after'),
        `v1.Secret.${results[i]!.namespace}.${results[i]!.name}`,
      );
    }
  });
  if (decisions.some((d) => d?.kind === 'conflict')) {
    report.aborted = true;
    decisions.forEach((d, i) => {
      if (d?.kind === 'conflict') {
        results[i]!.action = 'failed';
        results[i]!.reason = `${d.reason} (the restore stops on conflicts: nothing was written)`;
      }
    });
    return finish();
  }

  // Write phase. A server dry run cannot send a Secret into a namespace that
  // the same dry run only pretended to create: the server would answer 404.
  let done = 0;
  await pool(desired, opts.concurrency, async (d, i) => {
    const dec = decisions[i];
    const r = results[i]!;
    const write = opts.dryRun === 'none' || (opts.dryRun === 'server' && !missingNs.has(r.namespace));
    try {
      if (!dec) return;
      switch (dec.kind) {
        case 'unchanged':
          r.action = 'unchanged';
          return;
        case 'skip':
          r.action = 'skipped';
          r.reason = dec.reason;
          r.code = dec.code;
          return;
        case 'fail':
          r.action = 'failed';
          r.reason = dec.reason;
          r.code = dec.code;
          return;
        case 'create':
          if (write) await port.applySecret(d.obj, { force: false, dryRun: opts.dryRun === 'server' });
          r.action = 'created';
          return;
        case 'update': {
          const live = lives[i]!.live!;
          const body: SecretObject = { ...d.obj, metadata: { ...d.obj.metadata, resourceVersion: live.metadata.resourceVersion } };
          if (write) await port.applySecret(body, { force: true, dryRun: opts.dryRun === 'server' });
          r.action = 'updated';
          return;
        }
        case 'recreate': {
          const live = lives[i]!.live!;
          if (write) {
            // The delete goes ahead only if the create that follows it will be allowed (RBAC, admission, validation):
            // the check is a dry run of that very request (a create, POST), so no other verb is needed after the delete.
            try {
              await port.checkCreate(d.obj);
            } catch (e) {
              fail(i, e);
              r.reason = `left as it was (not deleted): creating it again would fail: ${r.reason}`;
              return;
            }
            await port.deleteSecret(r.namespace, r.name, { uid: live.metadata.uid, resourceVersion: live.metadata.resourceVersion }, opts.dryRun === 'server');
            try {
              if (opts.dryRun === 'none') await port.createSecret(d.obj);
            } catch (e) {
              const err = e instanceof VaultError ? e : new VaultError('internal', String((e as Error)?.message ?? e));
              r.action = 'deleted-not-recreated';
              r.reason = `the live Secret was deleted, and creating it again failed: ${err.message}`;
              r.code = 'k8s-recreate-lost';
              delete r.hint;
              return;
            }
          }
          r.action = 'recreated';
          return;
        }
      }
    } catch (e) {
      fail(i, e);
    } finally {
      opts.onProgress?.(++done, desired.length);
    }
  });
  return finish();
}
