import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { readVault } from '../../../vault/store.js';
import { keyIdOf } from '../../../vault/keyfile.js';
import { manifestsFor, planForEntries, sealBundle } from '../../../k8s/export.js';
import { loadPlan } from '../../../k8s/run.js';
import type { Context } from '../../context.js';
import { collect, plural } from '../../options.js';
import { readPlan } from './options.js';

interface ExportOptions {
  prefix?: string;
  plan?: string;
  namespaceMap?: string[];
  secret?: string;
  namespace?: string;
  type: string;
  out?: string;
  force?: boolean;
  plaintext?: boolean;
  reveal?: boolean;
  recipient?: string[];
  armor?: boolean;
}

export default function k8sExport(cmd: Command, ctx: Context): void {
  cmd
    .argument('[names...]')
    .option('--prefix <prefix>', 'entries whose name starts with this')
    .option('--plan <file>', 'the Secrets of this restore plan')
    .option('--namespace-map <old:new>', 'with --plan, restore into another namespace (repeatable)', collect)
    .option('--secret <name>', "put the chosen entries into one Secret of this name (key: the entry name's last segment)")
    .option('-n, --namespace <ns>', 'with --secret, its namespace')
    .option('--type <type>', 'with --secret, the Secret type (kubernetes.io/tls splits one tls entry into tls.crt and tls.key)', 'Opaque')
    .option('-o, --out <file>', 'write here (mode 0600); default stdout')
    .option('--force', 'replace an existing --out file')
    .option('--plaintext', 'write plain YAML Secret manifests instead of an encrypted bundle')
    .option('--reveal', 'with --plaintext, allow writing to a terminal')
    .option('-r, --recipient <age1…>', 'encrypt the bundle to this age recipient too (repeatable; default: the vault key and its recipients)', collect)
    .option('--armor', 'ASCII-armor the bundle')
    .action(async (names: string[], o: ExportOptions) => {
      if (o.plaintext && (o.recipient?.length || o.armor))
        throw new VaultError('usage', '--recipient and --armor are for the encrypted bundle, not --plaintext');
      if (o.plan && (names.length || o.prefix || o.secret))
        throw new VaultError('usage', '--plan chooses the Secrets; do not also name entries, --prefix or --secret');
      // An encrypted bundle replaces only an older bundle (an age file); plain manifests, any unguarded file.
      const kind = o.plaintext ? 'secret' : 'k8s-bundle';
      if (o.out) ctx.checkOut(o.out, kind, Boolean(o.force));
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      let plan;
      if (o.plan) {
        const p = await readPlan(ctx, { plan: o.plan, ...(o.namespaceMap ? { namespaceMap: o.namespaceMap } : {}) });
        plan = loadPlan(p.file, p.namespaceMap);
      } else {
        plan = planForEntries(doc, {
          names,
          ...(o.prefix ? { prefix: o.prefix } : {}),
          ...(o.secret ? { secret: { name: o.secret, namespace: o.namespace ?? 'default', type: o.type } } : {}),
        });
      }
      const m = manifestsFor(doc, plan);
      const body = o.plaintext ? m.yaml : sealBundle(doc, m.yaml, o.recipient ?? [], Boolean(o.armor));
      const what = `${plural(m.secrets, 'Secret')} (${plural(m.keys, 'key')})`;
      // Which Secrets, from which entries, in which form, to whom: never a value.
      const record = () =>
        ctx.recordAccess(cmd, 'k8s.export', {
          secrets: plan.secrets.map((s) => `${s.namespace}/${s.name}`),
          entries: [...new Set(plan.secrets.flatMap((s) => Object.values(s.data)))].sort(),
          form: o.plaintext ? 'plaintext' : 'age',
          ...(o.recipient?.length ? { recipients: o.recipient.map(keyIdOf) } : {}),
          to: o.out ? 'file' : 'stdout',
          ...(o.out ? { out: ctx.abs(o.out) } : {}),
        });
      if (o.out) {
        ctx.writeOut(o.out, body, kind, Boolean(o.force));
        ctx.info(
          `wrote ${what} to ${o.out} (mode 0600, ${o.plaintext ? 'PLAINTEXT' : 'age-encrypted; `age -d -i vault.key FILE | kubectl apply -f -` restores it'})`,
        );
        await record();
        return;
      }
      if (o.plaintext) ctx.guardTerminal(Boolean(o.reveal));
      else if (ctx.io.stdoutIsTTY && !o.armor) throw new VaultError('usage', 'refusing to write a binary bundle to a terminal', 'use --out FILE or --armor');
      ctx.io.stdout.write(body);
      await record();
    });
}
