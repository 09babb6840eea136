import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript helper shared with the benchmarks
import { startKubeApi } from '../helpers/kube-api-server.mjs';
import { cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { havePostgres, haveRedis, startPostgres, startRedis, type Postgres, type Redis } from '../helpers/servers.mjs';

/**
 * The plan `drill init` writes runs green as written, over a repository of
 * every kind the tool makes: `backup postgres --all` (the globals, the
 * maintenance database and five application databases, one of them empty),
 * Redis, a config folder, Kubernetes Secrets and a command's dump; the
 * shares kept one folder per custodian, as the procedures say.
 */
const HAVE = havePostgres() && haveRedis();
let dir: string;
let cleanup: () => void;
let pg: Postgres;
let redis: Redis;
let kube: { kubeconfig: (o?: { context?: string }) => string; state: { namespaces: Map<string, unknown> }; close: () => Promise<void> };

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  cli(dir, args, { ...opts, env: { ...(pg?.env ?? {}), VAULT_TOOL_BACKUP_REPO: join(dir, 'repo'), ...opts.env } });
const ok = async (args: string[]) => {
  const r = await vt(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
};

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-drill-init-'));
  if (!HAVE) return;
  pg = await startPostgres();
  redis = await startRedis();
  kube = await startKubeApi({ namespaces: ['default', 'platform'] });
  writeFileSync(join(dir, 'kubeconfig'), kube.kubeconfig({ context: 'scratch' }));
  pg.sql('create role app_owner');
  for (const db of ['keycloak', 'openfga', 'infisical', 'orders']) {
    pg.sql(`create database ${db}`);
    pg.sql(`create table t_${db} (id int primary key); insert into t_${db} select generate_series(1, 100)`, db);
  }
  pg.sql('create database empty_app');
  redis.cli('set', 'k', 'v');
  mkdirSync(join(dir, 'app/certs'), { recursive: true });
  writeFileSync(join(dir, 'app/.env'), 'MODE=production\n');
  writeFileSync(join(dir, 'app/certs/tls.crt'), 'cert\n');
  writeFileSync(join(dir, 'app/docker compose.yml'), 'services: {}\n');
  writeFileSync(
    join(dir, 'restore-plan.yaml'),
    'apiVersion: vault-tool/v1\nkind: RestorePlan\nsecrets:\n  - { namespace: platform, name: keys, data: { MASTER_KEY: platform/master } }\n',
  );
  await ok(['init']);
  await ok(['add', 'platform/master', '-t', 'master-key', '--generate']);
  await ok(['escrow', 'split', '-k', '2', '-c', 'alice', '-c', 'bob', '-c', 'carol', '-o', 'split']);
  // One folder per custodian, as the procedures keep them (separate places).
  for (const f of readdirSync(join(dir, 'split')).filter((x) => x.endsWith('.share'))) {
    const who = /share-\d+-(\w+)\.share/.exec(f)![1]!;
    mkdirSync(join(dir, 'custodians', who), { recursive: true });
    renameSync(join(dir, 'split', f), join(dir, 'custodians', who, f));
  }
  await ok(['backup', 'postgres', '--all']);
  await ok(['backup', 'redis', '-p', String(redis.port)]);
  await ok(['backup', 'files', '.env', 'certs', 'docker compose.yml', '-C', 'app']);
  await ok(['k8s', 'restore', '--plan', 'restore-plan.yaml', '--kubeconfig', 'kubeconfig', '--context', 'scratch']);
  await ok(['backup', 'k8s', '--kubeconfig', 'kubeconfig', '--context', 'scratch', '-n', 'platform', '--name', 'platform']);
  await ok(['backup', 'exec', '--name', 'dump', '--', 'sh', '-c', 'echo exported']);
}, 180_000);

afterAll(async () => {
  pg?.stop();
  redis?.stop();
  await kube?.close();
  cleanup();
});

describe.skipIf(!HAVE)('drill init over every kind of backup', () => {
  it('finds the shares in per-custodian folders; refuses a folder with none', async () => {
    mkdirSync(join(dir, 'nothing-here/alice'), { recursive: true });
    const none = await vt(['drill', 'init', '--shares', 'nothing-here', '-o', 'none.yaml']);
    expect(none.code).toBe(5);
    expect(none.stderr).toMatch(/no share files \(\*\.share, \*\.share\.age, or a \.txt file holding a share\) in .*nothing-here or its subfolders/);
    expect(none.stderr).toMatch(/hint: .*one subfolder per custodian/);
    expect(readdirSync(dir)).not.toContain('none.yaml');
  });

  it('writes a plan whose dry run and run both pass as written, and the run leaves nothing behind', async () => {
    const init = await vt(['drill', 'init', '--shares', 'custodians', '--k8s-plan', 'restore-plan.yaml', '--context', 'scratch', '-o', 'drill.yaml']);
    expect(init.code, init.stderr).toBe(0);
    const plan = readFileSync(join(dir, 'drill.yaml'), 'utf8');
    expect(plan).toContain('custodians/alice/share-01-alice.share');
    for (const c of [
      'postgres/globals',
      'postgres/postgres',
      'postgres/keycloak',
      'postgres/empty_app',
      'redis/default',
      'files/config',
      'k8s/platform',
      'exec/dump',
    ])
      expect(plan).toContain(`component: ${c}`);
    renameSync(join(dir, 'vault.key'), join(dir, 'vault.key.lost'));
    const dry = await vt(['drill', '--plan', 'drill.yaml', '--dry-run', '--json', '--kubeconfig', 'kubeconfig']);
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    const planned = JSON.parse(dry.stdout);
    expect(planned.steps.every((s: { ok: boolean }) => s.ok)).toBe(true);
    const run = await vt(['drill', '--plan', 'drill.yaml', '--json', '--kubeconfig', 'kubeconfig']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out).toMatchObject({ ok: true, rtoVerdict: 'met', rtoMet: true });
    expect(out.restored.map((b: { component: string }) => b.component).sort()).toEqual(
      [
        'exec/dump',
        'files/config',
        'k8s/platform',
        'postgres/empty_app',
        'postgres/globals',
        'postgres/infisical',
        'postgres/keycloak',
        'postgres/openfga',
        'postgres/orders',
        'postgres/postgres',
        'redis/default',
      ].sort(),
    );
    expect(out.steps.find((s: { name: string }) => s.name === 'run the checks').message).toContain('drill_keycloak: 1 tables, as its backup lists');
    expect(out.steps.find((s: { name: string }) => s.name === 'run the checks').message).toContain('drill_postgres: 0 tables, as its backup lists');
    // A path with a space in it is checked whole.
    expect(out.steps.find((s: { name: string }) => s.name === 'run the checks').message).toMatch(/3 files present in .*drill-scratch\/files-config/);
    // Nothing is left: no scratch database, namespace, folder or journal.
    expect(pg.sql("select count(*) from pg_database where datname like 'drill_%'")).toBe('0');
    expect(kube.state.namespaces.has('drill-platform')).toBe(false);
    expect(readdirSync(dir)).not.toContain('drill-scratch');
    expect(readdirSync(join(dir, '.state/drills'))).toEqual([]);
  });
});
