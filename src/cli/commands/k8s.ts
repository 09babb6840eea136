import { Option, type Command } from 'commander';
import { VaultError } from '../../vault/errors.js';
import { collect, table, type Context } from '../context.js';
import { K8S_SUMMARY } from '../main.js';

// Everything Kubernetes is imported inside the actions: `vault-tool list`
// never loads @kubernetes/client-node (nor this file's dependencies).

interface ClusterOpts {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  requestTimeout?: string;
}

function clusterOptions(c: Command, withNamespace = true): Command {
  c.option('--kubeconfig <file>', 'kubeconfig file (default: KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: its current context)')
    .option('--request-timeout <seconds>', 'give up on one API call after this long (0: never)', '30');
  if (withNamespace) c.option('-n, --namespace <ns>', 'namespace (default: the context\'s, else "default")');
  return c;
}

function requestTimeoutMs(o: ClusterOpts): number {
  const secs = Number(o.requestTimeout ?? '30');
  if (!Number.isFinite(secs) || secs < 0) throw new VaultError('usage', '--request-timeout must be a number of seconds');
  return secs * 1000;
}

async function resolveKubeconfig(ctx: Context, o: ClusterOpts) {
  const { loadKubeconfig } = await import('../../k8s/kubeconfig.js');
  return loadKubeconfig({ kubeconfig: o.kubeconfig ? ctx.abs(o.kubeconfig) : undefined, context: o.context, namespace: o.namespace, env: ctx.io.env });
}

async function openCluster(ctx: Context, o: ClusterOpts, cfg?: Awaited<ReturnType<typeof resolveKubeconfig>>) {
  const { connect } = await import('../../k8s/cluster.js');
  const timeout = requestTimeoutMs(o);
  return connect(cfg ?? (await resolveKubeconfig(ctx, o)), { requestTimeoutMs: timeout });
}

function parsePairs(list: string[] | undefined, what: string, sep: string): Record<string, string> {
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

/** Reads the plan once; `text` is what the evidence record hashes. */
async function loadPlanFile(ctx: Context, file: string, nsMap: string[] | undefined) {
  const { parsePlan, mapNamespaces } = await import('../../k8s/plan.js');
  const text = await ctx.readFile(file, 'the restore plan');
  return { plan: mapNamespaces(parsePlan(text.toString('utf8'), file), parsePairs(nsMap, '--namespace-map', ':')), text };
}

const loadPlan = async (ctx: Context, file: string, nsMap: string[] | undefined) => (await loadPlanFile(ctx, file, nsMap)).plan;

/** --plan and --namespace-map, as every plan-driven command takes them. */
function planOptions(c: Command, nsMapHelp: string): Command {
  return c.requiredOption('--plan <file>', 'the restore plan (YAML)').option('--namespace-map <old:new>', `${nsMapHelp} (repeatable)`, collect);
}

const plural = (n: number, one: string, many = one + 's') => `${n} ${n === 1 ? one : many}`;

export function registerK8s(program: Command, ctx: Context): void {
  const k8s = program.command('k8s').description(K8S_SUMMARY);

  clusterOptions(
    k8s
      .command('import [secrets...]')
      .description('import Secrets (from the cluster, or from YAML with --from-file) into the vault')
      .option('-f, --from-file <file>', 'read Secret manifests from this YAML file (multi-document, List, `kubectl get -o yaml`; - for stdin; repeatable)', collect)
      .option('-A, --all-namespaces', 'import from every namespace')
      .option('-l, --selector <selector>', 'only Secrets with these labels (kubectl syntax)')
      .option('--map <KEY=ENTRY[:TYPE]>', 'store Secret key KEY (or NS/SECRET#KEY) as entry ENTRY of type TYPE (repeatable)', collect)
      .option('--map-file <file>', 'mappings from a YAML file (mappings: [{secret, key, entry, type}])')
      .option('--only-mapped', 'import only mapped keys (default: other keys become generic entries k8s/NS/SECRET/KEY)')
      .option('--include-all-types', 'also import service-account-token and Helm release Secrets')
      .option('--dry-run', 'say what would be imported, change nothing'),
  ).action(async (names: string[], o: ClusterOpts & { fromFile?: string[]; allNamespaces?: boolean; selector?: string; map?: string[]; mapFile?: string; onlyMapped?: boolean; includeAllTypes?: boolean; dryRun?: boolean }, cmd: Command) => {
    const { cleanSecret, parseSecretManifests } = await import('../../k8s/secret.js');
    const { parseMapping, parseMappingFile, planImport, applyImport } = await import('../../k8s/import.js');
    const { readVault, updateVault } = await import('../../vault/store.js');
    const mappings = (o.map ?? []).map(parseMapping);
    if (o.mapFile) mappings.push(...parseMappingFile((await ctx.readFile(o.mapFile, 'the mapping file')).toString('utf8'), o.mapFile));
    let secrets;
    let defaultNamespace = o.namespace ?? 'default';
    if (o.fromFile?.length) {
      if (o.allNamespaces || o.selector || o.context || o.kubeconfig) throw new VaultError('usage', '--from-file reads files; -A, -l, --context and --kubeconfig are for a cluster');
      secrets = [];
      for (const f of o.fromFile) {
        const r = parseSecretManifests((await ctx.readFile(f, 'Secret manifests')).toString('utf8'), f);
        for (const w of r.ignored) ctx.warn(`ignored ${w} (not a Secret)`);
        secrets.push(...r.secrets);
      }
      if (names.length) secrets = secrets.filter((s) => names.includes(s.metadata.name));
    } else {
      if (o.allNamespaces && names.length) throw new VaultError('usage', 'name Secrets or use -A, not both');
      if (!o.allNamespaces && !o.selector && !names.length) throw new VaultError('usage', 'which Secrets? name them, or use -l SELECTOR, -A, or --from-file FILE');
      const port = await openCluster(ctx, o);
      defaultNamespace = port.target.namespace;
      if (names.length) {
        secrets = [];
        for (const n of names) {
          const s = await port.getSecret(port.target.namespace, n);
          if (!s) throw new VaultError('not-found', `Secret ${port.target.namespace}/${n} does not exist (context ${port.target.context})`);
          secrets.push(s);
        }
      } else {
        secrets = await port.listSecrets(o.allNamespaces ? undefined : port.target.namespace, o.selector);
      }
      secrets = secrets.map((s, i) => cleanSecret(s, `cluster Secret ${i + 1}`));
    }
    if (!secrets.length) throw new VaultError('not-found', 'no Secrets to import');
    const plan = planImport(secrets, mappings, { includeAllTypes: o.includeAllTypes, onlyMapped: o.onlyMapped, defaultNamespace });
    for (const s of plan.skipped) ctx.warn(`skipped ${s.secret}: ${s.reason}`);
    const paths = ctx.paths(cmd);
    let results;
    if (o.dryRun) {
      const { doc } = await readVault(paths, ctx.storeOptions(cmd));
      results = applyImport(doc, plan, ctx.now());
    } else {
      results = await updateVault(paths, ctx.storeOptions(cmd), (doc) => {
        const before = JSON.stringify(doc.entries);
        const r = applyImport(doc, plan, ctx.now());
        return Object.assign(r, { unchanged: JSON.stringify(doc.entries) === before });
      });
    }
    const rows = results.map((r, i) => ({ entry: r.name, status: r.status, version: r.version, type: plan.items[i]!.type, from: `${plan.items[i]!.secret}#${plan.items[i]!.key}` }));
    if (ctx.globals(cmd).json) return ctx.json({ dryRun: Boolean(o.dryRun), entries: rows, skipped: plan.skipped });
    if (rows.length) ctx.out(table([['ENTRY', 'TYPE', 'STATUS', 'VERSION', 'FROM'], ...rows.map((r) => [r.entry, r.type, r.status, String(r.version), r.from])]));
    const n = (s: string) => rows.filter((r) => r.status === s).length;
    ctx.info(`${o.dryRun ? 'dry run: would import' : 'imported'} ${plural(rows.length, 'key')} from ${plural(secrets.length, 'Secret')}: ${n('added')} added, ${n('updated')} updated, ${n('unchanged')} unchanged`);
  });

  k8s
    .command('export [names...]')
    .description('write Secret manifests for entries: an age-encrypted bundle by default, plain YAML with --plaintext')
    .option('--prefix <prefix>', 'entries whose name starts with this')
    .option('--plan <file>', 'the Secrets of this restore plan')
    .option('--namespace-map <old:new>', 'with --plan, restore into another namespace (repeatable)', collect)
    .option('--secret <name>', 'put the chosen entries into one Secret of this name (key: the entry name\'s last segment)')
    .option('-n, --namespace <ns>', 'with --secret, its namespace')
    .option('--type <type>', 'with --secret, the Secret type (kubernetes.io/tls splits one tls entry into tls.crt and tls.key)', 'Opaque')
    .option('-o, --out <file>', 'write here (mode 0600); default stdout')
    .option('--force', 'replace an existing --out file')
    .option('--plaintext', 'write plain YAML Secret manifests instead of an encrypted bundle')
    .option('--reveal', 'with --plaintext, allow writing to a terminal')
    .option('-r, --recipient <age1…>', 'encrypt the bundle to this age recipient too (repeatable; default: the vault key and its recipients)', collect)
    .option('--armor', 'ASCII-armor the bundle')
    .action(async (names: string[], o: { prefix?: string; plan?: string; namespaceMap?: string[]; secret?: string; namespace?: string; type: string; out?: string; force?: boolean; plaintext?: boolean; reveal?: boolean; recipient?: string[]; armor?: boolean }, cmd: Command) => {
      const { readVault } = await import('../../vault/store.js');
      if (o.out) ctx.checkOut(o.out, Boolean(o.force));
      const { listEntries } = await import('../../vault/entries.js');
      const { desiredSecrets, planFromVault } = await import('../../k8s/plan.js');
      const { manifestsYaml } = await import('../../k8s/secret.js');
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      let plan;
      if (o.plan) {
        if (names.length || o.prefix || o.secret) throw new VaultError('usage', '--plan chooses the Secrets; do not also name entries, --prefix or --secret');
        plan = await loadPlan(ctx, o.plan, o.namespaceMap);
      } else {
        const wanted = names.length ? new Set(names) : undefined;
        const pick = (n: string) => (wanted ? wanted.has(n) : !o.prefix || n.startsWith(o.prefix));
        const chosen = listEntries(doc).filter((e) => pick(e.name));
        if (wanted) for (const n of wanted) if (!chosen.some((e) => e.name === n)) throw new VaultError('not-found', `no entry named ${n}`);
        if (!chosen.length) throw new VaultError('not-found', 'no entries to export');
        if (o.secret) {
          const { checkNamespace, checkSecretName } = await import('../../k8s/secret.js');
          checkSecretName(o.secret);
          const namespace = o.namespace ?? 'default';
          checkNamespace(namespace);
          const { dict } = await import('../../k8s/secret.js');
          const data = dict();
          if (o.type === 'kubernetes.io/tls') {
            if (chosen.length !== 1 || chosen[0]!.type !== 'tls') throw new VaultError('usage', '--type kubernetes.io/tls needs exactly one entry of type tls');
            data['tls.crt'] = `${chosen[0]!.name}#cert`;
            data['tls.key'] = `${chosen[0]!.name}#key`;
          } else {
            for (const e of chosen) {
              const key = e.name.split('/').pop()!;
              if (Object.hasOwn(data, key)) throw new VaultError('usage', `${e.name} and ${data[key]} would both be key ${key}`, 'export them into separate Secrets');
              data[key] = e.name;
            }
          }
          plan = { secrets: [{ namespace, name: o.secret, type: o.type, labels: dict(), annotations: dict(), data }] };
        } else {
          const set = new Set(chosen.map((e) => e.name));
          plan = planFromVault(doc, (n) => set.has(n));
          const covered = new Set(plan.secrets.flatMap((s) => Object.values(s.data)));
          const loose = chosen.filter((e) => !covered.has(e.name));
          if (loose.length) throw new VaultError('usage', `${loose.map((e) => e.name).slice(0, 3).join(', ')}${loose.length > 3 ? ', …' : ''} did not come from a Kubernetes Secret`, 'put them into one with --secret NAME [-n NAMESPACE], or export a --plan');
        }
      }
      // No content-hash annotation: the manifests are what kubectl create secret would write.
      const secrets = desiredSecrets(doc, plan).map((d) => d.obj);
      const yaml = Buffer.from(manifestsYaml(secrets));
      let body: Buffer;
      if (o.plaintext) {
        if (o.recipient?.length || o.armor) throw new VaultError('usage', '--recipient and --armor are for the encrypted bundle, not --plaintext');
        body = yaml;
      } else {
        const { encrypt, parseRecipient } = await import('../../vault/age/index.js');
        const { recipientsOf } = await import('../../vault/container.js');
        const rs = [...recipientsOf(doc).map((r) => r.recipient), ...(o.recipient ?? [])];
        body = encrypt(yaml, { recipients: rs.map((r) => parseRecipient(r)), armor: Boolean(o.armor) });
      }
      const what = `${plural(secrets.length, 'Secret')} (${plural(secrets.reduce((n, s) => n + Object.keys(s.data ?? {}).length, 0), 'key')})`;
      if (o.out) {
        ctx.writeOut(o.out, body, Boolean(o.force));
        ctx.info(`wrote ${what} to ${o.out} (mode 0600, ${o.plaintext ? 'PLAINTEXT' : 'age-encrypted; `age -d -i vault.key FILE | kubectl apply -f -` restores it'})`);
        return;
      }
      if (o.plaintext) ctx.guardTerminal(Boolean(o.reveal));
      else if (ctx.io.stdoutIsTTY && !o.armor) throw new VaultError('usage', 'refusing to write a binary bundle to a terminal', 'use --out FILE or --armor');
      ctx.io.stdout.write(body);
    });

  k8s
    .command('plan [names...]')
    .description('write a restore plan recreating the Secrets the vault\'s entries were imported from')
    .option('--prefix <prefix>', 'entries whose name starts with this')
    .option('-o, --out <file>', 'write here (mode 0600) instead of stdout')
    .option('--force', 'replace an existing --out file')
    .action(async (names: string[], o: { prefix?: string; out?: string; force?: boolean }, cmd: Command) => {
      const { readVault } = await import('../../vault/store.js');
      if (o.out) ctx.checkOut(o.out, Boolean(o.force));
      const { planFromVault, planYaml } = await import('../../k8s/plan.js');
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const wanted = names.length ? new Set(names) : undefined;
      const plan = planFromVault(doc, (n) => (wanted ? wanted.has(n) : !o.prefix || n.startsWith(o.prefix)));
      if (!plan.secrets.length) throw new VaultError('not-found', 'no entries with a Kubernetes origin to plan for', 'import Secrets with `k8s import`, or write the plan by hand (docs/FORMAT.md, "Restore plan")');
      const text = planYaml(plan);
      if (o.out) {
        ctx.writeOut(o.out, text, Boolean(o.force));
        ctx.info(`wrote a plan for ${plural(plan.secrets.length, 'Secret')} to ${o.out}`);
      } else ctx.io.stdout.write(text);
    });

  clusterOptions(
    planOptions(
      k8s
        .command('restore')
        .description('apply a restore plan to a cluster: server-side apply, never clobbering without being asked; a summary per Secret'),
      'restore a namespace under another name',
    )
      .addOption(new Option('--dry-run [mode]', 'change nothing: client (no writes) or server (writes sent with dryRun=All)').choices(['client', 'server']).preset('client'))
      .option('--diff', 'print what would change, values masked as in kubectl diff')
      .addOption(new Option('--on-conflict <policy>', 'a Secret that exists and differs: skip, overwrite, fail (before writing anything), if-unchanged (only if vault-tool wrote it last)').choices(['skip', 'overwrite', 'fail', 'if-unchanged']).default('skip'))
      .option('--recreate', 'delete and create immutable Secrets (or ones whose type changes) instead of failing')
      .option('--create-namespace', 'create missing namespaces')
      .option('--concurrency <n>', 'API calls in flight at once', '8')
      .option('--policy <file>', 'restore policy (default: env VAULT_TOOL_K8S_POLICY, else k8s-policy.yaml beside the vault if present)')
      .option('--confirm-context <name>', 'for a protected context: its name, typed (instead of the prompt)')
      .option('--totp-env <VAR>', 'for a protected context with confirm: totp, read the code from this environment variable')
      .option('--break-glass', 'restore into a protected context outside operational hours (needs --reason)')
      .option('--reason <text>', 'why: recorded in the evidence log'),
    false,
  ).action(async (o: ClusterOpts & { plan: string; namespaceMap?: string[]; dryRun?: 'client' | 'server'; diff?: boolean; onConflict: 'skip' | 'overwrite' | 'fail' | 'if-unchanged'; recreate?: boolean; createNamespace?: boolean; concurrency: string; policy?: string; confirmContext?: string; totpEnv?: string; breakGlass?: boolean; reason?: string }, cmd: Command) => {
    const { readVault, updateVault } = await import('../../vault/store.js');
    const { desiredSecrets } = await import('../../k8s/plan.js');
    const { contentHashKey } = await import('../../k8s/secret.js');
    const { restore } = await import('../../k8s/restore.js');
    const concurrency = Number(o.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new VaultError('usage', '--concurrency must be 1 to 64');
    if (o.breakGlass && !o.reason?.trim()) throw new VaultError('usage', '--break-glass needs --reason "…" (it goes into the evidence log)');
    const paths = ctx.paths(cmd);
    const { plan, text: planText } = await loadPlanFile(ctx, o.plan, o.namespaceMap);
    const { doc } = await readVault(paths, ctx.storeOptions(cmd));
    const hashKey = contentHashKey(doc.fingerprintKey);
    // Everything that can be checked without the cluster is checked first.
    const desired = desiredSecrets(doc, plan, hashKey);
    const cfg = await resolveKubeconfig(ctx, o);
    const dryRun = o.dryRun ?? 'none';
    const guard = dryRun === 'none' ? await enforcePolicy(ctx, cmd, cfg.context, o, doc) : undefined;
    const port = await openCluster(ctx, o, cfg);
    const progress = ctx.io.stderrIsTTY && !ctx.globals(cmd).json;
    const report = await restore(port, desired, {
      onConflict: o.onConflict,
      dryRun,
      recreate: Boolean(o.recreate),
      createNamespaces: Boolean(o.createNamespace),
      concurrency,
      hashKey,
      diff: Boolean(o.diff),
      onProgress: progress ? (d, t) => ctx.io.stderr.write(`\rrestoring ${d}/${t}${d === t ? '\n' : ''}`) : undefined,
    });
    let evidenceError: unknown;
    if (dryRun === 'none') {
      try {
        const { recordEvidence } = await import('../../vault/evidence.js');
        const { createHash } = await import('node:crypto');
        await updateVault(paths, ctx.storeOptions(cmd), (d) =>
          recordEvidence(d, 'k8s.restore', {
            context: cfg.context,
            server: cfg.server,
            plan: o.plan,
            planSha256: createHash('sha256').update(planText).digest('hex'),
            onConflict: o.onConflict,
            ...(o.namespaceMap?.length ? { namespaceMap: o.namespaceMap } : {}),
            ...(guard ?? {}),
            ...(o.reason ? { reason: o.reason } : {}),
            counts: report.counts,
            complete: report.complete,
            secrets: report.results.map((r) => ({ secret: `${r.namespace}/${r.name}`, action: r.action, keys: r.keys, sources: r.sources })),
          }, ctx.now()),
        );
      } catch (e) {
        evidenceError = e;
      }
    }
    if (ctx.globals(cmd).json) {
      ctx.json({ context: cfg.context, server: cfg.server, plan: o.plan, ...report, evidenceRecorded: dryRun === 'none' && !evidenceError });
    } else {
      for (const r of report.results) if (r.diff) ctx.io.stdout.write(r.diff);
      const mark = dryRun === 'none' ? '' : ` (dry run: ${dryRun})`;
      ctx.out(`restore into context ${cfg.context} (${cfg.server})${mark}, on conflict: ${o.onConflict}`);
      if (report.namespacesCreated.length) ctx.out(`namespaces created: ${report.namespacesCreated.join(', ')}`);
      ctx.out(table(report.results.map((r) => ['  ' + r.action, `${r.namespace}/${r.name}`, r.reason ? r.reason + (r.hint ? ` (hint: ${r.hint})` : '') : plural(r.keys.length, 'key')])));
      const c = report.counts;
      ctx.out(`created ${c.created}, updated ${c.updated + c.recreated}, unchanged ${c.unchanged}, skipped ${c.skipped}, failed ${c.failed}${c['not-attempted'] ? `, not attempted ${c['not-attempted']}` : ''}`);
      if (report.aborted) ctx.out('nothing was written: --on-conflict fail found Secrets that differ');
    }
    if (evidenceError) {
      const m = evidenceError instanceof Error ? evidenceError.message : String(evidenceError);
      throw new VaultError('io', `the restore ran (see the summary) but its evidence record could not be written: ${m}`, 'record it by hand in the change ticket; check that the vault folder is writable');
    }
    if (!report.complete) {
      throw new VaultError('incomplete', report.aborted ? 'restore aborted before writing: conflicts found' : `not everything was applied: ${report.counts.skipped} skipped, ${report.counts.failed} failed, ${report.counts['not-attempted']} not attempted`, report.counts.skipped ? 'skipped Secrets exist with other values; see --on-conflict' : undefined);
    }
  });

  clusterOptions(
    planOptions(
      k8s
        .command('diff-vault')
        .alias('compare')
        .description('which Secrets of a plan hold exactly the vault\'s values in the cluster (compared by hash, no values shown)'),
      'compare a namespace under another name',
    ),
    false,
  ).action(async (o: ClusterOpts & { plan: string; namespaceMap?: string[] }, cmd: Command) => {
    const { readVault } = await import('../../vault/store.js');
    const { desiredSecrets } = await import('../../k8s/plan.js');
    const { compareWithCluster } = await import('../../k8s/compare.js');
    const plan = await loadPlan(ctx, o.plan, o.namespaceMap);
    const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
    const desired = desiredSecrets(doc, plan);
    const port = await openCluster(ctx, o);
    const results = await compareWithCluster(port, desired);
    const bad = results.filter((r) => r.status !== 'in-sync');
    if (ctx.globals(cmd).json) ctx.json({ context: port.target.context, inSync: !bad.length, secrets: results });
    else {
      ctx.out(table([['STATUS', 'SECRET', 'DETAIL'], ...results.map((r) => [r.status, `${r.namespace}/${r.name}`, r.error ?? [r.changed.length ? `differs: ${r.changed.join(', ')}` : '', r.missingKeys.length && r.status !== 'missing' ? `missing keys: ${r.missingKeys.join(', ')}` : '', r.typeDiffers ? `type ${r.typeDiffers.cluster} (vault: ${r.typeDiffers.vault})` : ''].filter(Boolean).join('; ')])]));
      ctx.info(`${results.length - bad.length} of ${plural(results.length, 'Secret')} match the vault (context ${port.target.context})`);
    }
    if (bad.length && bad.every((r) => r.status === 'error')) throw new VaultError('cluster', `could not read ${plural(bad.length, 'Secret')}: ${bad[0]!.error}`);
    if (bad.length) throw new VaultError('verify-failed', `${plural(bad.length, 'Secret')} ${bad.length === 1 ? 'does' : 'do'} not match the vault`, 'a key rotated in the cluster and never escrowed? import it with `k8s import`; or restore the vault\'s value with `k8s restore`');
  });

  planOptions(k8s.command('rbac').description('print the least-privilege Role and RoleBinding a restore or verify job needs for a plan'), 'namespace renames, as for restore')
    .addOption(new Option('--for <job>', 'what the account runs').choices(['restore', 'verify']).default('restore'))
    .option('--service-account <ns/name>', 'the ServiceAccount to bind', 'vault-tool/vault-tool')
    .option('--name <name>', 'name of the Role and RoleBinding', 'vault-tool-restore')
    .option('--recreate', 'the restore runs with --recreate (adds delete)')
    .option('--create-namespace', 'the restore runs with --create-namespace (adds a ClusterRole)')
    .action(async (o: { plan: string; namespaceMap?: string[]; for: 'restore' | 'verify'; serviceAccount: string; name: string; recreate?: boolean; createNamespace?: boolean }) => {
      const { rbacFor } = await import('../../k8s/rbac.js');
      const plan = await loadPlan(ctx, o.plan, o.namespaceMap);
      const m = /^([a-z0-9-]+)\/([a-z0-9.-]+)$/.exec(o.serviceAccount);
      if (!m) throw new VaultError('usage', '--service-account must be NAMESPACE/NAME');
      ctx.io.stdout.write(rbacFor(plan, { purpose: o.for, serviceAccount: { namespace: m[1]!, name: m[2]! }, recreate: Boolean(o.recreate), createNamespaces: Boolean(o.createNamespace), name: o.name }));
      ctx.warn('never grant list or watch on Secrets to this account: they return the values of every Secret in the namespace');
    });
}

/** The restore policy's guard rails; returns what the evidence record should say about them. */
async function enforcePolicy(ctx: Context, cmd: Command, context: string, o: { policy?: string; confirmContext?: string; totpEnv?: string; breakGlass?: boolean; reason?: string }, doc: import('../../vault/document.js').VaultDocument): Promise<Record<string, unknown>> {
  const { existsSync } = await import('node:fs');
  const { dirname, join } = await import('node:path');
  const { parsePolicy, isProtected, withinHours, checkTotp } = await import('../../k8s/policy.js');
  const explicit = o.policy ?? ctx.io.env.VAULT_TOOL_K8S_POLICY;
  const path = explicit ? ctx.abs(explicit) : join(dirname(ctx.paths(cmd).vaultFile), 'k8s-policy.yaml');
  if (!explicit && !existsSync(path)) return { protected: false };
  const policy = parsePolicy((await ctx.readFile(path, 'the restore policy')).toString('utf8'), path);
  if (!isProtected(policy, context)) return { protected: false, policy: path };
  const now = ctx.now();
  const hours = withinHours(policy, now);
  if (!hours.within && !o.breakGlass) {
    throw new VaultError('policy', `context ${context} is protected and it is outside operational hours (${policy.hours.text}; now ${hours.local})`, 'an emergency restore needs --break-glass --reason "…" (recorded in the evidence log)');
  }
  if (policy.confirm === 'context') {
    let typed = o.confirmContext;
    if (typed === undefined) {
      if (!ctx.io.stdinIsTTY) throw new VaultError('policy', `context ${context} is protected: confirm it by name`, `pass --confirm-context ${context}`);
      const { input } = await import('@inquirer/prompts');
      typed = await input({ message: `Restoring into protected context ${context}. Type its name to confirm:` });
    }
    if (typed !== context) throw new VaultError('policy', `the confirmation "${typed}" does not match the context ${context}; nothing was restored`);
  } else {
    const { getVersion } = await import('../../vault/entries.js');
    let value: Buffer;
    try {
      value = getVersion(doc, policy.totpEntry!).value;
    } catch {
      throw new VaultError('policy', `the policy's TOTP entry ${policy.totpEntry} is not in the vault`, `add it with \`vault-tool add ${policy.totpEntry} --type totp-secret\``);
    }
    let code: string;
    if (o.totpEnv) code = ctx.envValue(o.totpEnv, 'the TOTP code').toString('utf8');
    else if (ctx.io.stdinIsTTY) {
      const { password } = await import('@inquirer/prompts');
      code = await password({ message: `TOTP code for protected context ${context}:`, mask: true });
    } else throw new VaultError('policy', `context ${context} is protected: a TOTP code is needed`, 'pass --totp-env VAR with the code in that variable');
    if (!(await checkTotp(value, code, now))) throw new VaultError('policy', `the TOTP code for context ${context} is wrong or expired; nothing was restored`);
  }
  return { protected: true, policy: path, confirmedBy: policy.confirm, outsideHours: !hours.within, breakGlass: Boolean(o.breakGlass) };
}
