import { shellWord } from '../../errors/shell.js';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { recordDrill, runDrill, teardownDrills, type DrillResult, type DrillStep } from '../../drill/drill.js';
import { drillPlanFromVault } from '../../drill/init.js';
import { parseDrillPlan } from '../../drill/plan.js';
import { drillHtml, drillMarkdown } from '../../drill/report.js';
import { fileStamp } from '../../vault/time.js';
import { table, type Context } from '../context.js';
import { policyFile } from '../guard.js';
import { collect, requestTimeoutOption } from '../options.js';
import { inManifest, readManifest, readShares, typedShareInputs } from '../shares.js';
import { asNewFileOnly, hintText } from '../report.js';

interface DrillOptions {
  plan?: string;
  share?: string[];
  identity?: string[];
  keep?: boolean;
  dryRun?: boolean;
  writeKey?: string;
  report?: string;
  reportDir?: string;
  html?: string;
  operator?: string;
  requestTimeout: number;
  kubeconfig?: string;
}

/** The recovery time and the RTO, as every output says it: a failed drill measures none. */
function rtoLine(r: DrillResult): string {
  if (r.dryRun) return 'nothing restored (dry run)';
  if (!r.ok && r.rtoMet === undefined) return `recovery time not measured (the drill failed)${r.rtoText ? `; RTO ${r.rtoText}` : ''}`;
  return `recovery ${r.recoverySeconds.toFixed(1)} s${r.rtoText ? ` against an RTO of ${r.rtoText} (${r.rtoMet ? 'met' : 'missed'})` : ''}`;
}

/** What to do about a failed step: the command line's hint for its condition, else the drill's own advice. */
const todoOf = (s: DrillStep): string => (s.code ? hintText(s.code, s.data ?? {}, s.todo) : (s.todo ?? ''));

export default function drill(cmd: Command, ctx: Context): void {
  cmd
    .option('--plan <file>', 'the drill plan (YAML; drill init writes one)')
    .option('--share <file>', 'a share file, besides those the plan names (repeatable)', collect)
    .option('-i, --identity <file>', 'age identity for shares encrypted to a custodian (repeatable)', collect)
    .option('--dry-run', 'plan every step (shares, vault, backups, tools, servers, scratch targets) and print the plans; write nothing')
    .option('--keep', 'keep the scratch targets (databases, folders, namespaces) afterwards, recorded; drill teardown removes them')
    .option('--write-key <file>', 'also write the recovered key to this new file (by default it stays in memory)')
    .option('--report <file>', 'write the Markdown report here')
    .option('--report-dir <dir>', 'write the Markdown and HTML reports into this folder, named by date')
    .option('--html <file>', 'write the printable HTML report (a timeline against the RTO) here')
    .option('--operator <name>', 'who runs it, for the report and the evidence log (default: $USER)')
    .option('--kubeconfig <file>', 'Kubernetes: the kubeconfig, when the plan names none (default: KUBECONFIG, then ~/.kube/config)')
    .addOption(requestTimeoutOption('Kubernetes: give up on one API call after this long (0: never)'))
    .action(async (o: DrillOptions) => {
      if (!o.plan) throw new VaultError('usage', 'which plan? give --plan FILE (vault-tool drill init writes one)');
      const planPath = ctx.abs(o.plan);
      const text = (await ctx.readFile(planPath, 'the drill plan')).toString('utf8');
      const plan = parseDrillPlan(text, o.plan, dirname(planPath));
      if (plan.kubernetes && o.kubeconfig && !plan.kubernetes.kubeconfig) plan.kubernetes.kubeconfig = ctx.abs(o.kubeconfig);
      const k8sText = plan.kubernetes ? (await ctx.readFile(plan.kubernetes.plan, 'the restore plan')).toString('utf8') : undefined;
      // The restore policy in force applies to the drill's context like any other: the plan's, else the one every restore reads.
      const policy = plan.kubernetes ? await policyFile(ctx, cmd, plan.kubernetes.policy) : undefined;
      for (const [f, kind] of [
        [o.report, 'report'],
        [o.html, 'html-report'],
      ] as const)
        if (f) ctx.checkOut(f, kind, false, { makeFolder: true });
      const identities = [...plan.shares.identities, ...(o.identity ?? []).map((f) => ctx.abs(f))];
      // A share that does not read is set aside and named when the others are enough (as escrow combine does).
      const manifest = plan.shares.manifest ? await readManifest(ctx, plan.shares.manifest) : undefined;
      const shareFiles = [...plan.shares.files, ...(o.share ?? []).map((f) => ctx.abs(f))];
      const shares = [
        ...(shareFiles.length ? await readShares(ctx, shareFiles, identities, manifest) : []),
        ...(plan.shares.prompt ? inManifest(await typedShareInputs(ctx), manifest) : []),
      ];
      const progress = ctx.progress(cmd);
      const input = {
        paths: ctx.paths(cmd),
        store: ctx.storeOptions(cmd),
        plan,
        planInfo: { path: o.plan, sha256: createHash('sha256').update(text).digest('hex') },
        shares,
        ...(k8sText !== undefined ? { k8sPlanText: k8sText } : {}),
        ...(policy ? { policy } : {}),
        cluster: { env: ctx.io.env, requestTimeoutMs: o.requestTimeout },
        env: ctx.io.env,
        stateFile: ctx.stateFile(),
        keep: Boolean(o.keep),
        dryRun: Boolean(o.dryRun),
        ...(o.writeKey ? { writeKey: newKeyFile(ctx, o.writeKey) } : {}),
        operator: o.operator ?? ctx.io.env.USER ?? ctx.io.env.LOGNAME ?? 'unknown',
        now: () => ctx.now(),
        clock: () => performance.now(),
        ...(progress.mode === 'off' ? {} : { onProgress: progress.callback('drill') }),
      };
      const { result, key } = await runDrill(input);
      progress.end(result.ok);
      const md = drillMarkdown(result);
      const html = drillHtml(result);
      const reportSha256 = createHash('sha256').update(md).digest('hex');
      const files: string[] = [];
      const write = (path: string, data: string, kind: 'report' | 'html-report') => {
        ctx.writeOut(path, data, kind, false, { makeFolder: true });
        files.push(path);
      };
      if (o.report) write(ctx.abs(o.report), md, 'report');
      if (o.html) write(ctx.abs(o.html), html, 'html-report');
      if (o.reportDir) {
        const base = join(ctx.abs(o.reportDir), `drill-${fileStamp(new Date(result.at))}${result.dryRun ? '-dry-run' : ''}`);
        write(`${base}.md`, md, 'report');
        write(`${base}.html`, html, 'html-report');
      }
      let recorded = false;
      if (!result.dryRun && key) {
        try {
          await recordDrill(input, result, reportSha256, key);
          recorded = true;
        } catch (e) {
          ctx.warn(`the drill could not be recorded in the evidence log: ${(e as Error).message}`);
        }
      }
      if (ctx.globals(cmd).json) ctx.json({ ...result, reportSha256, recorded, reports: files });
      else {
        ctx.out(
          table([
            ['STEP', 'RESULT', 'SECONDS', 'DETAIL'],
            ...result.steps.map((s) => [s.name, s.skipped ? 'skipped' : s.ok ? 'ok' : 'FAIL', s.seconds.toFixed(1), s.message]),
          ]),
        );
        for (const s of result.steps.filter((x) => !x.ok && !x.skipped && (x.todo || x.code))) ctx.out(`to do (${s.name}): ${todoOf(s)}`);
        if (result.kept) ctx.out(`kept (vault-tool drill teardown removes them): ${result.kept.targets.join(', ')}`);
        ctx.info(
          `${result.dryRun ? 'dry run' : 'drill'} ${result.ok ? (result.dryRun ? 'found nothing missing' : 'passed') : 'FAILED'}: ${rtoLine(result)}; custodians ${result.custodians.join(', ') || 'none'}${recorded ? '; recorded in the evidence log' : ''}${files.length ? `; reports: ${files.join(', ')}` : ''}`,
        );
      }
      if (!result.ok) {
        const first = result.steps.find((s) => !s.ok && !s.skipped);
        throw new VaultError('verify-failed', `the ${result.dryRun ? 'dry run' : 'drill'} failed at "${first?.name}": ${first?.message}`, {
          code: 'drill-failed',
          // The failing step's own fix (a refused rollback: --allow-rollback; shares of an older set: the current ones).
          ...(first?.code || first?.todo ? { data: { step: todoOf(first) } } : {}),
        });
      }
    });

  cmd
    .command('init')
    .description('write a drill plan from what the vault knows: the restore plan, the newest verified backup of each component, default checks')
    .option('-o, --out <file>', 'where to write the plan', 'drill.yaml')
    .option('-r, --repo <dest>', 'the backup repository (default: VAULT_TOOL_BACKUP_REPO)')
    .option('--shares <dir>', 'the folder of the share files (escrow split -o)')
    .option('--k8s-plan <file>', 'the Kubernetes restore plan (k8s plan writes one)')
    .option('--context <name>', 'the kubeconfig context of the scratch cluster')
    .option('--scratch <dir>', 'the folder scratch targets go in', 'drill-scratch')
    .option('--rto <duration>', 'the recovery time objective', '2h')
    .option('--force', 'replace an existing plan')
    .action(
      async (
        o: { out: string; repo?: string; shares?: string; k8sPlan?: string; context?: string; scratch: string; rto: string; force?: boolean },
        sub: Command,
      ) => {
        const out = ctx.checkOut(o.out, 'drill-plan', Boolean(o.force));
        const repoSpec = o.repo ?? ctx.io.env.VAULT_TOOL_BACKUP_REPO;
        const { text, warnings } = await drillPlanFromVault({
          paths: ctx.paths(sub),
          store: ctx.storeOptions(sub),
          planDir: dirname(out),
          ...(repoSpec ? { repo: repoSpec } : {}),
          ...(o.shares ? { sharesDir: ctx.abs(o.shares) } : {}),
          ...(o.k8sPlan ? { k8sPlan: ctx.abs(o.k8sPlan) } : {}),
          ...(o.context ? { context: o.context } : {}),
          scratch: ctx.abs(o.scratch),
          rto: o.rto,
          env: ctx.io.env,
          cwd: ctx.io.cwd,
        });
        parseDrillPlan(text, out, dirname(out));
        ctx.writeOut(out, text, 'drill-plan', Boolean(o.force));
        for (const w of warnings) ctx.warn(w);
        if (ctx.globals(sub).json) ctx.json({ plan: out, warnings });
        else ctx.info(`wrote ${out}: review it, then run vault-tool drill --plan ${shellWord(o.out)} --dry-run`);
      },
    );

  cmd
    .command('teardown')
    .description('remove what drills that were killed, or run with --keep, left: exactly the scratch targets their journals name')
    .option('--dry-run', 'say what would be removed, remove nothing')
    .addOption(requestTimeoutOption('Kubernetes: give up on one API call after this long (0: never)'))
    .action(async (o: { dryRun?: boolean; requestTimeout: number }, sub: Command) => {
      // drill itself has --dry-run too: commander may hand the flag to it.
      const dryRun = Boolean(o.dryRun || (sub.parent?.opts() as { dryRun?: boolean } | undefined)?.dryRun);
      const r = await teardownDrills({
        stateFile: ctx.stateFile(),
        env: ctx.io.env,
        cluster: { env: ctx.io.env, requestTimeoutMs: o.requestTimeout },
        timeoutMs: 120_000,
        dryRun,
      });
      if (ctx.globals(sub).json) ctx.json(r);
      else {
        for (const d of r.drills) {
          ctx.out(`drill ${d.id} (${d.kept ? 'kept' : 'killed'}, started ${d.startedAt}):`);
          for (const x of d.removed) ctx.out(`  ${dryRun ? 'would remove' : 'removed'} ${x}`);
          for (const x of d.left) ctx.out(`  NOT removed ${x}`);
        }
        ctx.info(
          r.drills.length
            ? `${dryRun ? 'dry run: ' : ''}${r.drills.length} drill(s) left scratch targets${r.running ? `; ${r.running} drill(s) still running were left alone` : ''}`
            : `no drill left anything${r.running ? ` (${r.running} still running)` : ''}`,
        );
      }
      const left = r.drills.flatMap((d) => d.left);
      if (left.length)
        throw new VaultError('incomplete', `${left.length} scratch target(s) were not removed: ${left.join('; ')}`, { code: 'drill-teardown-left' });
    });
}

/** --write-key: a new file (drill has no --force). */
function newKeyFile(ctx: Context, path: string): string {
  try {
    return ctx.checkOut(path, 'key', false);
  } catch (e) {
    throw asNewFileOnly(e);
  }
}
