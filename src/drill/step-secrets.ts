import { VaultError } from '../errors/errors.js';
import { desiredSecrets, parsePlan } from '../k8s/plan.js';
import { isProtected, parsePolicy } from '../k8s/policy.js';
import { loadPlan, openCluster, resolveTarget, restoreFromPlan, type ClusterTarget } from '../k8s/run.js';
import type { ClusterRef } from './targets.js';
import { createNamespace } from './scratch.js';
import { type DrillInput, type DrillState, fail, type Step } from './steps.js';

/** The cluster of a drill plan: its kubeconfig and its named context (never the kubeconfig's current one). */
export function drillCluster(input: DrillInput): ClusterTarget | undefined {
  const k = input.plan.kubernetes;
  if (!k) return undefined;
  return {
    ...(k.kubeconfig ? { kubeconfig: k.kubeconfig } : {}),
    context: k.context,
    env: input.cluster.env,
    requestTimeoutMs: input.cluster.requestTimeoutMs,
  };
}

/** The scratch namespace of each namespace the restore plan names: the plan's map, else drill-NS. */
export function scratchNamespaces(planText: string, planPath: string, given: Record<string, string>): Record<string, string> {
  const map: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const s of parsePlan(planText, planPath).secrets) map[s.namespace] = given[s.namespace] ?? `drill-${s.namespace}`.slice(0, 63);
  return map;
}

/**
 * The Secrets of the restore plan, into namespaces the drill creates in the
 * plan's context: every scratch namespace must not exist (unless a dead
 * drill left it, and the leftovers step removes it first) and must not be a
 * namespace the restore plan writes; the restore policy applies to the
 * context like any other (a protected context is refused); every Secret must
 * be created by this drill (anything already there would count for
 * nothing).
 */
export function secretsStep(input: DrillInput): Step | undefined {
  const k = input.plan.kubernetes;
  const text = input.k8sPlanText;
  if (!k || text === undefined) return undefined;
  const nsMap = scratchNamespaces(text, k.plan, k.namespaceMap);
  return {
    name: `restore Secrets into ${Object.values(nsMap).join(', ') || 'the scratch namespaces'}`,
    async plan(s: DrillState) {
      if (!s.doc) throw fail('the vault is not open');
      const sources = new Set(Object.keys(nsMap));
      const clash = Object.values(nsMap).filter((ns) => sources.has(ns));
      if (clash.length)
        throw fail(
          `namespace ${clash.join(', ')} is one the restore plan writes: a drill restores only into scratch namespaces`,
          'map each namespace of the restore plan to a new one under kubernetes.namespaceMap (default drill-NS)',
        );
      const target = drillCluster(input)!;
      let cfg: ReturnType<typeof resolveTarget>;
      try {
        cfg = resolveTarget(target);
      } catch (e) {
        throw fail((e as Error).message, 'name the scratch cluster under kubernetes.context (and kubernetes.kubeconfig)');
      }
      if (input.policy && isProtected(parsePolicy(input.policy.text, input.policy.path), cfg.context, cfg.sameServer))
        throw fail(
          `context ${cfg.context} is protected by the restore policy ${input.policy.path}: a drill writes only into an unprotected scratch cluster`,
          'name the scratch cluster under kubernetes.context',
        );
      const file = { path: k.plan, text };
      const desired = desiredSecrets(s.doc, loadPlan(file, nsMap));
      const port = await openCluster(target, cfg);
      const namespaces = [...new Set(Object.values(nsMap))];
      for (const ns of namespaces) {
        if ((await port.getNamespace(ns)) && !s.leftover.some((t) => t.kind === 'namespace' && t.name === ns))
          throw fail(
            `namespace ${ns} exists in context ${cfg.context}: a drill restores only into namespaces it creates`,
            'name a namespace that does not exist under kubernetes.namespaceMap, or delete it if it is a scratch namespace nobody uses',
          );
        // The server says whether the drill may create it (a dry run: nothing is made).
        if (!s.leftover.some((t) => t.kind === 'namespace' && t.name === ns)) await port.createNamespace(ns, true);
      }
      const cluster: ClusterRef = { ...(target.kubeconfig ? { kubeconfig: target.kubeconfig } : {}), context: cfg.context, server: cfg.server };
      return {
        message: `${desired.length} Secrets into new namespaces ${namespaces.join(', ')} of context ${cfg.context} (${cfg.server})`,
        run: async () => {
          const j = s.journal!;
          for (const ns of namespaces) await createNamespace(j, port, cluster, ns);
          const r = await restoreFromPlan({
            paths: input.paths,
            store: s.store(),
            plan: file,
            namespaceMap: nsMap,
            target,
            options: { onConflict: 'fail', recreate: false, createNamespaces: false, concurrency: 4, diff: false, dryRun: 'none' },
            ...(input.policy ? { policy: input.policy } : {}),
            answers: { breakGlass: false },
            now: input.now(),
          });
          // Journal each Secret with its uid, so teardown deletes exactly it.
          for (const x of r.report.results.filter((x) => x.action === 'created')) {
            const live = await port.getSecret(x.namespace, x.name);
            if (live?.metadata.uid) j.add({ kind: 'secret', namespace: x.namespace, name: x.name, cluster, uid: live.metadata.uid, state: 'created' });
          }
          const notMade = r.report.results.filter((x) => x.action !== 'created');
          if (notMade.length)
            throw fail(
              `not every Secret was created by the drill: ${notMade.map((x) => `${x.namespace}/${x.name} ${x.action}${x.reason ? ` (${x.reason})` : ''}`).join(', ')}`,
              'read the k8s restore record in the evidence log; fix the cause and run the drill again',
            );
          if (r.evidenceError) {
            // Its condition (a refused rollback) kept, so that what to do about it is said.
            const { code, data } = r.evidenceError as VaultError;
            throw new VaultError('io', `the Secrets were restored but their evidence record failed: ${r.evidenceError.message}`, {
              ...(code ? { code } : {}),
              ...(data ? { data } : {}),
            });
          }
          s.namespaces = nsMap;
          return `${r.report.results.length} Secrets created in ${namespaces.join(', ')} of context ${r.context}`;
        },
      };
    },
  };
}
