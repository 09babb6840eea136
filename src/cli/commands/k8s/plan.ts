import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { readVault } from '../../../vault/store.js';
import { planFromVault, planYaml } from '../../../k8s/plan.js';
import type { Context } from '../../context.js';
import { plural } from '../../options.js';

export default function k8sPlan(cmd: Command, ctx: Context): void {
  cmd
    .argument('[names...]')
    .option('--prefix <prefix>', 'entries whose name starts with this')
    .option('-o, --out <file>', 'write here (mode 0600) instead of stdout')
    .option('--force', 'replace an existing --out file')
    .action(async (names: string[], o: { prefix?: string; out?: string; force?: boolean }) => {
      if (o.out) ctx.checkOut(o.out, 'restore-plan', Boolean(o.force));
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const wanted = names.length ? new Set(names) : undefined;
      const plan = planFromVault(doc, (n) => (wanted ? wanted.has(n) : !o.prefix || n.startsWith(o.prefix)));
      if (!plan.secrets.length) throw new VaultError('not-found', 'no entries with a Kubernetes origin to plan for', { code: 'k8s-no-origin' });
      const text = planYaml(plan);
      if (o.out) {
        ctx.writeOut(o.out, text, 'restore-plan', Boolean(o.force));
        ctx.info(`wrote a plan for ${plural(plan.secrets.length, 'Secret')} to ${o.out}`);
      } else ctx.io.stdout.write(text);
    });
}
