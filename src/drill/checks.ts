import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tablesInBackup } from '../backup/restore.js';
import { runTool } from '../backup/tool.js';
import { findEntry, getVersion } from '../vault/entries.js';
import { compareFromPlan } from '../k8s/run.js';
import { checkCanaries } from '../verify/canary.js';
import { peekVerifyState } from '../verify/state.js';
import type { DrillCheck } from './plan.js';
import { readOnly } from './scratch.js';
import { drillCluster } from './step-secrets.js';
import { type DrillState, fail, type Step } from './steps.js';

const describe = (c: DrillCheck): string => {
  switch (c.kind) {
    case 'sql':
      return `sql in ${c.database}: expect ${c.expect}`;
    case 'tables':
      return `${c.database} holds the tables of its backup`;
    case 'redis-keys':
      return `${c.dir}: ${c.expect} Redis keys`;
    case 'files':
      return `${c.dir}: ${c.files.length} files`;
    case 'secrets':
      return "the Secrets hold the vault's values";
    case 'canaries':
      return 'the canaries decrypt';
    case 'entries':
      return `${c.entries.length} entries present`;
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
      const needs = new Set<string>(checks.map((c) => (c.kind === 'sql' || c.kind === 'tables' ? 'psql' : c.kind === 'redis-keys' ? 'redis-check-rdb' : '')));
      if (checks.some((c) => c.kind === 'tables')) needs.add('pg_restore');
      for (const cmd of needs) {
        if (!cmd) continue;
        try {
          await runTool(cmd, ['--version'], { env: t.env, timeoutMs: t.timeoutMs });
        } catch (e) {
          throw fail((e as Error).message, `install ${cmd === 'redis-check-rdb' ? 'redis-tools' : 'postgresql-client'}`);
        }
      }
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

async function psql(sql: string, database: string, s: DrillState): Promise<string> {
  const t = s.tools;
  return (
    await runTool('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', sql], {
      env: readOnly(t.env),
      timeoutMs: t.timeoutMs,
      label: `psql in ${database}`,
      onStart: (pid) => s.journal?.process(pid, `psql in ${database}`),
    })
  ).trim();
}

async function check(c: DrillCheck, s: DrillState): Promise<string> {
  const doc = s.doc!;
  switch (c.kind) {
    case 'sql': {
      if (!s.databases.has(c.database)) throw new Error(`${c.database} was not restored: the check did not run`);
      const got = await psql(c.sql, c.database, s);
      if (got !== c.expect)
        throw new Error(`${JSON.stringify(c.sql)} in ${c.database} gave ${JSON.stringify(got.slice(0, 80))}, expected ${JSON.stringify(c.expect)}`);
      return `${c.database}: ${JSON.stringify(c.sql)} = ${c.expect}`;
    }
    case 'tables': {
      const b = s.databases.get(c.database);
      if (!b) throw new Error(`${c.database} was not restored: the check did not run`);
      const listed = await tablesInBackup(b.repo, b.manifest, b.key, s.tools.env, s.tools.timeoutMs);
      const have = Number(
        await psql(
          "select count(*) from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'",
          c.database,
          s,
        ),
      );
      if (have < listed) throw new Error(`${c.database} holds ${have} tables, but its backup ${b.manifest.file} lists ${listed}`);
      return `${c.database}: ${have} tables, as its backup lists`;
    }
    case 'redis-keys': {
      if (!s.folders.has(c.dir)) throw new Error(`${c.dir} was not restored: the check did not run`);
      const out = await runTool('redis-check-rdb', [join(c.dir, 'dump.rdb')], { env: s.tools.env, timeoutMs: s.tools.timeoutMs });
      const n = Number(/(\d+) keys read/.exec(out)?.[1] ?? Number.NaN);
      if (n !== c.expect) throw new Error(`${join(c.dir, 'dump.rdb')} holds ${Number.isNaN(n) ? 'an unreadable number of' : n} keys, expected ${c.expect}`);
      return `redis: ${n} keys`;
    }
    case 'files': {
      if (!s.folders.has(c.dir)) throw new Error(`${c.dir} was not restored: the check did not run`);
      const missing = c.files.filter((f) => !existsSync(join(c.dir, f)));
      if (missing.length) throw new Error(`missing from ${c.dir}: ${missing.join(', ')}`);
      return `${c.files.length} files present in ${c.dir}`;
    }
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
    case 'entries': {
      const missing = c.entries.filter((n) => !findEntry(doc, n));
      if (missing.length) throw new Error(`the vault has no entry ${missing.join(', ')}`);
      for (const n of c.entries) getVersion(doc, n);
      return `${c.entries.length} entries present`;
    }
  }
}
