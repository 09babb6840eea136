import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import type { ClusterTarget } from '../../../k8s/run.js';
import type { Context } from '../../context.js';
import { collect, requestTimeoutOption } from '../../options.js';

export interface ClusterOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  requestTimeout: number;
}

/** --kubeconfig, --context, --request-timeout (and -n): which cluster, as kubectl picks it. */
export function clusterOptions(c: Command, withNamespace = true): Command {
  c.option('--kubeconfig <file>', 'kubeconfig file (default: KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: its current context)')
    .addOption(requestTimeoutOption());
  if (withNamespace) c.option('-n, --namespace <ns>', 'namespace (default: the context\'s, else "default")');
  return c;
}

export function clusterTarget(ctx: Context, o: ClusterOptions): ClusterTarget {
  return {
    kubeconfig: o.kubeconfig ? ctx.abs(o.kubeconfig) : undefined,
    context: o.context,
    namespace: o.namespace,
    env: ctx.io.env,
    requestTimeoutMs: o.requestTimeout,
  };
}

/** OLD<sep>NEW pairs into a null-prototype map; an OLD given twice is refused. */
export function parsePairs(list: string[] | undefined, what: string, sep: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const item of list ?? []) {
    const i = item.indexOf(sep);
    if (i <= 0 || i === item.length - 1) throw new VaultError('usage', `${what} must be OLD${sep}NEW, got ${JSON.stringify(item)}`);
    const from = item.slice(0, i);
    if (Object.hasOwn(out, from)) throw new VaultError('usage', `${what} maps ${from} twice`);
    out[from] = item.slice(i + 1);
  }
  return out;
}

export interface PlanOptions {
  plan?: string;
  namespaceMap?: string[];
}

/** --plan and --namespace-map, as every plan-driven command takes them. */
export function planOptions(c: Command, nsMapHelp: string, required = true): Command {
  return (required ? c.requiredOption('--plan <file>', 'the restore plan (YAML)') : c.option('--plan <file>', 'the restore plan (YAML)')).option(
    '--namespace-map <old:new>',
    `${nsMapHelp} (repeatable)`,
    collect,
  );
}

/** The plan file's text (read once: what runs is what the evidence record hashes). */
export async function readPlan(ctx: Context, o: PlanOptions): Promise<{ file: { path: string; text: string }; namespaceMap: Record<string, string> }> {
  if (!o.plan) throw new VaultError('usage', 'which restore plan? give --plan FILE');
  const text = (await ctx.readFile(o.plan, 'the restore plan')).toString('utf8');
  return { file: { path: o.plan, text }, namespaceMap: parsePairs(o.namespaceMap, '--namespace-map', ':') };
}
