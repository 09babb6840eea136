import { Option, type Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { rbacFor } from '../../../k8s/rbac.js';
import { loadPlan } from '../../../k8s/run.js';
import type { Context } from '../../context.js';
import { planOptions, readPlan, type PlanOptions } from './options.js';

interface RbacOptions extends PlanOptions {
  for: 'restore' | 'verify';
  serviceAccount: string;
  name: string;
  recreate?: boolean;
  createNamespace?: boolean;
}

export default function k8sRbac(cmd: Command, ctx: Context): void {
  planOptions(cmd, 'namespace renames, as for restore')
    .addOption(new Option('--for <job>', 'what the account runs').choices(['restore', 'verify']).default('restore'))
    .option('--service-account <ns/name>', 'the ServiceAccount to bind', 'vault-tool/vault-tool')
    .option('--name <name>', 'name of the Role and RoleBinding', 'vault-tool-restore')
    .option('--recreate', 'the restore runs with --recreate (adds delete)')
    .option('--create-namespace', 'the restore runs with --create-namespace (adds a ClusterRole)')
    .action(async (o: RbacOptions) => {
      const { file, namespaceMap } = await readPlan(ctx, o);
      const plan = loadPlan(file, namespaceMap);
      const m = /^([a-z0-9-]+)\/([a-z0-9.-]+)$/.exec(o.serviceAccount);
      if (!m) throw new VaultError('usage', '--service-account must be NAMESPACE/NAME');
      ctx.io.stdout.write(
        rbacFor(plan, {
          purpose: o.for,
          serviceAccount: { namespace: m[1]!, name: m[2]! },
          recreate: Boolean(o.recreate),
          createNamespaces: Boolean(o.createNamespace),
          name: o.name,
        }),
      );
      ctx.warn('never grant list or watch on Secrets to this account: they return the values of every Secret in the namespace');
    });
}
