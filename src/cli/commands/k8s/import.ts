import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { importSecrets, parseMapping, parseMappingFile, planImport, readSecrets, type SecretSource } from '../../../k8s/import.js';
import { table, type Context } from '../../context.js';
import { hintText } from '../../report.js';
import { collect, plural } from '../../options.js';
import { clusterOptions, clusterTarget, type ClusterOptions } from './options.js';

interface ImportOptions extends ClusterOptions {
  fromFile?: string[];
  allNamespaces?: boolean;
  selector?: string;
  map?: string[];
  mapFile?: string;
  onlyMapped?: boolean;
  includeAllTypes?: boolean;
  dryRun?: boolean;
}

export default function k8sImport(cmd: Command, ctx: Context): void {
  clusterOptions(
    cmd
      .argument('[secrets...]')
      .option(
        '-f, --from-file <file>',
        'read Secret manifests from this YAML file (multi-document, List, `kubectl get -o yaml`; - for stdin; repeatable)',
        collect,
      )
      .option('-A, --all-namespaces', 'import from every namespace')
      .option('-l, --selector <selector>', 'only Secrets with these labels (kubectl syntax)')
      .option('--map <KEY=ENTRY[:TYPE]>', 'store Secret key KEY (or NS/SECRET#KEY) as entry ENTRY of type TYPE (repeatable)', collect)
      .option('--map-file <file>', 'mappings from a YAML file (mappings: [{secret, key, entry, type}])')
      .option('--only-mapped', 'import only mapped keys (default: other keys become generic entries k8s/NS/SECRET/KEY)')
      .option('--include-all-types', 'also import service-account-token and Helm release Secrets')
      .option('--dry-run', 'say what would be imported, change nothing'),
  ).action(async (names: string[], o: ImportOptions) => {
    const mappings = (o.map ?? []).map(parseMapping);
    if (o.mapFile) mappings.push(...parseMappingFile((await ctx.readFile(o.mapFile, 'the mapping file')).toString('utf8'), o.mapFile));
    let source: SecretSource;
    if (o.fromFile?.length) {
      if (o.allNamespaces || o.selector || o.context || o.kubeconfig)
        throw new VaultError('usage', '--from-file reads files; -A, -l, --context and --kubeconfig are for a cluster');
      const files = [];
      for (const f of o.fromFile) files.push({ path: f, text: (await ctx.readFile(f, 'Secret manifests')).toString('utf8') });
      source = { kind: 'files', files, names };
    } else {
      source = {
        kind: 'cluster',
        target: clusterTarget(ctx, o),
        names,
        allNamespaces: Boolean(o.allNamespaces),
        ...(o.selector ? { selector: o.selector } : {}),
      };
    }
    const { secrets, ignored, defaultNamespace } = await readSecrets(source);
    for (const w of ignored) ctx.warn(`ignored ${w} (not a Secret)`);
    if (!secrets.length) throw new VaultError('not-found', 'no Secrets to import');
    const plan = planImport(secrets, mappings, {
      includeAllTypes: o.includeAllTypes,
      onlyMapped: o.onlyMapped,
      defaultNamespace: o.namespace ?? defaultNamespace,
    });
    for (const s of plan.skipped) ctx.warn(`skipped ${s.secret}: ${s.reason}${s.code && hintText(s.code) ? `; ${hintText(s.code)}` : ''}`, s.code);
    const results = await importSecrets(ctx.paths(cmd), ctx.storeOptions(cmd), plan, { dryRun: Boolean(o.dryRun), now: ctx.now() });
    const rows = results.map((r, i) => ({
      entry: r.name,
      status: r.status,
      version: r.version,
      type: plan.items[i]!.type,
      from: `${plan.items[i]!.secret}#${plan.items[i]!.key}`,
    }));
    if (ctx.globals(cmd).json) return ctx.json({ dryRun: Boolean(o.dryRun), entries: rows, skipped: plan.skipped });
    if (rows.length)
      ctx.out(table([['ENTRY', 'TYPE', 'STATUS', 'VERSION', 'FROM'], ...rows.map((r) => [r.entry, r.type, r.status, String(r.version), r.from])]));
    const n = (s: string) => rows.filter((r) => r.status === s).length;
    ctx.info(
      `${o.dryRun ? 'dry run: would import' : 'imported'} ${plural(rows.length, 'key')} from ${plural(secrets.length, 'Secret')}: ${n('added')} added, ${n('updated')} updated, ${n('unchanged')} unchanged`,
    );
  });
}
