import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript helper shared with the benchmarks
import { startKubeApi } from '../helpers/kube-api-server.mjs';
import { cli, haveBinary, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { havePostgres, haveRedis, startPostgres, startRedis, type Postgres, type Redis } from '../helpers/servers.mjs';
import { skipUnless } from '../helpers/require.js';

/**
 * The drill end to end with real components: a vault whose key is split
 * 3-of-5, backups of a real PostgreSQL, Redis and a config folder, the
 * Kubernetes API test server; then vault.key is deleted and the drill
 * recovers from three share files into scratch targets and checks them.
 */
const HAVE = havePostgres() && haveRedis();
const HAVE_CHROMIUM = haveBinary('chromium', ['--version']);
let dir: string;
let cleanup: () => void;
let pg: Postgres;
let redis: Redis;
let kube: {
  kubeconfig: (o?: { context?: string }) => string;
  state: { get: (ns: string, name: string) => unknown; secrets: Map<string, unknown>; namespaces: Map<string, unknown> };
  close: () => Promise<void>;
};

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  cli(dir, args, { ...opts, env: { ...(pg?.env ?? {}), VAULT_TOOL_BACKUP_REPO: join(dir, 'repo'), ...opts.env } });
/** The last line of stderr, with --json the error event. */
const lastEvent = (r: CliResult) => JSON.parse(r.stderr.trim().split('\n').at(-1)!);
const writePlan = (name: string, body: string) => writeFileSync(join(dir, name), `apiVersion: vault-tool/v1\nkind: DrillPlan\n${body}`);
const SHARES = 'shares: { files: [shares/share-01-alice.share, shares/share-03-carol.share, shares/share-05-erin.share] }\n';
const BACKUPS = `backups:
  repo: repo
  restore:
    - { component: postgres/orders, database: drill_orders }
    - { component: redis/default, dir: scratch/redis }
    - { component: files/config, dir: scratch/config }
`;
const K8S = 'kubernetes: { kubeconfig: kubeconfig, context: drill, plan: restore-plan.yaml }\n';
const CHECKS = `checks:
  - { sql: "select count(*) from items", database: drill_orders, expect: "30000" }
  - { redisKeys: 300, dir: scratch/redis }
  - { files: [.env, certs/tls.crt], dir: scratch/config }
  - { secrets: in-sync }
  - { entries: [platform/master, platform/hmac] }
`;

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-drill-'));
  if (!HAVE) return;
  pg = await startPostgres();
  redis = await startRedis();
  kube = await startKubeApi({ namespaces: ['default'] });
  writeFileSync(join(dir, 'kubeconfig'), kube.kubeconfig({ context: 'drill' }));
  pg.sql('create database orders');
  pg.sql('create table items (id int primary key, name text); insert into items select g, md5(g::text) from generate_series(1, 30000) g', 'orders');
  redis.cli('eval', "for i=1,300 do redis.call('set', 'k'..i, 'v'..i) end", '0');
  mkdirSync(join(dir, 'app/certs'), { recursive: true });
  writeFileSync(join(dir, 'app/.env'), 'MODE=production\n');
  writeFileSync(join(dir, 'app/certs/tls.crt'), 'cert\n');
  for (const args of [
    ['init'],
    ['add', 'platform/master', '-t', 'master-key', '--generate'],
    ['add', 'platform/hmac', '-t', 'hmac-key', '--generate'],
    ['escrow', 'split', '-k', '3', '-c', 'alice', '-c', 'bob', '-c', 'carol', '-c', 'dave', '-c', 'erin', '-o', 'shares'],
    ['backup', 'postgres', '--dbname', 'orders'],
    ['backup', 'redis', '-p', String(redis.port)],
    ['backup', 'files', '.env', 'certs', '-C', 'app'],
  ]) {
    const r = await vt(args);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
  writeFileSync(
    join(dir, 'restore-plan.yaml'),
    'apiVersion: vault-tool/v1\nkind: RestorePlan\nsecrets:\n  - { namespace: platform, name: keys, data: { MASTER_KEY: platform/master, HMAC_KEY: platform/hmac } }\n',
  );
  // The disaster: the vault key is gone; only the custodians' shares remain.
  renameSync(join(dir, 'vault.key'), join(dir, 'vault.key.lost'));
}, 120_000);

afterAll(async () => {
  pg?.stop();
  redis?.stop();
  await kube?.close();
  cleanup();
});

describe.skipIf(!HAVE)('the disaster-recovery drill', () => {
  it('drill init writes a plan from what the vault knows, and its dry run finds nothing missing', async () => {
    // init needs the vault open: with the key put back for a moment, as a team does before the disaster.
    renameSync(join(dir, 'vault.key.lost'), join(dir, 'vault.key'));
    try {
      const r = await vt(['drill', 'init', '--shares', 'shares', '--k8s-plan', 'restore-plan.yaml', '--context', 'drill', '-o', 'generated.yaml']);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      renameSync(join(dir, 'vault.key'), join(dir, 'vault.key.lost'));
    }
    const plan = readFileSync(join(dir, 'generated.yaml'), 'utf8');
    expect(plan).toContain('share-01-alice.share');
    expect(plan).toContain('component: postgres/orders');
    expect(plan).toContain('database: drill_orders');
    expect(plan).toContain('secrets: in-sync');
    expect(plan).toMatch(/the others: shares\/share-04-dave.share, shares\/share-05-erin.share/);
    expect(plan).toContain('tables: backup');
    const dry = await vt(['drill', '--plan', 'generated.yaml', '--dry-run', '--json', '--kubeconfig', 'kubeconfig']);
    expect(dry.code, dry.stderr).toBe(0);
    const r = JSON.parse(dry.stdout);
    expect(r).toMatchObject({ ok: true, dryRun: true, recorded: false, custodians: ['alice', 'bob', 'carol'] });
    // Nothing was touched: no scratch database, no Secret, no key file.
    expect(pg.sql("select count(*) from pg_database where datname = 'drill_orders'")).toBe('0');
    expect([...kube.state.secrets.keys()].filter((k) => k.startsWith('drill-'))).toEqual([]);
    expect(existsSync(join(dir, 'vault.key'))).toBe(false);
  });

  it('from three share files to secrets and data restored into scratch targets and checked, timed against the RTO', async (ctx) => {
    writePlan('drill.yaml', `rto: 2h\n${SHARES}${K8S}${BACKUPS}${CHECKS}`);
    const r = await vt(['drill', '--plan', 'drill.yaml', '--report-dir', 'reports', '--json', '--keep']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ ok: true, dryRun: false, recorded: true, custodians: ['alice', 'carol', 'erin'], rtoTargetSeconds: 7200, rtoMet: true });
    expect(out.steps.map((s: { name: string; ok: boolean }) => [s.name, s.ok])).toEqual([
      ['combine the shares', true],
      ['open the vault with the recovered key', true],
      ['verify the vault', true],
      ['restore Secrets into drill-platform', true],
      ['restore postgres/orders', true],
      ['restore redis/default', true],
      ['restore files/config', true],
      ['run the checks', true],
    ]);
    expect(out.restored.map((b: { component: string }) => b.component)).toEqual(['postgres/orders', 'redis/default', 'files/config']);
    // Progress with --json: each step's events on stderr (planned, then run), a restore's bytes among them.
    const progress = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{"type":"progress"'))
      .map((l) => JSON.parse(l));
    expect([...new Set(progress.map((e: { item: string }) => e.item))]).toEqual(out.steps.map((x: { name: string }) => x.name));
    expect([...new Set(progress.filter((e: { phase: string }) => e.phase === 'running').map((e: { item: string }) => e.item))]).toEqual([
      'restore Secrets into drill-platform',
      'restore postgres/orders',
      'restore redis/default',
      'restore files/config',
      'run the checks',
    ]);
    const read = progress.filter(
      (e: { item: string; phase: string | null }) => e.item === 'restore postgres/orders' && /^checking in full/.test(e.phase ?? ''),
    );
    expect(read.at(-1).bytes).toBe(read.at(-1).total);
    expect(progress.at(-1)).toMatchObject({ step: 'drill', item: 'run the checks', state: 'done' });
    expect(out.restored[0].ageSeconds).toBeGreaterThanOrEqual(0);
    // The key never touched disk; the scratch targets hold the data (kept with --keep).
    expect(existsSync(join(dir, 'vault.key'))).toBe(false);
    expect(pg.sql('select count(*) from items', 'drill_orders')).toBe('30000');
    expect(kube.state.get('drill-platform', 'keys')).toBeTruthy();
    expect(readFileSync(join(dir, 'scratch/config/.env'), 'utf8')).toBe('MODE=production\n');
    // The report, and the record: the evidence log and the vault's last drill (status shows it).
    const reports = readdirSync(join(dir, 'reports')).sort();
    expect(reports).toEqual([expect.stringMatching(/^drill-\d{8}T\d{6}Z\.html$/), expect.stringMatching(/^drill-\d{8}T\d{6}Z\.md$/)]);
    const md = readFileSync(join(dir, 'reports', reports[1]!), 'utf8');
    expect(md).toContain('# Disaster-recovery drill: PASSED');
    expect(md).toContain('Custodians whose shares were used: alice, carol, erin');
    const status = await vt(['--key-file', 'vault.key.lost', 'status', '--json']);
    expect(JSON.parse(status.stdout).lastDrill).toMatchObject({ ok: true, rtoTargetSeconds: 7200 });
    const ev = await vt(['--key-file', 'vault.key.lost', 'evidence', '--json']);
    expect(ev.stdout).toContain('"event": "drill"');
    // --keep leaves a record of what was kept and where: in the output, the report and the evidence log.
    expect(out.kept.targets).toEqual(
      expect.arrayContaining([
        'namespace drill-platform (context drill)',
        expect.stringMatching(/^database drill_orders \(/),
        `folder ${join(dir, 'scratch')}`,
      ]),
    );
    expect(out.kept.journal).toMatch(/\.state\/drills\/.*\.json$/);
    expect(md).toContain('## Scratch targets kept');
    const record = JSON.parse(ev.stdout).find((x: { event: string }) => x.event === 'drill');
    expect(record.data.kept).toEqual(out.kept.targets);
    expect(record.data.journal).toBe(out.kept.journal);
    // The next drill refuses to start over kept targets; drill teardown removes exactly them.
    const next = await vt(['drill', '--plan', 'drill.yaml', '--dry-run', '--json']);
    expect(next.code).toBe(8);
    expect(JSON.parse(next.stdout).steps.find((s: { name: string }) => s.name === 'remove what an earlier drill left').message).toMatch(
      /kept its scratch targets/,
    );
    const td = await vt(['drill', 'teardown', '--json']);
    expect(td.code, td.stderr).toBe(0);
    expect(JSON.parse(td.stdout).drills[0]).toMatchObject({ kept: true, left: [] });
    expect(pg.sql("select count(*) from pg_database where datname = 'drill_orders'")).toBe('0');
    expect(kube.state.namespaces.has('drill-platform')).toBe(false);
    expect(existsSync(join(dir, 'scratch'))).toBe(false);
    expect(readdirSync(join(dir, '.state/drills'))).toEqual([]);
    // The printable report, as a browser shows it.
    skipUnless(ctx, HAVE_CHROMIUM, 'chromium is not installed: the HTML report was not rendered');
    const profile = join(dir, 'chromium-profile');
    const dom = spawnSync(
      'chromium',
      ['--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${profile}`, '--dump-dom', `file://${join(dir, 'reports', reports[0]!)}`],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(dom.stdout).toContain('<span class="verdict" id="verdict">PASSED</span>');
    expect((dom.stdout.match(/class="bar ok"/g) ?? []).length).toBe(8);
    // Seconds against an RTO of 2 h: the scale is the steps' own, and the RTO is named beyond it.
    expect(dom.stdout).toMatch(/The RTO \(2h\) lies beyond this scale: the recovery used [\d.]+% of it/);
  });

  it('without --keep the scratch targets are torn down; a scratch folder that exists is refused before anything is written', async () => {
    writePlan('drill.yaml', `rto: 2h\n${SHARES}${BACKUPS}checks:\n  - { sql: "select count(*) from items", database: drill_orders, expect: "30000" }\n`);
    // A folder that exists is not the drill's to fill, nor to remove: refused in the plan, so nothing at all is written.
    mkdirSync(join(dir, 'scratch/config'), { recursive: true });
    writeFileSync(join(dir, 'scratch/config/mine.txt'), 'mine\n');
    const refused = await vt(['drill', '--plan', 'drill.yaml', '--json']);
    expect(refused.code).toBe(8);
    const steps = JSON.parse(refused.stdout).steps;
    expect(steps.find((s: { name: string }) => s.name === 'restore files/config')).toMatchObject({
      ok: false,
      message: `${join(dir, 'scratch/config')} exists: a drill restores only into a folder it creates`,
    });
    expect(steps.find((s: { name: string }) => s.name === 'restore postgres/orders')).toMatchObject({ skipped: true });
    expect(pg.sql("select count(*) from pg_database where datname = 'drill_orders'")).toBe('0');
    expect(readdirSync(join(dir, 'scratch')).sort()).toEqual(['config']);
    expect(readFileSync(join(dir, 'scratch/config/mine.txt'), 'utf8')).toBe('mine\n');
    rmSync(join(dir, 'scratch'), { recursive: true, force: true });
    const r = await vt(['drill', '--plan', 'drill.yaml', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).steps.at(-1)).toMatchObject({ name: 'tear down the scratch targets', ok: true });
    expect(pg.sql("select count(*) from pg_database where datname = 'drill_orders'")).toBe('0');
    expect(existsSync(join(dir, 'scratch'))).toBe(false);
    expect(readdirSync(join(dir, '.state/drills'))).toEqual([]);
  });

  it('a wrong share: the drill fails at the first step, names it, and runs nothing else', async () => {
    // A share of another vault's key: well formed, but from another set.
    mkdirSync(join(dir, 'other'));
    for (const args of [['init'], ['escrow', 'split', '-k', '2', '-c', 'mallory', '-c', 'trent', '-o', 'shares']])
      expect((await cli(join(dir, 'other'), args)).code).toBe(0);
    writePlan(
      'bad-share.yaml',
      `shares: { files: [shares/share-01-alice.share, other/shares/share-01-mallory.share, shares/share-05-erin.share] }\n${BACKUPS}`,
    );
    const r = await vt(['drill', '--plan', 'bad-share.yaml', '--json']);
    expect(r.code).toBe(8);
    const out = JSON.parse(r.stdout);
    expect(out.steps[0]).toMatchObject({ name: 'combine the shares', ok: false });
    expect(out.steps.slice(1).every((s: { skipped?: boolean }) => s.skipped)).toBe(true);
    expect(lastEvent(r)).toMatchObject({ type: 'error', exit: 8, message: expect.stringMatching(/the drill failed at "combine the shares"/) });
  });

  it('a backup altered in the repository: the restore step fails naming the backup; the others still run', async () => {
    const folder = join(dir, 'repo/redis/default');
    const file = readdirSync(folder).find((f) => f.endsWith('.age'))!;
    const good = readFileSync(join(folder, file));
    // Its size unchanged, so only reading it finds the damage.
    const altered = Buffer.from(good);
    altered[altered.length - 50]! ^= 1;
    writeFileSync(join(folder, file), altered);
    try {
      writePlan('truncated.yaml', `${SHARES}${BACKUPS}`);
      const r = await vt(['drill', '--plan', 'truncated.yaml', '--json']);
      expect(r.code).toBe(8);
      const out = JSON.parse(r.stdout);
      const redisStep = out.steps.find((s: { name: string }) => s.name === 'restore redis/default');
      expect(redisStep.ok).toBe(false);
      expect(redisStep.message).toMatch(/truncated|altered|SHA-256/);
      expect(out.steps.find((s: { name: string }) => s.name === 'restore files/config').ok).toBe(true);
      expect(lastEvent(r)).toMatchObject({ type: 'error', exit: 8, message: expect.stringContaining('the drill failed at "restore redis/default"') });
      // Its progress ends failed; the next step's goes on.
      const states = r.stderr
        .split('\n')
        .filter((l) => l.startsWith('{"type":"progress"'))
        .map((l) => JSON.parse(l))
        .filter((e: { state: string }) => e.state === 'done' || e.state === 'failed')
        .map((e: { item: string; state: string }) => `${e.item}: ${e.state}`);
      // Planned (done), then run (failed).
      expect(states.filter((x: string) => x.startsWith('restore redis/default:'))).toEqual(['restore redis/default: done', 'restore redis/default: failed']);
      expect(states.filter((x: string) => x.startsWith('restore files/config:'))).toEqual(['restore files/config: done', 'restore files/config: done']);
    } finally {
      writeFileSync(join(folder, file), good);
    }
  });

  it('a backup cut short in the repository: the plan finds it from the listing (the dry run too), naming the step and why', async () => {
    const folder = join(dir, 'repo/redis/default');
    const file = readdirSync(folder).find((f) => f.endsWith('.age'))!;
    const good = readFileSync(join(folder, file));
    truncateSync(join(folder, file), good.length - 100);
    try {
      writePlan('truncated.yaml', `${SHARES}${BACKUPS}`);
      for (const dry of [['--dry-run'], []]) {
        const r = await vt(['drill', '--plan', 'truncated.yaml', '--json', ...dry]);
        expect(r.code).toBe(8);
        const redisStep = JSON.parse(r.stdout).steps.find((s: { name: string }) => s.name === 'restore redis/default');
        expect(redisStep).toMatchObject({
          ok: false,
          message:
            "no verified backup of redis/default in the repository (1 cut short or altered after it was written (its stored size is not its manifest's))",
        });
      }
    } finally {
      writeFileSync(join(folder, file), good);
    }
  });

  it('a check that fails fails the drill, and a failed drill measures no recovery time: every output says so', async () => {
    writePlan(
      'check.yaml',
      `rto: 2h\n${SHARES}${BACKUPS}checks:\n  - { sql: "select count(*) from items", database: drill_orders, expect: "29999" }\n  - { sql: "select * from nope", database: drill_orders, expect: "x" }\n`,
    );
    const r = await vt(['drill', '--plan', 'check.yaml', '--json', '--report-dir', 'failed-reports']);
    expect(r.code).toBe(8);
    const out = JSON.parse(r.stdout);
    const checks = out.steps.find((s: { name: string }) => s.name === 'run the checks');
    expect(checks.message).toContain('2 of 2 checks failed: "select count(*) from items" in drill_orders gave "30000", expected "29999"');
    // psql's own reason, not the caret it prints under the SQL.
    expect(checks.message).toMatch(/psql in drill_orders failed \(exit 1\): ERROR: +relation "nope" does not exist/);
    expect(out.rtoMet).toBeUndefined();
    expect(out.rtoVerdict).toBe('not measured (the drill failed)');
    const [html, md] = readdirSync(join(dir, 'failed-reports')).sort();
    expect(readFileSync(join(dir, 'failed-reports', md!), 'utf8')).toContain('RTO of 2h: not measured (the drill failed)');
    expect(readFileSync(join(dir, 'failed-reports', html!), 'utf8')).toContain('not measured (the drill failed)');
    expect(readFileSync(join(dir, 'failed-reports', md!), 'utf8')).not.toMatch(/\bmet\b/);
    const text = await vt(['drill', '--plan', 'check.yaml']);
    expect(text.stderr).toContain('drill FAILED: recovery time not measured (the drill failed); RTO 2h');
    const status = await vt(['--key-file', 'vault.key.lost', 'status', '--json', '--prometheus', 'metrics.prom']);
    expect(JSON.parse(status.stdout).lastDrill).toMatchObject({ ok: false });
    expect(JSON.parse(status.stdout).lastDrill.rtoSeconds).toBeUndefined();
    const prom = readFileSync(join(dir, 'metrics.prom'), 'utf8');
    expect(prom).toContain('vault_tool_drill_last_status 0');
    expect(prom).not.toMatch(/^vault_tool_drill_last_rto_seconds /m);
    // Torn down even so.
    expect(pg.sql("select count(*) from pg_database where datname = 'drill_orders'")).toBe('0');
  });

  it('a drill that passes every check but is slower than the RTO fails, and says by how much', async () => {
    writePlan('slow.yaml', `rto: 1s\n${SHARES}${BACKUPS}checks:\n  - { sql: "select 'slept' from pg_sleep(1.2)", database: drill_orders, expect: slept }\n`);
    const r = await vt(['drill', '--plan', 'slow.yaml', '--json']);
    expect(r.code).toBe(8);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ rtoMet: false, rtoVerdict: 'missed' });
    expect(out.steps.find((s: { name: string }) => s.name === 'recovery time against the RTO').message).toMatch(
      /^the recovery took \d+s \([\d.]+ s\), over the RTO of 1s$/,
    );
    // Monitoring tells an RTO missed from other failures (its own alert).
    await vt(['--key-file', 'vault.key.lost', 'status', '--prometheus', 'rto.prom']);
    const prom = readFileSync(join(dir, 'rto.prom'), 'utf8');
    expect(prom).toContain('vault_tool_drill_rto_missed 1\n');
    expect(prom).toContain('vault_tool_drill_rto_target_seconds 1\n');
  });

  it('a dry run with a share short reports it and writes nothing', async () => {
    writePlan('short.yaml', `shares: { files: [shares/share-01-alice.share, shares/share-02-bob.share] }\n${BACKUPS}`);
    const before = readFileSync(join(dir, 'secrets.vault'));
    const r = await vt(['drill', '--plan', 'short.yaml', '--dry-run', '--json']);
    expect(r.code).toBe(8);
    expect(JSON.parse(r.stdout).steps[0].message).toMatch(/need 3 shares of set/);
    expect(readFileSync(join(dir, 'secrets.vault')).equals(before)).toBe(true);
  });
});
