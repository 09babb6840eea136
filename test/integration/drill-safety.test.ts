import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript helper shared with the benchmarks
import { startKubeApi } from '../helpers/kube-api-server.mjs';
import { BIN, cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { havePostgres, startPostgres, type Postgres } from '../helpers/servers.mjs';

/**
 * What a drill may touch: only what it made. Scratch namespaces that exist,
 * a namespace of the restore plan, a context the restore policy protects, a
 * plan without a context, checks naming a database the drill did not
 * restore, checks that write: each refused, and nothing of production
 * changes. A drill killed outright (SIGKILL) leaves a journal; drill
 * teardown (or the next drill) removes exactly what it names.
 */
const HAVE = havePostgres();
let dir: string;
let cleanup: () => void;
let pg: Postgres;
let kube: {
  kubeconfig: (o?: { context?: string }) => string;
  state: {
    get: (ns: string, name: string) => { data?: Record<string, string>; metadata: { uid: string } } | undefined;
    secrets: Map<string, unknown>;
    namespaces: Map<string, unknown>;
    addNamespace: (n: string) => void;
  };
  close: () => Promise<void>;
};

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> => cli(dir, args, { ...opts, env: { ...(pg?.env ?? {}), ...opts.env } });
const writePlan = (name: string, body: string) => writeFileSync(join(dir, name), `apiVersion: vault-tool/v1\nkind: DrillPlan\n${body}`);
const SHARES = 'shares: { files: [shares/share-01-alice.share, shares/share-02-bob.share] }\n';
const RESTORE_PLAN = 'apiVersion: vault-tool/v1\nkind: RestorePlan\nsecrets:\n  - { namespace: app, name: db, data: { PASSWORD: app/db-password } }\n';

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-drill-safety-'));
  if (!HAVE) return;
  pg = await startPostgres();
  kube = await startKubeApi({ namespaces: ['default', 'app'] });
  writeFileSync(join(dir, 'kubeconfig'), kube.kubeconfig({ context: 'drill' }));
  writeFileSync(join(dir, 'restore-plan.yaml'), RESTORE_PLAN);
  pg.sql('create database orders');
  // Enough rows that pg_restore takes a moment (the kill test stops the drill while it runs).
  pg.sql('create table items (id int primary key, name text); insert into items select g, repeat(md5(g::text), 8) from generate_series(1, 400000) g', 'orders');
  for (const args of [
    ['init'],
    ['add', 'app/db-password', '-t', 'password', '--generate'],
    ['escrow', 'split', '-k', '2', '-c', 'alice', '-c', 'bob', '-c', 'carol', '-o', 'shares'],
    ['backup', 'postgres', '--dbname', 'orders', '-r', 'repo'],
  ]) {
    const r = await vt(args);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
  // Production's Secret, newer than the vault's value: a drill must never touch it.
  await vt(['k8s', 'restore', '--plan', 'restore-plan.yaml', '--kubeconfig', 'kubeconfig', '--context', 'drill']);
  renameSync(join(dir, 'vault.key'), join(dir, 'vault.key.lost'));
}, 180_000);

afterAll(async () => {
  pg?.stop();
  await kube?.close();
  cleanup();
});

const stepOf = (out: { steps: { name: string; ok: boolean; message: string }[] }, prefix: string) => out.steps.find((s) => s.name.startsWith(prefix))!;

describe.skipIf(!HAVE)('what a drill may touch', () => {
  it('a scratch namespace that is a namespace of the restore plan, or that exists, is refused before anything is written', async () => {
    const live = kube.state.get('app', 'db')!;
    writePlan('same-ns.yaml', `${SHARES}kubernetes: { kubeconfig: kubeconfig, context: drill, plan: restore-plan.yaml, namespaceMap: { app: app } }\n`);
    for (const dry of [true, false]) {
      const r = await vt(['drill', '--plan', 'same-ns.yaml', '--json', ...(dry ? ['--dry-run'] : [])]);
      expect(r.code).toBe(8);
      expect(stepOf(JSON.parse(r.stdout), 'restore Secrets').message).toBe(
        'namespace app is one the restore plan writes: a drill restores only into scratch namespaces',
      );
    }
    // A scratch namespace someone made (holding their own Secret): left alone, and never counted as restored.
    kube.state.addNamespace('drill-app');
    writePlan('exists.yaml', `${SHARES}kubernetes: { kubeconfig: kubeconfig, context: drill, plan: restore-plan.yaml }\n`);
    const r = await vt(['drill', '--plan', 'exists.yaml', '--json']);
    expect(r.code).toBe(8);
    expect(stepOf(JSON.parse(r.stdout), 'restore Secrets').message).toBe(
      'namespace drill-app exists in context drill: a drill restores only into namespaces it creates',
    );
    expect(kube.state.namespaces.has('drill-app')).toBe(true);
    expect(kube.state.get('drill-app', 'db')).toBeUndefined();
    kube.state.namespaces.delete('drill-app');
    // Production's Secret never changed.
    expect(kube.state.get('app', 'db')).toEqual(live);
  });

  it('a plan without a context is refused; a context the restore policy protects is refused like any restore', async () => {
    writePlan('no-context.yaml', `${SHARES}kubernetes: { kubeconfig: kubeconfig, plan: restore-plan.yaml }\n`);
    const r = await vt(['drill', '--plan', 'no-context.yaml', '--dry-run']);
    expect(r.code).toBe(11);
    expect(r.stderr).toMatch(/no-context.yaml: kubernetes.context: missing/);
    writeFileSync(join(dir, 'k8s-policy.yaml'), 'apiVersion: vault-tool/v1\nkind: RestorePolicy\nprotectedContexts: ["dr*"]\n');
    try {
      writePlan('protected.yaml', `${SHARES}kubernetes: { kubeconfig: kubeconfig, context: drill, plan: restore-plan.yaml }\n`);
      const p = await vt(['drill', '--plan', 'protected.yaml', '--json']);
      expect(p.code).toBe(8);
      expect(stepOf(JSON.parse(p.stdout), 'restore Secrets').message).toMatch(/^context drill is protected by the restore policy .*k8s-policy.yaml/);
      expect(kube.state.namespaces.has('drill-app')).toBe(false);
    } finally {
      renameSync(join(dir, 'k8s-policy.yaml'), join(dir, 'k8s-policy.yaml.off'));
    }
  });

  it('checks run only against the databases the drill restores, and read-only', async () => {
    const base = `${SHARES}backups: { repo: repo, restore: [ { component: postgres/orders, database: drill_orders } ] }\n`;
    writePlan('live-db.yaml', `${base}checks:\n  - { sql: "insert into items values (0, 'x') returning 1", database: orders, expect: "1" }\n`);
    const live = await vt(['drill', '--plan', 'live-db.yaml', '--dry-run']);
    expect(live.code).toBe(11);
    expect(live.stderr).toContain(
      'live-db.yaml: checks[0].database: orders is not a scratch database of this plan: checks run only against what the drill restores',
    );
    writePlan('writes.yaml', `${base}checks:\n  - { sql: "insert into items values (0, 'x') returning 1", database: drill_orders, expect: "1" }\n`);
    const r = await vt(['drill', '--plan', 'writes.yaml', '--json']);
    expect(r.code).toBe(8);
    expect(stepOf(JSON.parse(r.stdout), 'run the checks').message).toMatch(/ERROR: +cannot execute INSERT in a read-only transaction/);
    expect(pg.sql('select count(*) from items where id = 0', 'orders')).toBe('0');
    // The refusal of an existing target names no dropdb of a database the drill did not make.
    pg.sql('create database drill_orders');
    try {
      writePlan('taken.yaml', base);
      const t = await vt(['drill', '--plan', 'taken.yaml', '--json']);
      expect(t.code).toBe(8);
      const step = JSON.parse(t.stdout).steps.find((s: { name: string }) => s.name === 'restore postgres/orders');
      expect(step.message).toMatch(/^database drill_orders exists on .*: a drill restores only into a database it creates$/);
      expect(JSON.stringify(step)).not.toMatch(/dropdb|drop database/i);
    } finally {
      pg.sql('drop database drill_orders');
    }
  });

  it('every tool has a time bound: on expiry the step fails naming what timed out, and the drill goes on to its teardown', async () => {
    writePlan(
      'slow-check.yaml',
      `timeouts: { tool: 1s }\n${SHARES}backups: { repo: repo, restore: [ { component: postgres/orders, database: drill_orders } ] }\nchecks:\n  - { sql: "select pg_sleep(60)", database: drill_orders, expect: "" }\n`,
    );
    const started = Date.now();
    const r = await vt(['drill', '--plan', 'slow-check.yaml', '--json']);
    expect(r.code).toBe(8);
    expect(Date.now() - started).toBeLessThan(45_000);
    const out = JSON.parse(r.stdout);
    expect(stepOf(out, 'run the checks').message).toContain('psql in drill_orders did not finish within 1s: it was stopped');
    expect(stepOf(out, 'tear down the scratch targets')).toMatchObject({ ok: true });
    expect(pg.sql("select count(*) from pg_database where datname = 'drill_orders'")).toBe('0');
  });

  it('a drill killed outright: drill teardown removes its database, folder and namespace and stops its pg_restore, and nothing else', async () => {
    writePlan(
      'kill.yaml',
      `${SHARES}kubernetes: { kubeconfig: kubeconfig, context: drill, plan: restore-plan.yaml }\nbackups:\n  repo: repo\n  restore:\n    - { component: postgres/orders, database: drill_orders }\n`,
    );
    // A look-alike the drill did not make: never removed.
    pg.sql('create database drill_orders_mine');
    const child = spawn(process.execPath, [BIN, 'drill', '--plan', 'kill.yaml'], {
      cwd: dir,
      env: { ...pg.env, PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state') } as NodeJS.ProcessEnv,
      stdio: 'ignore',
    });
    const journals = join(dir, '.state/drills');
    let pid: number | undefined;
    for (let i = 0; i < 600 && pid === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        for (const f of readdirSync(journals)) {
          const j = JSON.parse(readFileSync(join(journals, f), 'utf8'));
          pid = j.processes.find((p: { label: string }) => p.label === 'pg_restore into drill_orders')?.pid;
        }
      } catch {
        /* not written yet, or being replaced */
      }
    }
    expect(pid, 'the drill journals its pg_restore').toBeDefined();
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    // What the dead drill left.
    expect(pg.sql("select count(*) from pg_database where datname = 'drill_orders'")).toBe('1');
    expect(kube.state.namespaces.has('drill-app')).toBe(true);
    const dry = await vt(['drill', 'teardown', '--dry-run', '--json']);
    expect(JSON.parse(dry.stdout).drills[0].removed).toEqual(
      expect.arrayContaining([`database drill_orders (${pg.env.PGHOST}:${pg.env.PGPORT})`, 'namespace drill-app (context drill)']),
    );
    expect(pg.sql("select count(*) from pg_database where datname = 'drill_orders'")).toBe('1');
    const r = await vt(['drill', 'teardown', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.drills).toHaveLength(1);
    expect(out.drills[0].left).toEqual([]);
    expect(pg.sql("select count(*) from pg_database where datname = 'drill_orders'")).toBe('0');
    expect(pg.sql("select count(*) from pg_database where datname = 'drill_orders_mine'")).toBe('1');
    expect(kube.state.namespaces.has('drill-app')).toBe(false);
    expect(kube.state.get('app', 'db')).toBeTruthy();
    // No pg_restore of the dead drill is left running.
    const ps = spawnSync('ps', ['-o', 'pid=,stat=,comm=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim();
    expect(ps === '' || / Z/.test(ps)).toBe(true);
    expect(readdirSync(journals)).toEqual([]);
    pg.sql('drop database drill_orders_mine');
  });

  it('the next drill removes what a killed drill left before it restores, and passes', async () => {
    writePlan(
      'again.yaml',
      `${SHARES}kubernetes: { kubeconfig: kubeconfig, context: drill, plan: restore-plan.yaml }\nbackups:\n  repo: repo\n  restore:\n    - { component: postgres/orders, database: drill_orders }\n`,
    );
    const child = spawn(process.execPath, [BIN, 'drill', '--plan', 'again.yaml'], {
      cwd: dir,
      env: { ...pg.env, PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state') } as NodeJS.ProcessEnv,
      stdio: 'ignore',
    });
    const journals = join(dir, '.state/drills');
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        if (
          readdirSync(journals).some((f) => f.endsWith('.json') && readFileSync(join(journals, f), 'utf8').includes('"label": "pg_restore into drill_orders"'))
        )
          break;
      } catch {
        /* not yet */
      }
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const r = await vt(['drill', '--plan', 'again.yaml', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(stepOf(out, 'remove what an earlier drill left')).toMatchObject({ ok: true });
    expect(stepOf(out, 'remove what an earlier drill left').message).toMatch(/removed .*namespace drill-app/);
    expect(stepOf(out, 'restore Secrets').message).toBe('1 Secrets created in drill-app of context drill');
    expect(kube.state.namespaces.has('drill-app')).toBe(false);
    expect(existsSync(journals) ? readdirSync(journals) : []).toEqual([]);
  });
});
