import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { compareFromPlan } from '../../../k8s/run.js';
import { table, type Context } from '../../context.js';
import { plural } from '../../options.js';
import { clusterOptions, clusterTarget, planOptions, readPlan, type ClusterOptions, type PlanOptions } from './options.js';

export default function k8sDiffVault(cmd: Command, ctx: Context): void {
  clusterOptions(planOptions(cmd, 'compare a namespace under another name'), false).action(async (o: ClusterOptions & PlanOptions) => {
    const { file, namespaceMap } = await readPlan(ctx, o);
    const { context, results } = await compareFromPlan(ctx.paths(cmd), ctx.storeOptions(cmd), file, namespaceMap, clusterTarget(ctx, o));
    const bad = results.filter((r) => r.status !== 'in-sync');
    if (ctx.globals(cmd).json) ctx.json({ context, inSync: !bad.length, secrets: results });
    else {
      const detail = (r: (typeof results)[number]) =>
        r.error ??
        [
          r.changed.length ? `differs: ${r.changed.join(', ')}` : '',
          r.missingKeys.length && r.status !== 'missing' ? `missing keys: ${r.missingKeys.join(', ')}` : '',
          r.typeDiffers ? `type ${r.typeDiffers.cluster} (vault: ${r.typeDiffers.vault})` : '',
        ]
          .filter(Boolean)
          .join('; ');
      ctx.out(table([['STATUS', 'SECRET', 'DETAIL'], ...results.map((r) => [r.status, `${r.namespace}/${r.name}`, detail(r)])]));
      ctx.info(`${results.length - bad.length} of ${plural(results.length, 'Secret')} match the vault (context ${context})`);
    }
    if (bad.length && bad.every((r) => r.status === 'error'))
      throw new VaultError('cluster', `could not read ${plural(bad.length, 'Secret')}: ${bad[0]!.error}`, {
        // The first failure's condition names the fix (raise --request-timeout, check --context, the Role to use).
        ...(bad[0]!.code ? { code: bad[0]!.code } : { hint: 'check --context and that the cluster answers (kubectl get secret -n NAMESPACE NAME)' }),
      });
    if (bad.length)
      throw new VaultError('verify-failed', `${plural(bad.length, 'Secret')} ${bad.length === 1 ? 'does' : 'do'} not match the vault`, { code: 'k8s-drift' });
  });
}
