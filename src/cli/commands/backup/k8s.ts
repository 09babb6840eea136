import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { k8s } from '../../../backup/kinds/k8s.js';
import { k8sSnapshot } from '../../../backup/k8s.js';
import { resolveTarget } from '../../../k8s/run.js';
import type { Context } from '../../context.js';
import { collect } from '../../options.js';
import { clusterOptions, clusterTarget, type ClusterOptions } from '../k8s/options.js';
import { componentName, makeOptions, runBackups, type MakeOptions } from './options.js';

export default function backupK8s(cmd: Command, ctx: Context): void {
  clusterOptions(makeOptions(cmd), false)
    .option('-n, --namespace <ns>', 'a namespace to back up (repeatable)', collect)
    .option('--name <name>', "the component name (k8s/NAME: lowercase letters, digits, . _ -; default: the context's name so cleaned)", componentName)
    .action(async (o: MakeOptions & ClusterOptions & { namespace?: string[]; name?: string }) => {
      if (!o.namespace?.length) throw new VaultError('usage', 'which namespaces? give -n NAMESPACE (repeatable)');
      const target = clusterTarget(ctx, { ...o, namespace: undefined });
      const cfg = resolveTarget(target);
      const name =
        o.name ??
        (cfg.context
          .toLowerCase()
          .replace(/[^a-z0-9._-]+/g, '-')
          .replace(/^[._-]+/, '')
          .slice(0, 100) ||
          'default');
      await runBackups(ctx, cmd, o, async () => [
        await k8s.dump({ name, context: cfg.context, namespaces: o.namespace!, open: (signal) => k8sSnapshot(target, o.namespace!, signal) }, ctx.io.env),
      ]);
    });
}
