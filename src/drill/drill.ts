import { execFile } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { VaultError } from '../errors/errors.js';
import type { VaultDocument } from '../vault/document.js';
import { findEntry, getVersion } from '../vault/entries.js';
import { recordEvidence } from '../vault/evidence.js';
import { writeOutput } from '../fs/output.js';
import { externalTimeoutMs } from '../dest/timeout.js';
import { keyFromScalar, type VaultKey } from '../vault/keyfile.js';
import { peekVault } from '../vault/container.js';
import { changed, keyFileBytes, readVault, readVaultFile, updateVault, type StoreOptions, type VaultPaths } from '../vault/store.js';
import { idOfSecret } from '../escrow/escrow.js';
import type { Share } from '../escrow/envelope.js';
import { combineShares } from '../escrow/shares.js';
import { loadPlan, openCluster, restoreFromPlan, compareFromPlan, resolveTarget } from '../k8s/run.js';
import { parsePlan } from '../k8s/plan.js';
import { backupKeys } from '../backup/keys.js';
import { listRepo, type Listed, type Repo } from '../backup/repo.js';
import { restoreBackup, type RestoreTarget } from '../backup/restore.js';
import { verifyBackup } from '../backup/run.js';
import { parseDestination } from '../dest/dest.js';
import { checkCanaries } from '../verify/canary.js';
import { peekVerifyState, verifyState } from '../verify/state.js';
import { runVerification } from '../verify/verify.js';
import type { BackupRestore, DrillCheck, DrillPlan } from './plan.js';

const run = promisify(execFile);
type Env = Record<string, string | undefined>;

/**
 * The disaster-recovery drill: from custodians' shares to secrets and data
 * restored into scratch targets and checked, each step timed, the recovery
 * time set against the RTO. The recovered key stays in memory (written only
 * when asked); the drill is recorded in the evidence log and as the vault's
 * last drill. A dry run walks the same steps without writing anything and
 * reports what is missing.
 */
export interface DrillInput {
  paths: VaultPaths;
  store: StoreOptions;
  plan: DrillPlan;
  planInfo: { path: string; sha256: string };
  shares: Share[];
  cluster: { env: Env; requestTimeoutMs: number };
  env: Env;
  keep: boolean;
  dryRun: boolean;
  /** Write the recovered key here (a new file, 0600), when asked. */
  writeKey?: string;
  operator: string;
  now: () => Date;
  /** Monotonic milliseconds (performance.now). */
  clock: () => number;
}

export interface DrillStep {
  name: string;
  ok: boolean;
  skipped?: boolean;
  startedAt: string;
  /** Offset from the drill's start, seconds. */
  offset: number;
  seconds: number;
  message: string;
  /** What to do about a failure. */
  todo?: string;
}

export interface RestoredBackup {
  component: string;
  file: string;
  madeAt: string;
  /** How old the restored data was: the recovery point actually achieved. */
  ageSeconds: number;
  into: string;
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
  rtoMet?: boolean;
}

class StepFailed extends Error {
  constructor(
    message: string,
    readonly todo?: string,
  ) {
    super(message);
  }
}

/** A drill restores into scratch namespaces: no restore policy applies, nobody is asked. */
const NO_ANSWERS = { breakGlass: false };

const fail = (message: string, todo?: string) => new StepFailed(message, todo);

async function tool(cmd: string, args: string[], env: Env): Promise<string> {
  try {
    return (await run(cmd, args, { env: env as NodeJS.ProcessEnv, maxBuffer: 1 << 20, timeout: externalTimeoutMs(env), killSignal: 'SIGKILL' })).stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT')
      throw fail(`${cmd} is not installed`, `install it (${cmd === 'redis-check-rdb' ? 'redis-server' : cmd === 'tar' ? 'tar' : 'postgresql-client'})`);
    throw fail(`${cmd} failed: ${(err.stderr ?? err.message).trim().split('\n').slice(-1)[0]}`);
  }
}

const emptyOrMissing = (dir: string) => !existsSync(dir) || (statSync(dir).isDirectory() && readdirSync(dir).length === 0);

/** The newest backup of a component whose last verification passed (or the one named). */
function chooseBackup(all: Listed[], r: BackupRestore): Listed {
  const mine = all.filter((b) => b.component === r.component);
  if (r.file) {
    const b = mine.find((x) => x.file === r.file);
    if (!b) throw fail(`no backup ${r.component}/${r.file} in the repository`, 'check the file name with `backup list`');
    return b;
  }
  const good = mine
    .filter((b) => b.manifest && !b.problem && b.manifest.verification?.ok)
    .sort((a, b) => b.manifest!.finishedAt.localeCompare(a.manifest!.finishedAt));
  if (!good.length)
    throw fail(
      `no verified backup of ${r.component} in the repository${mine.length ? ` (${mine.length} unverified or damaged)` : ''}`,
      'make one (vault-tool backup …) and verify it',
    );
  return good[0]!;
}

function targetOf(r: BackupRestore, b: Listed): RestoreTarget {
  const kind = b.manifest!.kind;
  // The drill creates the scratch database itself (so teardown drops only what it made), then restores into it.
  if (kind === 'postgres') return { kind: 'postgres', dbname: r.database!, create: false, noOwner: true, force: true };
  if (kind === 'redis') return { kind: 'redis', dir: r.dir!, force: false };
  if (kind === 'files') return { kind: 'files', dir: r.dir!, force: false };
  return { kind: 'file', out: join(r.dir!, b.file.replace(/\.age$/, '')), force: false };
}

/** The default scratch namespace of each namespace a restore plan names: drill-NS. */
export function scratchNamespaces(planText: string, planPath: string, given: Record<string, string>): Record<string, string> {
  const map: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const s of parsePlan(planText, planPath).secrets) map[s.namespace] = given[s.namespace] ?? `drill-${s.namespace}`.slice(0, 63);
  return map;
}

export async function runDrill(input: DrillInput, planText: { kubernetes?: string }): Promise<{ result: DrillResult; key?: VaultKey }> {
  const t0 = input.clock();
  const startedAt = input.now();
  const steps: DrillStep[] = [];
  const restored: RestoredBackup[] = [];
  // What the drill made, and only that, is removed at teardown: databases it created, folders it created (or emptied ones it filled), Secrets it created.
  const created = { databases: [] as string[], dirs: [] as string[], filled: [] as string[], secrets: [] as { namespace: string; name: string }[] };
  let stopped = false;
  const step = async <T>(name: string, f: () => Promise<T>, opts: { stopOnFailure?: boolean } = {}): Promise<T | undefined> => {
    const s = input.clock();
    const base = { name, startedAt: input.now().toISOString(), offset: (s - t0) / 1000 };
    if (stopped) {
      steps.push({ ...base, ok: false, skipped: true, seconds: 0, message: 'not run: an earlier step failed' });
      return undefined;
    }
    try {
      const r = await f();
      steps.push({
        ...base,
        ok: true,
        seconds: (input.clock() - s) / 1000,
        message: typeof r === 'string' ? r : ((r as { message?: string } | undefined)?.message ?? 'done'),
      });
      return r;
    } catch (e) {
      const err = e as Error & { todo?: string; hint?: string };
      steps.push({
        ...base,
        ok: false,
        seconds: (input.clock() - s) / 1000,
        message: err.message,
        ...(err.todo || err.hint ? { todo: err.todo ?? err.hint } : {}),
      });
      if (opts.stopOnFailure) stopped = true;
      return undefined;
    }
  };
  const plan = input.plan;
  const env = input.env;
  let key: VaultKey | undefined;
  let custodians: string[] = [];
  let doc: VaultDocument | undefined;
  let meta: { vaultId: string; generation: number } | undefined;

  await step(
    'combine the shares',
    async () => {
      if (!input.shares.length)
        throw fail('no shares: the plan names no share files and none were typed', 'list the share files under shares.files, or set shares.prompt: true');
      const file = readVaultFile(input.paths.vaultFile);
      const ids = peekVault(file).keyIds;
      let r;
      try {
        r = await combineShares(input.shares, idOfSecret);
      } catch (e) {
        const err = e as VaultError;
        throw fail(err.message, err.hint ?? 'bring the number of custodians the message names, each with their own share');
      }
      custodians = r.used.map((s) => s.label);
      key = keyFromScalar(r.secret, r.keyCreatedAt ?? input.now().toISOString());
      r.secret.fill(0);
      if (!ids.includes(key.keyId))
        throw fail(
          `the shares of ${custodians.join(', ')} recover key id ${key.keyId}, but ${input.paths.vaultFile} opens with ${ids.join(', ')}: they are from an older split`,
          'use the current share set (escrow status names it)',
        );
      const badNote = r.reasons.length ? `; set aside: ${r.reasons.join('; ')}` : '';
      return `the shares of ${custodians.join(', ')} recover the vault key (key id ${key.keyId}), kept in memory${badNote}`;
    },
    { stopOnFailure: true },
  );

  const store = (): StoreOptions => ({ ...input.store, key: key! });
  await step(
    'open the vault with the recovered key',
    async () => {
      const o = await readVault(input.paths, store());
      doc = o.doc;
      meta = { vaultId: o.meta.vaultId, generation: o.meta.generation };
      if (input.writeKey && !input.dryRun) writeOutput(input.writeKey, keyFileBytes(key!), 'key');
      return `opened ${input.paths.vaultFile}: generation ${o.meta.generation}, ${o.doc.entries.length} entries${input.writeKey && !input.dryRun ? `; the key written to ${input.writeKey}` : ''}`;
    },
    { stopOnFailure: true },
  );

  await step('verify the vault', async () => {
    const v = await runVerification({
      paths: input.paths,
      store: store(),
      plan: { interval: { months: 3, text: 'quarterly' }, against: [], copies: [] },
      registeredCopies: false,
      dest: { env },
      sources: { env },
      operator: input.operator,
      now: input.now(),
    });
    const bad = v.checks.filter((c) => !c.ok);
    if (bad.length)
      throw fail(
        `${bad.length} of ${v.checks.length} checks failed: ${bad
          .slice(0, 3)
          .map((c) => `${c.area}: ${c.message}`)
          .join('; ')}`,
        'run vault-tool verify with this vault and key for the details',
      );
    return `${v.checks.length} checks passed (entries, evidence log, canaries)`;
  });

  const k8s = plan.kubernetes;
  const nsMap = k8s && planText.kubernetes !== undefined ? scratchNamespaces(planText.kubernetes, k8s.plan, k8s.namespaceMap) : {};
  const target = k8s
    ? {
        ...(k8s.kubeconfig ? { kubeconfig: k8s.kubeconfig } : {}),
        ...(k8s.context ? { context: k8s.context } : {}),
        env: input.cluster.env,
        requestTimeoutMs: input.cluster.requestTimeoutMs,
      }
    : undefined;
  if (k8s && target) {
    await step(`restore Secrets into ${Object.values(nsMap).join(', ') || 'the scratch namespaces'}`, async () => {
      const file = { path: k8s.plan, text: planText.kubernetes! };
      const opts = { onConflict: 'overwrite' as const, recreate: true, createNamespaces: true, concurrency: 4, diff: false };
      const apply = (dryRun: 'client' | 'server' | 'none') =>
        restoreFromPlan({
          paths: input.paths,
          store: store(),
          plan: file,
          namespaceMap: nsMap,
          target,
          options: { ...opts, dryRun },
          answers: NO_ANSWERS,
          now: input.now(),
        });
      if (input.dryRun) {
        const plan2 = loadPlan(file, nsMap);
        const port = await openCluster(target, resolveTarget(target));
        for (const ns of new Set(plan2.secrets.map((s) => s.namespace))) await port.namespaceExists(ns);
        const r = await apply('client');
        return `context ${r.context} reachable; ${r.report.results.length} Secrets would be restored`;
      }
      const dry = await apply('server');
      const failed = dry.report.results.filter((r) => r.action === 'failed');
      if (failed.length)
        throw fail(
          `the server-side dry run refused ${failed.map((r) => `${r.namespace}/${r.name} (${r.reason})`).join(', ')}`,
          "fix the plan or the scratch cluster's permissions (k8s rbac)",
        );
      const r = await apply('none');
      for (const s of r.report.results) if (s.action === 'created' || s.action === 'recreated') created.secrets.push({ namespace: s.namespace, name: s.name });
      if (!r.report.complete)
        throw fail(`not every Secret was restored: ${JSON.stringify(r.report.counts)}`, 'read the k8s restore summary; re-run after fixing the cause');
      return `${r.report.results.length} Secrets restored into context ${r.context} (server-side dry run first)`;
    });
  }

  const repo: Repo | undefined = plan.backups ? { dest: parseDestination(plan.backups.repo, '/'), io: { env } } : undefined;
  let listed: Listed[] = [];
  for (const r of plan.backups?.restore ?? []) {
    await step(`restore ${r.component}`, async () => {
      if (!doc || !repo) throw fail('the vault is not open');
      if (!listed.length) listed = await listRepo(repo);
      const b = chooseBackup(listed, r);
      const check = await verifyBackup(repo, b, doc, { readData: false, env });
      if (!check.ok)
        throw fail(
          `${b.component}/${b.file}: ${check.message}`,
          check.keyHeld
            ? 'use another backup (file:) or find out why this one fails'
            : 'the vault must hold the backup key of this backup: it cannot be restored',
        );
      const m = b.manifest!;
      const t = targetOf(r, b);
      if (t.kind === 'postgres') {
        const exists = (
          await tool('psql', ['-X', '-A', '-t', '-d', 'postgres', '-c', `select count(*) from pg_database where datname = '${t.dbname}'`], env)
        ).trim();
        if (exists !== '0')
          throw fail(
            `the scratch database ${t.dbname} already exists`,
            `drop it (dropdb ${t.dbname}) or name another one: a drill restores only into a new database`,
          );
      } else {
        const dir = r.dir!;
        if (!emptyOrMissing(dir))
          throw fail(`the scratch folder ${dir} is not empty`, 'name an empty or new folder: a drill restores only into scratch targets');
      }
      const age = Math.round((input.now().getTime() - Date.parse(m.finishedAt)) / 1000);
      if (input.dryRun) return `${b.file} (made ${m.finishedAt}), key ${m.keyId} held; ${t.kind === 'postgres' ? `database ${t.dbname}` : r.dir} free`;
      if (t.kind === 'postgres') {
        await tool('createdb', ['--', t.dbname], env);
        created.databases.push(t.dbname);
      } else if (!existsSync(r.dir!)) created.dirs.push(r.dir!);
      else created.filled.push(r.dir!);
      const key2 = backupKeys(doc).find((k) => k.keyId === m.keyId)!;
      const into = await restoreBackup(repo, m, key2, t, env);
      restored.push({ component: m.component, file: m.file, madeAt: m.finishedAt, ageSeconds: age, into });
      return `${m.file} (made ${m.finishedAt}, ${Math.round(age / 60)} min old) into ${into}, after a full check`;
    });
  }

  if (plan.checks.length) {
    await step('run the checks', async () => {
      if (!doc) throw fail('the vault is not open');
      const results: string[] = [];
      const failures: string[] = [];
      for (const c of plan.checks) {
        try {
          results.push(await runCheck(c, doc, input, store(), nsMap, target, planText.kubernetes));
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
      if (failures.length)
        throw fail(
          `${failures.length} of ${plan.checks.length} checks failed: ${failures.join('; ')}`,
          'compare with production; a restored backup older than expected, or a Secret that differs, is what a real recovery would have got',
        );
      return results.join('; ');
    });
  }
  const recoverySeconds = (input.clock() - t0) / 1000;

  if (!input.dryRun && !input.keep) {
    await step('tear down the scratch targets', async () => {
      const done: string[] = [];
      for (const db of created.databases) {
        await tool('dropdb', ['--if-exists', '--', db], env);
        done.push(`database ${db}`);
      }
      for (const d of created.dirs) {
        rmSync(d, { recursive: true, force: true });
        done.push(d);
      }
      for (const d of created.filled) {
        for (const f of readdirSync(d)) rmSync(join(d, f), { recursive: true, force: true });
        done.push(`what was restored into ${d}`);
      }
      if (created.secrets.length && target) {
        const port = await openCluster(target);
        for (const s of created.secrets) await port.deleteSecret(s.namespace, s.name, {}, false);
        done.push(`${created.secrets.length} Secrets`);
      }
      return done.length ? `removed ${done.join(', ')}` : 'nothing to remove';
    });
  }

  const rtoMet = plan.rtoSeconds !== undefined ? recoverySeconds <= plan.rtoSeconds : undefined;
  if (rtoMet === false && !input.dryRun) {
    steps.push({
      name: 'recovery time against the RTO',
      ok: false,
      startedAt: input.now().toISOString(),
      offset: recoverySeconds,
      seconds: 0,
      message: `the recovery took ${recoverySeconds.toFixed(1)} s, over the RTO of ${plan.rtoText} (${plan.rtoSeconds} s)`,
      todo: 'find the slowest step in the timeline; faster restores (smaller or closer backups, more custodians reachable) or a revised RTO',
    });
  }
  const result: DrillResult = {
    ok: steps.every((s) => s.ok),
    dryRun: input.dryRun,
    at: startedAt.toISOString(),
    operator: input.operator,
    plan: input.planInfo,
    ...(meta && key ? { vault: { ...meta, keyId: (key as VaultKey).keyId } } : {}),
    custodians,
    steps,
    restored,
    recoverySeconds,
    ...(plan.rtoSeconds !== undefined ? { rtoTargetSeconds: plan.rtoSeconds, rtoText: plan.rtoText!, rtoMet: rtoMet! } : {}),
  };
  return { result, ...(key ? { key } : {}) };
}

async function runCheck(
  c: DrillCheck,
  doc: VaultDocument,
  input: DrillInput,
  store: StoreOptions,
  nsMap: Record<string, string>,
  target: Parameters<typeof openCluster>[0] | undefined,
  k8sPlan: string | undefined,
): Promise<string> {
  switch (c.kind) {
    case 'sql': {
      if (input.dryRun) return `sql in ${c.database}: would expect ${c.expect}`;
      const got = (await tool('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', c.database, '-c', c.sql], input.env)).trim();
      if (got !== c.expect)
        throw new Error(`${JSON.stringify(c.sql)} in ${c.database} gave ${JSON.stringify(got.slice(0, 80))}, expected ${JSON.stringify(c.expect)}`);
      return `${c.database}: ${JSON.stringify(c.sql)} = ${c.expect}`;
    }
    case 'redis-keys': {
      if (input.dryRun) return `redis: would expect ${c.expect} keys`;
      const out = await tool('redis-check-rdb', [join(c.dir, 'dump.rdb')], input.env);
      const n = Number(/(\d+) keys read/.exec(out)?.[1] ?? NaN);
      if (n !== c.expect) throw new Error(`${join(c.dir, 'dump.rdb')} holds ${Number.isNaN(n) ? 'an unreadable number of' : n} keys, expected ${c.expect}`);
      return `redis: ${n} keys`;
    }
    case 'files': {
      if (input.dryRun) return `files: would expect ${c.files.length} files`;
      const missing = c.files.filter((f) => !existsSync(join(c.dir, f)));
      if (missing.length) throw new Error(`missing from ${c.dir}: ${missing.join(', ')}`);
      return `${c.files.length} files present in ${c.dir}`;
    }
    case 'secrets': {
      if (!target || k8sPlan === undefined) throw new Error('no kubernetes: section');
      if (input.dryRun) return 'Secrets: would compare with the vault';
      const r = await compareFromPlan(input.paths, store, { path: 'drill plan', text: k8sPlan }, nsMap, target);
      const off = r.results.filter((x) => x.status !== 'in-sync');
      if (off.length) throw new Error(`Secrets that do not hold the vault's values: ${off.map((x) => `${x.namespace}/${x.name} (${x.status})`).join(', ')}`);
      return `${r.results.length} Secrets hold exactly the vault's values`;
    }
    case 'canaries': {
      const cs = peekVerifyState(doc).canaries;
      if (!cs.length) throw new Error('no canaries are registered in the vault: create one per key production holds');
      const bad = checkCanaries(doc, cs).filter((x) => x.status !== 'opens');
      if (bad.length) throw new Error(bad.map((b) => b.message).join('; '));
      return `${cs.length} canaries decrypt`;
    }
    case 'entries': {
      const missing = c.entries.filter((n) => !findEntry(doc, n));
      if (missing.length) throw new Error(`the vault has no entry ${missing.join(', ')}`);
      for (const n of c.entries) getVersion(doc, n);
      return `${c.entries.length} entries present`;
    }
  }
}

/** The drill into the evidence log and as the vault's last drill (status and the metrics show it). */
export async function recordDrill(input: DrillInput, r: DrillResult, reportSha256: string, key: VaultKey): Promise<void> {
  await updateVault(input.paths, { ...input.store, key }, (doc) => {
    verifyState(doc).lastDrill = {
      at: r.at,
      ok: r.ok,
      rtoSeconds: Math.round(r.recoverySeconds),
      ...(r.rtoTargetSeconds !== undefined ? { rtoTargetSeconds: r.rtoTargetSeconds } : {}),
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
          recoverySeconds: Math.round(r.recoverySeconds * 10) / 10,
          ...(r.rtoTargetSeconds !== undefined ? { rtoTargetSeconds: r.rtoTargetSeconds, rtoMet: r.rtoMet } : {}),
          steps: r.steps.map((s) => ({ name: s.name, ok: s.ok, seconds: Math.round(s.seconds * 10) / 10 })),
          restored: r.restored.map((b) => ({ backup: `${b.component}/${b.file}`, ageSeconds: b.ageSeconds })),
          reportSha256,
        },
        input.now(),
      ),
    );
  });
}
