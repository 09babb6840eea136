import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { drillNeeds } from '../../drill/schedule-needs.js';
import { parseDrillPlan } from '../../drill/plan.js';
import { VaultError } from '../../errors/errors.js';
import { cronFile, type HostSchedule, systemdText } from '../../verify/cron.js';
import { kubeSchedule } from '../../verify/cronjob.js';
import { parseVerificationPlan } from '../../verify/plan.js';
import { emptyNeeds, scheduleNeeds, verifyNeeds } from '../../verify/schedule-needs.js';
import { parseSchedulePlan, type SchedulePlan } from '../../verify/schedule-plan.js';
import type { PlanNeeds } from '../../verify/cronjob.js';
import type { Context } from '../context.js';
import { VERSION } from '../version.js';

/** This vault-tool's script, by absolute path (the package root holds bin/vault-tool.js beside package.json). */
function script(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const bin = join(dir, 'bin', 'vault-tool.js');
    if (existsSync(bin) && existsSync(join(dir, 'package.json'))) return realpathSync(bin);
    dir = dirname(dir);
  }
  throw new VaultError('not-found', 'cannot find the vault-tool script beside this installation: give the plan paths.bin');
}

interface Loaded {
  plan: SchedulePlan;
  vaultFile: string;
  keyFile: string;
  stateDir: string;
  strict: boolean;
}

/**
 * The plan and where the jobs find the vault, the key and the state folder:
 * --vault-file and --key-file given to this command, else the plan's paths,
 * else what this command itself would use (VAULT_TOOL_VAULT_FILE,
 * VAULT_TOOL_KEY_FILE, VAULT_TOOL_STATE_DIR, the defaults), absolute.
 */
async function load(ctx: Context, cmd: Command, file: string): Promise<Loaded> {
  const plan = parseSchedulePlan((await ctx.readFile(file, 'the schedule plan')).toString('utf8'), file);
  const g = ctx.globals(cmd);
  const resolved = ctx.paths(cmd);
  if (g.passphraseEnv)
    throw new VaultError('usage', 'a scheduled job reads the passphrase from a file, never from a variable', {
      hint: "give the plan paths.passphraseFile (a file only the job's user reads), or --passphrase-file",
    });
  if (g.passphraseFile && g.passphraseFile !== '-' && !plan.paths.passphraseFile) plan.paths.passphraseFile = ctx.abs(g.passphraseFile);
  return {
    plan,
    vaultFile: g.vaultFile ? resolved.vaultFile : (plan.paths.vaultFile ?? resolved.vaultFile),
    keyFile: g.keyFile ? resolved.keyFile : (plan.paths.keyFile ?? resolved.keyFile),
    stateDir: plan.paths.stateDir ?? dirname(ctx.stateFile()),
    strict: Boolean(g.strict),
  };
}

/**
 * The plans the jobs read, read here as the jobs will read them: a plan a job
 * would refuse is refused now. For cron and systemd a plan that is not on
 * this machine is only named (the job checks it); the CronJobs carry the
 * plans in a ConfigMap, so there each must be here.
 */
async function readPlans(ctx: Context, l: Loaded, needs: PlanNeeds | undefined): Promise<void> {
  for (const job of l.plan.jobs) {
    const s = job.spec;
    if (s.kind !== 'verify' && s.kind !== 'drill' && !(s.kind === 'status' && s.plan)) continue;
    const path = s.plan!;
    if (!needs && !existsSync(path)) {
      ctx.warn(`job ${job.name}: ${path} is not on this machine: it is checked when the job first runs`);
      continue;
    }
    const text = (await ctx.readFile(path, s.kind === 'drill' ? 'the drill plan' : 'the verification plan')).toString('utf8');
    if (s.kind === 'drill') {
      const plan = parseDrillPlan(text, path, dirname(path));
      const extra: { path: string; text: string }[] = [];
      for (const f of [plan.kubernetes?.plan, plan.kubernetes?.policy, plan.shares.manifest])
        if (f) extra.push({ path: f, text: (await ctx.readFile(f, 'a file the drill plan names')).toString('utf8') });
      if (needs) drillNeeds(job, { path, text }, plan, extra, needs);
    } else {
      const plan = parseVerificationPlan(text, path, '/');
      if (needs) verifyNeeds(job, { path, text }, plan, needs);
    }
  }
}

export default function schedule(cmd: Command, ctx: Context): void {
  cmd
    .command('cron')
    .description('print a file for /etc/cron.d that runs every job of the schedule plan')
    .requiredOption('--plan <file>', 'the schedule plan (FORMAT.md, "Schedule plan")')
    .action(async (o: { plan: string }, sub: Command) => {
      const l = await load(ctx, sub, o.plan);
      await readPlans(ctx, l, undefined);
      ctx.io.stdout.write(cronFile(host(ctx, l)));
    });
  cmd
    .command('systemd')
    .description('print a systemd service and timer per job of the schedule plan')
    .requiredOption('--plan <file>', 'the schedule plan (FORMAT.md, "Schedule plan")')
    .action(async (o: { plan: string }, sub: Command) => {
      const l = await load(ctx, sub, o.plan);
      await readPlans(ctx, l, undefined);
      ctx.io.stdout.write(systemdText(host(ctx, l)));
    });
  cmd
    .command('k8s-cronjob')
    .description('print the CronJobs of the schedule plan and every object they need (or the command that makes it)')
    .requiredOption('--plan <file>', 'the schedule plan (FORMAT.md, "Schedule plan")')
    .option('--image <image>', `the container image (default: the plan's kubernetes.image, else vault-tool:${VERSION})`)
    .option('-n, --namespace <ns>', "the namespace of the jobs (default: the plan's kubernetes.namespace, else vault-tool)")
    .action(async (o: { plan: string; image?: string; namespace?: string }, sub: Command) => {
      const l = await load(ctx, sub, o.plan);
      const needs = emptyNeeds();
      scheduleNeeds(l.plan, needs);
      await readPlans(ctx, l, needs);
      const k = l.plan.kubernetes ?? {};
      const folder = dirname(l.vaultFile);
      const name = basename(l.vaultFile);
      const vaultFiles = existsSync(folder)
        ? readdirSync(folder)
            .filter((f) => f === name || f.startsWith(`${name}.evidence`))
            .sort()
            .map((f) => join(folder, f))
        : [l.vaultFile, `${l.vaultFile}.evidence.jsonl`];
      const out = kubeSchedule({
        plan: l.plan,
        k8s: {
          namespace: o.namespace ?? k.namespace ?? 'vault-tool',
          createNamespace: k.createNamespace ?? true,
          image: o.image ?? k.image ?? `vault-tool:${VERSION}`,
          storage: k.storage ?? { size: '1Gi' },
          volumes: k.volumes ?? {},
        },
        needs,
        vaultFile: l.vaultFile,
        keyFile: l.keyFile,
        stateDir: l.stateDir,
        vaultFiles: vaultFiles.length ? vaultFiles : [l.vaultFile],
        strict: l.strict,
      });
      for (const w of out.warnings) ctx.warn(w);
      ctx.io.stdout.write(out.yaml);
    });
}

function host(ctx: Context, l: Loaded): HostSchedule {
  const bin = l.plan.paths.bin;
  if (bin && !existsSync(bin)) ctx.warn(`paths.bin ${bin} is not on this machine: the jobs fail unless it is where they run`);
  return {
    plan: l.plan,
    bin: l.plan.paths.bin ? [l.plan.paths.bin] : [process.execPath, script()],
    vaultFile: l.vaultFile,
    keyFile: l.keyFile,
    stateDir: l.stateDir,
    strict: l.strict,
  };
}
