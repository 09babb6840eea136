import { TABLES } from '../backup/kinds/postgres.js';
import { readBackupInto } from '../backup/restore.js';
import { psqlRead } from '../backup/scratch.js';
import { findEntry, getVersion } from '../vault/entries.js';
import { compareFromPlan } from '../k8s/run.js';
import { checkCanaries } from '../verify/canary.js';
import { peekVerifyState } from '../verify/state.js';
import type { KindCheck } from '../backup/kind.js';
import { type DrillCheck, kindCheckOf, type PitrCheck, TARGET_FIELD } from './plan.js';
import { have } from './step-backups.js';
import { drillCluster } from './step-secrets.js';
import { type DrillState, fail, type Step } from './steps.js';

const describe = (c: DrillCheck): string => {
  const k = kindCheckOf(c);
  if (k) return k.spec.describe(c as KindCheck);
  switch (c.kind) {
    case 'pitr-sql':
      return `sql in ${c.cluster}/${c.database}: expect ${c.expect}`;
    case 'pitr-tables':
      return `${c.cluster}/${c.database} holds at least ${c.tables} tables`;
    case 'secrets':
      return "the Secrets hold the vault's values";
    case 'canaries':
      return 'the canaries decrypt';
    default:
      return `${(c as { entries: string[] }).entries.length} entries present`;
  }
};

/**
 * The plan's checks, against the scratch targets this drill restored and
 * nothing else (the plan's parser already holds every check to a target of
 * the plan; a target whose restore failed is not checked). SQL runs with
 * every transaction read-only (default_transaction_read_only), with the
 * tool's time bound.
 */
export function checksStep(checks: DrillCheck[]): Step | undefined {
  if (!checks.length) return undefined;
  return {
    name: 'run the checks',
    async plan(s: DrillState) {
      const t = s.tools;
      // The tools the checks need, each once.
      const tools = new Map(checks.flatMap((c) => kindCheckOf(c)?.spec.tools ?? []).map((x) => [x.command, x.pkg]));
      if (checks.some((c) => c.kind === 'pitr-sql' || c.kind === 'pitr-tables')) tools.set('psql', 'postgresql-client');
      for (const [cmd, pkg] of tools) await have(cmd, t, pkg);
      // What needs no restore is checked now: a dry run says if it would fail.
      const early = checks.filter((c) => c.kind === 'canaries' || c.kind === 'entries').map((c) => check(c, s).catch((e: Error) => Promise.reject(e)));
      await Promise.all(early).catch((e: Error) => {
        throw fail(e.message);
      });
      return {
        message: `${checks.length} checks: ${checks.map(describe).join('; ')}`,
        run: async () => {
          const results: string[] = [];
          const failures: string[] = [];
          for (const c of checks) {
            try {
              results.push(await check(c, s));
            } catch (e) {
              failures.push((e as Error).message);
            }
          }
          if (failures.length)
            throw fail(
              `${failures.length} of ${checks.length} checks failed: ${failures.join('; ')}`,
              'compare with production; a restored backup older than expected, or a Secret that differs, is what a real recovery would have got',
            );
          return results.join('; ');
        },
      };
    },
  };
}

async function check(c: DrillCheck, s: DrillState): Promise<string> {
  const doc = s.doc!;
  const k = kindCheckOf(c);
  if (k) {
    const kc = c as KindCheck;
    const at = kc[TARGET_FIELD[k.kind.drill.scratch]] as string;
    const b = s.restoredInto.get(at);
    if (!b) throw new Error(`${at} was not restored: the check did not run`);
    const reads = k.spec.reads?.(kc).database;
    if (reads !== undefined && !s.restoredInto.has(reads)) throw new Error(`${reads} was not restored: the check did not run`);
    const t = s.tools;
    return k.spec.run(kc, {
      at,
      manifest: b.manifest,
      env: t.env,
      timeoutMs: t.timeoutMs,
      onStart: (pid, label) => s.journal?.process(pid, label),
      readBackup: (into, label) => readBackupInto(b.repo, b.manifest, b.key, into, label),
    });
  }
  switch (c.kind) {
    case 'pitr-sql':
    case 'pitr-tables':
      return checkPitr(c as PitrCheck, s);
    case 'secrets': {
      const k = s.input.plan.kubernetes;
      if (!k || s.input.k8sPlanText === undefined) throw new Error('no kubernetes: section');
      if (!s.namespaces) throw new Error('the Secrets were not restored: the check did not run');
      const r = await compareFromPlan(s.input.paths, s.store(), { path: k.plan, text: s.input.k8sPlanText }, s.namespaces, drillCluster(s.input)!);
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
    default: {
      const entries = (c as { entries: string[] }).entries;
      const missing = entries.filter((n) => !findEntry(doc, n));
      if (missing.length) throw new Error(`the vault has no entry ${missing.join(', ')}`);
      for (const n of entries) getVersion(doc, n);
      return `${entries.length} entries present`;
    }
  }
}

/** A check in a database of a cluster restored to a point in time, read-only, in its throwaway server. */
async function checkPitr(c: PitrCheck, s: DrillState): Promise<string> {
  const p = s.pitrInto.get(c.cluster);
  if (!p) throw new Error(`${c.cluster} was not restored to a point in time: the check did not run`);
  const t = { env: p.env, timeoutMs: s.tools.timeoutMs, onStart: (pid: number, label: string) => s.journal?.process(pid, label) };
  if (c.kind === 'pitr-sql') {
    const got = await psqlRead(`${c.sql};\n`, {}, t, c.database);
    if (got !== c.expect)
      throw new Error(`${JSON.stringify(c.sql)} in ${c.cluster}/${c.database} gave ${JSON.stringify(got.slice(0, 80))}, expected ${JSON.stringify(c.expect)}`);
    return `${c.cluster}/${c.database}: ${JSON.stringify(c.sql)} = ${c.expect}`;
  }
  const have = Number(await psqlRead(`${TABLES};\n`, {}, t, c.database));
  if (have < c.tables) throw new Error(`${c.cluster}/${c.database} holds ${have} tables, fewer than ${c.tables}`);
  return `${c.cluster}/${c.database}: ${have} tables`;
}
