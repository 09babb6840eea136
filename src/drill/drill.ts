import type { ErrorCode } from '../errors/codes.js';
import { VaultError } from '../errors/errors.js';
import { recordEvidence } from '../vault/evidence.js';
import type { VaultKey } from '../vault/keyfile.js';
import { changed, updateVault } from '../vault/store.js';
import { formatSeconds } from '../vault/duration.js';
import { editVerifyState } from '../verify/state.js';
import { checksStep } from './checks.js';
import { JournalFile, readJournals } from './journal.js';
import type { ClusterRef } from './targets.js';
import { describe, teardownJournal, type Tools } from './scratch.js';
import { restoreStep } from './step-backups.js';
import { pitrStep } from './step-pitr.js';
import { combineStep, openStep, verifyStep } from './step-keys.js';
import { secretsStep } from './step-secrets.js';
import { type DrillInput, type DrillState, fail, type Planned, type RestoredBackup, type Step } from './steps.js';

export type { DrillInput, RestoredBackup } from './steps.js';

/**
 * The disaster-recovery drill: from custodians' shares to secrets and data
 * restored into scratch targets and checked, each step timed, the recovery
 * time set against the RTO. The recovered key stays in memory (written only
 * when asked); the drill is recorded in the evidence log and as the vault's
 * last drill. Every step is planned first (a dry run stops there and
 * prints the plans); the run carries the plans out only if all of them
 * passed. Every scratch target is journaled before it is made, and
 * teardown removes only what the journal names.
 */
export interface DrillStep {
  name: string;
  ok: boolean;
  skipped?: boolean;
  startedAt: string;
  /** Offset from the drill's start, seconds (of the run; of the plan in a dry run or for a step that only plans). */
  offset: number;
  seconds: number;
  /** The step's plan (when it has a run): when it started, how long it took. */
  plan?: { offset: number; seconds: number };
  message: string;
  /** What to do about a failure. */
  todo?: string;
  /** The condition a failure met, where it has a code (a refused rollback, a wrong key): the command line says what to type for it. */
  code?: ErrorCode;
  data?: Record<string, string>;
}

export interface DrillResult {
  ok: boolean;
  dryRun: boolean;
  at: string;
  operator: string;
  plan: { path: string; sha256: string };
  vault?: { vaultId: string; generation: number; keyId: string };
  custodians: string[];
  steps: DrillStep[];
  restored: RestoredBackup[];
  /** From the start through the checks (teardown excluded). */
  recoverySeconds: number;
  rtoTargetSeconds?: number;
  rtoText?: string;
  /** Whether the recovery met the RTO: only a drill that passed measures it (absent otherwise). */
  rtoMet?: boolean;
  /** What the RTO line says: met, missed, or why it was not measured. */
  rtoVerdict?: 'met' | 'missed' | 'not measured (the drill failed)' | 'not measured (dry run)';
  /** With --keep: the scratch targets left in place, and the journal that names them. */
  kept?: { targets: string[]; journal: string };
}

/** The drill's cluster, from a journaled reference (teardown reaches it again the same way). */
const clusterOf = (input: { cluster: { env: Record<string, string | undefined>; requestTimeoutMs: number } }) => (ref: ClusterRef) => ({
  ...(ref.kubeconfig ? { kubeconfig: ref.kubeconfig } : {}),
  context: ref.context,
  env: input.cluster.env,
  requestTimeoutMs: input.cluster.requestTimeoutMs,
});

/**
 * What dead drills left (their journals in the state folder): removed before
 * anything is restored. A drill still running elsewhere on this machine, or
 * one ended with --keep, stops this one.
 */
function leftoversStep(input: DrillInput): Step | undefined {
  const { over, running } = readJournals(input.stateFile);
  if (!over.length && !running.length) return undefined;
  return {
    name: 'remove what an earlier drill left',
    async plan(s) {
      if (running.length)
        throw fail(
          `another drill is running (pid ${running.map((j) => j.pid).join(', ')}, started ${running.map((j) => j.startedAt).join(', ')})`,
          'wait for it to end',
        );
      const kept = over.filter((j) => j.data.kept);
      if (kept.length)
        throw fail(
          `the drill of ${kept[0]!.data.startedAt} kept its scratch targets (${kept[0]!.data.targets.map(describe).join(', ')})`,
          'remove them with vault-tool drill teardown once you are done with them',
        );
      for (const j of over) s.leftover.push(...j.data.targets);
      const names = over.flatMap((j) => j.data.targets.map(describe));
      return {
        message: `a drill killed on ${over.map((j) => j.data.startedAt).join(', ')} left ${names.length ? names.join(', ') : 'no target'}: removed first`,
        run: async () => {
          const removed: string[] = [];
          const left: string[] = [];
          for (const j of over) {
            const r = await teardownJournal(j, { env: input.env, timeoutMs: input.plan.timeouts.toolMs, cluster: clusterOf(input) });
            removed.push(...r.removed);
            left.push(...r.left);
          }
          if (left.length) throw fail(`could not remove ${left.join('; ')}`, 'remove them by hand (or run vault-tool drill teardown once the cause is fixed)');
          return removed.length ? `removed ${removed.join(', ')}` : 'nothing was left';
        },
      };
    },
  };
}

function teardownStep(input: DrillInput): Step | undefined {
  if (input.keep) return undefined;
  return {
    name: 'tear down the scratch targets',
    afterRecovery: true,
    async plan(s) {
      return {
        message: 'remove every scratch target the drill journals (servers, databases, folders, namespaces, Secrets)',
        run: async () => {
          const j = s.journal!;
          const r = await teardownJournal(j, { env: input.env, timeoutMs: input.plan.timeouts.toolMs, cluster: clusterOf(input) });
          if (r.left.length)
            throw fail(
              `could not remove ${r.left.join('; ')}`,
              `the journal ${j.path} still names them: vault-tool drill teardown removes them once the cause is fixed`,
            );
          return r.removed.length ? `removed ${r.removed.join(', ')}` : 'nothing to remove';
        },
      };
    },
  };
}

/** The steps of a plan, in order. */
export function drillSteps(input: DrillInput): Step[] {
  const p = input.plan;
  return [
    combineStep,
    openStep,
    verifyStep,
    leftoversStep(input),
    secretsStep(input),
    ...(p.backups?.restore ?? []).map(restoreStep),
    ...(p.backups?.pitr ?? []).map(pitrStep),
    checksStep(p.checks),
    teardownStep(input),
  ].filter((x): x is Step => x !== undefined);
}

export async function runDrill(input: DrillInput): Promise<{ result: DrillResult; key?: VaultKey }> {
  const t0 = input.clock();
  const startedAt = input.now();
  const tools: Tools = { env: input.env, timeoutMs: input.plan.timeouts.toolMs };
  const s: DrillState = {
    input,
    custodians: [],
    tools,
    leftover: [],
    restored: [],
    restoredInto: new Map(),
    pitrInto: new Map(),
    store() {
      return { ...input.store, key: s.key! };
    },
  };
  const steps = drillSteps(input);
  const at = () => (input.clock() - t0) / 1000;
  const out: DrillStep[] = [];
  const failure = (e: unknown) => {
    const err = e as Error & { todo?: string; hint?: string; code?: ErrorCode; data?: Record<string, string> };
    return {
      message: err.message,
      ...(err.todo || err.hint ? { todo: err.todo ?? err.hint } : {}),
      ...(e instanceof VaultError && err.code ? { code: err.code, ...(err.data ? { data: err.data } : {}) } : {}),
    };
  };

  // Plan every step; an essential step that fails stops the planning.
  const plans: (Planned | undefined)[] = [];
  let stopped = false;
  for (const step of steps) {
    const base = { name: step.name, startedAt: input.now().toISOString(), offset: at() };
    if (stopped) {
      plans.push(undefined);
      out.push({ ...base, ok: false, skipped: true, seconds: 0, message: 'not run: an earlier step failed' });
      continue;
    }
    input.onProgress?.({ item: step.name, phase: 'planning' });
    try {
      const p = await step.plan(s);
      plans.push(p);
      out.push({ ...base, ok: true, seconds: at() - base.offset, message: p.message });
    } catch (e) {
      plans.push(undefined);
      out.push({ ...base, ok: false, seconds: at() - base.offset, ...failure(e) });
      input.onProgress?.({ item: step.name, failed: true });
      if (step.essential) stopped = true;
    }
  }

  // Run them, if every plan passed: a drill that cannot succeed writes nothing.
  let recoverySeconds = at();
  const planned = out.every((x) => x.ok);
  if (!input.dryRun) {
    if (planned) s.journal = JournalFile.create(input.stateFile, input.planInfo.path, input.now());
    for (const [i, step] of steps.entries()) {
      const p = plans[i];
      const r = out[i]!;
      if (!p?.run) continue;
      const plan = { offset: r.offset, seconds: r.seconds };
      if (!planned) {
        Object.assign(r, { ok: false, skipped: true, plan, message: `not run: the plan failed at "${out.find((x) => !x.ok)!.name}"` });
        continue;
      }
      if (step.afterRecovery) recoverySeconds = at();
      const start = { startedAt: input.now().toISOString(), offset: at() };
      input.onProgress?.({ item: step.name, phase: 'running' });
      try {
        const message = await p.run();
        Object.assign(r, { ...start, ok: true, seconds: at() - start.offset, plan, message });
      } catch (e) {
        Object.assign(r, { ...start, ok: false, seconds: at() - start.offset, plan, ...failure(e) });
        input.onProgress?.({ item: step.name, failed: true });
      }
    }
    if (!steps.some((x) => x.afterRecovery)) recoverySeconds = at();
  }

  let kept: DrillResult['kept'];
  const j = s.journal;
  if (j) {
    if (input.keep && j.data.targets.length) {
      j.keep(input.now());
      kept = { targets: j.data.targets.map(describe), journal: j.path };
    } else if (!j.data.targets.length) j.close();
    else j.release();
  }

  const rto = input.plan.rtoSeconds;
  const passedSoFar = out.every((x) => x.ok);
  let rtoVerdict: DrillResult['rtoVerdict'];
  if (rto !== undefined) {
    rtoVerdict = input.dryRun ? 'not measured (dry run)' : !passedSoFar ? 'not measured (the drill failed)' : recoverySeconds <= rto ? 'met' : 'missed';
    if (rtoVerdict === 'missed')
      out.push({
        name: 'recovery time against the RTO',
        ok: false,
        startedAt: input.now().toISOString(),
        offset: recoverySeconds,
        seconds: 0,
        message: `the recovery took ${formatSeconds(recoverySeconds)} (${recoverySeconds.toFixed(1)} s), over the RTO of ${input.plan.rtoText}`,
        todo: 'find the slowest step in the timeline; faster restores (smaller or closer backups, more custodians reachable) or a revised RTO',
      });
  }
  const result: DrillResult = {
    ok: out.every((x) => x.ok),
    dryRun: input.dryRun,
    at: startedAt.toISOString(),
    operator: input.operator,
    plan: input.planInfo,
    ...(s.meta && s.key ? { vault: { ...s.meta, keyId: s.key.keyId } } : {}),
    custodians: s.custodians,
    steps: out,
    restored: s.restored,
    recoverySeconds,
    ...(rto !== undefined
      ? {
          rtoTargetSeconds: rto,
          rtoText: input.plan.rtoText!,
          rtoVerdict: rtoVerdict!,
          ...(rtoVerdict === 'met' || rtoVerdict === 'missed' ? { rtoMet: rtoVerdict === 'met' } : {}),
        }
      : {}),
    ...(kept ? { kept } : {}),
  };
  return { result, ...(s.key ? { key: s.key } : {}) };
}

/** `drill teardown`: removes what every drill that is over (killed, or kept) left, exactly what each journal names. */
export async function teardownDrills(o: {
  stateFile: string;
  env: Record<string, string | undefined>;
  cluster: { env: Record<string, string | undefined>; requestTimeoutMs: number };
  timeoutMs: number;
  dryRun: boolean;
}): Promise<{ drills: { id: string; startedAt: string; kept: boolean; removed: string[]; left: string[] }[]; running: number }> {
  const { over, running } = readJournals(o.stateFile);
  const drills = [];
  for (const j of over) {
    const base = { id: j.data.id, startedAt: j.data.startedAt, kept: Boolean(j.data.kept) };
    if (o.dryRun) {
      drills.push({ ...base, removed: j.data.targets.map(describe), left: [] });
      continue;
    }
    const r = await teardownJournal(j, { env: o.env, timeoutMs: o.timeoutMs, cluster: clusterOf(o) });
    drills.push({ ...base, ...r });
  }
  return { drills, running: running.length };
}

/** The drill into the evidence log and as the vault's last drill (status and the metrics show it). */
export async function recordDrill(input: DrillInput, r: DrillResult, reportSha256: string, key: VaultKey): Promise<void> {
  await updateVault(input.paths, { ...input.store, key }, (doc) => {
    editVerifyState(doc).lastDrill = {
      at: r.at,
      ok: r.ok,
      // Only a drill that passed measured a recovery time.
      ...(r.ok ? { rtoSeconds: Math.round(r.recoverySeconds) } : {}),
      ...(r.rtoTargetSeconds !== undefined ? { rtoTargetSeconds: r.rtoTargetSeconds } : {}),
      ...(r.rtoVerdict === 'missed' ? { rtoMissed: true } : {}),
      reportSha256,
    };
    return changed(
      recordEvidence(
        doc,
        'drill',
        {
          ok: r.ok,
          operator: r.operator,
          plan: r.plan.path,
          planSha256: r.plan.sha256,
          custodians: r.custodians,
          ...(r.ok ? { recoverySeconds: Math.round(r.recoverySeconds * 10) / 10 } : {}),
          ...(r.rtoTargetSeconds !== undefined ? { rtoTargetSeconds: r.rtoTargetSeconds, rto: r.rtoVerdict } : {}),
          steps: r.steps.map((x) => ({ name: x.name, ok: x.ok, seconds: Math.round(x.seconds * 10) / 10 })),
          restored: r.restored.map((b) => ({ backup: `${b.component}/${b.file}`, ageSeconds: b.ageSeconds, into: b.into })),
          ...(r.kept ? { kept: r.kept.targets, journal: r.kept.journal } : {}),
          reportSha256,
        },
        input.now(),
      ),
    );
  });
}
