import { Option, type Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import type { DryRun, OnConflict } from '../../../k8s/restore.js';
import { restoreFromPlan } from '../../../k8s/run.js';
import { table, type Context } from '../../context.js';
import { checkBreakGlass, guardAnswers, policyFile } from '../../guard.js';
import { hintText } from '../../report.js';
import { plural, wholeNumber } from '../../options.js';
import { clusterOptions, clusterTarget, parsePairs, planOptions, readPlan, type ClusterOptions, type PlanOptions } from './options.js';
import type { SecretObject } from '../../../k8s/secret.js';

interface RestoreOptions extends ClusterOptions, PlanOptions {
  dryRun?: 'client' | 'server';
  diff?: boolean;
  onConflict: OnConflict;
  recreate?: boolean;
  createNamespace?: boolean;
  concurrency: number;
  policy?: string;
  confirmContext?: string;
  totpEnv?: string;
  breakGlass?: boolean;
  reason?: string;
  fromBackup?: string;
  repo?: string;
}

/** The Secrets of a Kubernetes backup (after a full check), as a restore source. */
async function backupSource(ctx: Context, cmd: Command, o: RestoreOptions): Promise<{ file: { path: string; text: string }; secrets: SecretObject[] }> {
  const [{ restorableKey, readBackup }, { vaultForBackups }, { parseSecretManifests }, { sayChosen, selectBackups, trustedBy }] = await Promise.all([
    import('../../../backup/restore.js'),
    import('../../../backup/run.js'),
    import('../../../k8s/secret.js'),
    import('../backup/selection.js'),
  ]);
  const doc = await vaultForBackups(ctx.paths(cmd), ctx.storeOptions(cmd));
  // COMPONENT/FILE, a component (its newest verified backup), or the path of a backup file, as backup restore takes them.
  const { repo, picks } = await selectBackups(ctx, o, [o.fromBackup!], trustedBy(doc));
  const b = picks[0]!.backup;
  if (!b.manifest || b.problem) throw new VaultError('integrity', `${o.fromBackup}: ${b.problem ?? 'no manifest'}`);
  const m = b.manifest;
  if (m.kind !== 'k8s') throw new VaultError('usage', `${o.fromBackup} is a ${m.kind} backup, not a Kubernetes one`);
  sayChosen(ctx, picks);
  const key = restorableKey(doc, m, `${m.component}/${m.file}`);
  const text = (await readBackup(repo, m, key, ctx.io.env, 64 << 20)).toString('utf8');
  const label = `${m.component}/${m.file}`;
  return { file: { path: label, text }, secrets: parseSecretManifests(text, label).secrets };
}

export default function k8sRestore(cmd: Command, ctx: Context): void {
  clusterOptions(
    planOptions(cmd, 'restore a namespace under another name', false)
      .option(
        '--from-backup <backup>',
        'restore the Secrets of a Kubernetes backup (backup k8s) instead of a plan, as they were, with the same guard rails: COMPONENT/FILE, or a component (k8s/NAME) for its newest verified backup',
      )
      .option('-r, --repo <dest>', 'with --from-backup: the backup repository (env VAULT_TOOL_BACKUP_REPO)')
      .addOption(
        new Option('--dry-run [mode]', 'change nothing: client (no writes) or server (writes sent with dryRun=All)')
          .choices(['client', 'server'])
          .preset('client'),
      )
      .option('--diff', 'print what would change, values masked as in kubectl diff')
      .addOption(
        new Option(
          '--on-conflict <policy>',
          'a Secret that exists and differs: skip, overwrite, fail (before writing anything), if-unchanged (only if vault-tool wrote it last)',
        )
          .choices(['skip', 'overwrite', 'fail', 'if-unchanged'])
          .default('skip'),
      )
      .option('--recreate', 'delete and create immutable Secrets (or ones whose type changes) instead of failing')
      .option('--create-namespace', 'create missing namespaces')
      .option('--concurrency <n>', 'API calls in flight at once (1..64)', wholeNumber(1, 64), 8)
      .option('--policy <file>', 'restore policy (default: env VAULT_TOOL_RESTORE_POLICY, else restore-policy.yaml beside the vault if present)')
      .option('--confirm-context <name>', 'for a protected context: its name, typed (instead of the prompt)')
      .option('--totp-env <VAR>', 'for a protected context with confirm: totp, read the code from this environment variable')
      .option('--break-glass', 'restore into a protected context outside operational hours (needs --reason)')
      .option('--reason <text>', 'why: recorded in the evidence log'),
    false,
  ).action(async (o: RestoreOptions) => {
    checkBreakGlass(o);
    if (Boolean(o.plan) === Boolean(o.fromBackup))
      throw new VaultError('usage', o.plan ? 'give --plan or --from-backup, not both' : 'what to restore? give --plan FILE, or --from-backup COMPONENT/FILE');
    const fromBackup = o.fromBackup ? await backupSource(ctx, cmd, o) : undefined;
    const { file, namespaceMap } = fromBackup
      ? { file: fromBackup.file, namespaceMap: parsePairs(o.namespaceMap, '--namespace-map', ':') }
      : await readPlan(ctx, o);
    const target = clusterTarget(ctx, o);
    const dryRun: DryRun = o.dryRun ?? 'none';
    const json = ctx.globals(cmd).json;
    const progress = ctx.progress(cmd);
    let context = '';
    const run = await restoreFromPlan({
      paths: ctx.paths(cmd),
      store: ctx.storeOptions(cmd),
      plan: file,
      ...(fromBackup ? { secrets: fromBackup.secrets } : {}),
      namespaceMap,
      target,
      options: {
        onConflict: o.onConflict,
        dryRun,
        recreate: Boolean(o.recreate),
        createNamespaces: Boolean(o.createNamespace),
        concurrency: o.concurrency,
        diff: Boolean(o.diff),
        ...(progress.mode === 'off'
          ? {}
          : { onProgress: (d: number, t: number) => progress.update('k8s restore', { item: 'Secrets', phase: 'applying', count: d, of: t }) }),
      },
      policy: await policyFile(ctx, cmd, o.policy ? ctx.abs(o.policy) : undefined),
      answers: guardAnswers(ctx, { ...o, confirm: o.confirmContext }, () => `context ${context}`),
      onUnrecorded: (why) => ctx.warn(`the restore policy's decision is NOT in the evidence log: ${why}`),
      now: ctx.now(),
      onTarget: (c) => (context = c),
    });
    const { report } = run;
    // A Secret that failed fails the step (the command exits 16).
    progress.end(!report.results.some((r) => r.action === 'failed' || r.action === 'deleted-not-recreated'));
    // Report lines name conditions by code where the advice is a flag: say it in this CLI's terms.
    for (const r of report.results) {
      const h = r.code ? hintText(r.code) : undefined;
      if (h) r.hint = h;
    }
    if (json) {
      ctx.json({
        context: run.context,
        server: run.server,
        ...(o.plan ? { plan: o.plan } : { backup: file.path }),
        ...report,
        evidenceRecorded: run.evidenceRecorded,
      });
    } else {
      for (const r of report.results) if (r.diff) ctx.io.stdout.write(r.diff);
      const mark = dryRun === 'none' ? '' : ` (dry run: ${dryRun})`;
      ctx.out(`restore into context ${run.context} (${run.server})${mark}, on conflict: ${o.onConflict}`);
      if (report.namespacesCreated.length) ctx.out(`namespaces created: ${report.namespacesCreated.join(', ')}`);
      ctx.out(
        table(
          report.results.map((r) => [
            '  ' + (r.action === 'deleted-not-recreated' ? 'DELETED, NOT RECREATED' : r.action),
            `${r.namespace}/${r.name}`,
            r.reason ? r.reason + (r.hint ? ` (hint: ${r.hint})` : '') : plural(r.keys.length, 'key'),
          ]),
        ),
      );
      const c = report.counts;
      ctx.out(
        `created ${c.created}, updated ${c.updated + c.recreated}, unchanged ${c.unchanged}, skipped ${c.skipped}, failed ${c.failed}${c['not-attempted'] ? `, not attempted ${c['not-attempted']}` : ''}${c['deleted-not-recreated'] ? `, DELETED AND NOT RECREATED ${c['deleted-not-recreated']}` : ''}`,
      );
      if (report.aborted) ctx.out('nothing was written: --on-conflict fail found Secrets that differ');
    }
    if (report.lost.length) {
      if (run.evidenceError) ctx.warn(`the restore's evidence record could not be written: ${run.evidenceError.message}`);
      throw new VaultError(
        'deleted',
        `${report.lost.length === 1 ? 'a Secret was' : `${report.lost.length} Secrets were`} deleted and not created again: ${report.lost.join(', ')}; the cluster lacks ${report.lost.length === 1 ? 'it' : 'them'} now`,
        { code: 'k8s-recreate-lost' },
      );
    }
    if (run.evidenceError) {
      const { code, data } = run.evidenceError;
      throw new VaultError('io', `the restore ran (see the summary) but its evidence record could not be written: ${run.evidenceError.message}`, {
        hint: `record it by hand in the change ticket; ${code ? hintText(code, data ?? {}) : 'check that the vault folder is writable'}`,
      });
    }
    if (!report.complete) {
      throw new VaultError(
        'incomplete',
        report.aborted
          ? 'restore aborted before writing: conflicts found'
          : `not everything was applied: ${report.counts.skipped} skipped, ${report.counts.failed} failed, ${report.counts['not-attempted']} not attempted`,
        report.counts.skipped ? { code: 'k8s-skipped' } : undefined,
      );
    }
  });
}
