import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDrillPlan } from '../../src/drill/plan.js';
import { needs } from '../helpers/require.js';
import { BIN, cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { havePostgres, postgresFolder, startPostgres, type Postgres } from '../helpers/servers.mjs';

/**
 * The WAL archive in the operator's everyday commands, against a real
 * PostgreSQL 15 archiving through wal-push (as the server's own user):
 * status and the metrics (the archive's RPO, pg_stat_archiver), the
 * quarterly verification (continuity from every base backup, a gap named,
 * the files read, the RPO), and the drill's point-in-time restore into a
 * throwaway server, to the end of the archive and to a time, torn down
 * afterwards, and after a kill.
 */
const HAVE_PG = havePostgres();
const NODE = process.execPath;

let dir: string;
let cleanup: () => void;
let repo: string;
let hostKey: string;
let recipient: string;
let pg: Postgres;
/** Between the rows before it and the rows after it. */
let target: Date;

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> => cli(dir, args, { ...opts, env: { ...(pg?.env ?? {}), ...opts.env } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const segDir = () => join(repo, 'postgres-wal', 'app', 'segments');
const pushCommand = () => `${NODE} ${BIN} backup wal-push %p --cluster app -r ${repo} --recipient ${recipient} --signing-key ${hostKey}`;
const drillServers = () =>
  execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('vault-tool-drill'));

/** Switches to a new segment and waits until archive_command has archived the one it closed. */
async function switchAndWait(server: Postgres, timeoutMs = 60_000): Promise<string> {
  const name = server.sql('select pg_walfile_name(pg_switch_wal())');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const last = server.sql("select coalesce(last_archived_wal, '') from pg_stat_archiver");
    if (last >= name) return name;
    await sleep(100);
  }
  throw new Error(`${name} was not archived in time: ${server.sql('select * from pg_stat_archiver')}`);
}

const drillPlan = (name: string, body: string) =>
  writeFileSync(
    join(dir, name),
    `apiVersion: vault-tool/v1\nkind: DrillPlan\nrto: 1h\nshares: { files: [shares/share-01-a.share, shares/share-02-b.share] }\n${body}`,
  );

beforeAll(async () => {
  if (!HAVE_PG) return;
  ({ dir, cleanup } = tempDir('vt-pitr-ops-'));
  chmodSync(dir, 0o755);
  repo = postgresFolder(join(dir, 'repo'));
  hostKey = join(postgresFolder(join(dir, 'dbhost')), 'signing.key');
  expect((await vt(['init'])).code).toBe(0);
  expect((await vt(['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-c', 'c', '-o', 'shares'])).code).toBe(0);
  recipient = (await vt(['backup', 'key'])).stdout.trim();
  pg = await startPostgres({
    initdb: ['--wal-segsize', '1'],
    conf: { archive_mode: 'on', wal_level: 'replica', archive_timeout: '60s', archive_command: pushCommand() },
  });
  pg.sql('create table events(id serial primary key, phase text not null, at timestamptz not null default clock_timestamp())');
  pg.sql('create table other(id int)');
  // A restore's leftover in postgresql.auto.conf (PostgreSQL ignores it outside recovery): no later restore may follow it.
  pg.sql("alter system set recovery_target_name = 'made-by-an-old-restore'");
  await switchAndWait(pg);
  const pub = (await vt(['backup', 'key', 'signer', '--signing-key', hostKey])).stdout.trim();
  expect((await vt(['backup', 'key', 'trust', pub, '--label', 'db1'])).code).toBe(0);
  pg.sql("insert into events(phase) select 'before-base' from generate_series(1, 100)");
  const b = await vt(['backup', 'postgres', '--base', '--cluster', 'app', '-r', repo, '--fast-checkpoint']);
  expect(b.code, b.stderr).toBe(0);
  pg.sql("insert into events(phase) select 'before-t' from generate_series(1, 100)");
  await switchAndWait(pg);
  await sleep(1100);
  target = new Date();
  await sleep(1100);
  pg.sql("insert into events(phase) select 'after-t' from generate_series(1, 100)");
  await switchAndWait(pg);
}, 180_000);

afterAll(() => {
  pg?.stop();
  cleanup?.();
});

describe.skipIf(!HAVE_PG)('the WAL archive in status and the metrics', () => {
  it('backup status shows each archive as a component: its RPO is the age of its newest segment, with pg_stat_archiver', async () => {
    const r = await vt(['backup', 'status', '-r', repo, '--rpo', '15m', '--archiver', 'app', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const wal = (JSON.parse(r.stdout) as { component: string }[]).find((x) => x.component === 'postgres-wal/app');
    expect(wal).toMatchObject({
      rpo: '15m',
      rpoMissed: false,
      keyHeld: true,
      wal: { cluster: 'app', bases: 1, trusted: true, archiver: { failed_count: '0' } },
    });
    const text = await vt(['backup', 'status', '-r', repo, '--archiver', 'app']);
    expect(text.stdout).toMatch(/^postgres-wal\/app +\S+ +\d+s/m);
    expect(text.stdout).toMatch(/^postgres-wal\/app: newest segment [0-9A-F]{24} archived .*; \d+ segment\(s\), 1 verified base backup\(s\)$/m);
    expect(text.stdout).toMatch(/^ {2}pg_stat_archiver: \d+ archived \(last [0-9A-F]{24} at .*\), 0 failed/m);
    // Twenty minutes on: the archive misses its RPO (its own, by the RPO file: postgres-wal/app).
    writeFileSync(join(dir, 'rpo.yaml'), 'rpo: { default: 24h, postgres-wal/app: 15m }\n');
    const late = await vt(['backup', 'status', '-r', repo, '--rpo-file', 'rpo.yaml'], { now: new Date(Date.now() + 20 * 60_000) });
    expect(late.code).toBe(8);
    expect(late.stderr).toContain('vault-tool: error: RPO missed for postgres-wal/app (15m)');
  });

  it('a connection string with a password is refused; a server out of reach is not judged (inconclusive), never a pass', async () => {
    const pw = await vt(['backup', 'status', '-r', repo, '--archiver', 'app=host=/tmp password=secret']);
    expect(pw.code).toBe(2);
    expect(pw.stderr).toContain('the connection string holds a password');
    const gone = await vt(['backup', 'status', '-r', repo, '--archiver', `app=host=${join(dir, 'no-server')}`]);
    expect(gone.code, gone.stderr).toBe(20);
    expect(gone.stderr).toMatch(
      /^vault-tool: error: pg_stat_archiver of app could not be read: cannot read pg_stat_archiver: .*connection to server on socket .* failed: No such file or directory.*; nothing failed, and this is not a pass$/m,
    );
    // The metrics say so too (status --prometheus): not judged, and not failed.
    const prom = join(dir, 'gone.prom');
    await vt(['status', '-r', repo, '--archiver', `app=host=${join(dir, 'no-server')}`, '--prometheus', prom]);
    const metrics = readFileSync(prom, 'utf8');
    expect(metrics).toContain('vault_tool_wal_archive_inconclusive{cluster="app"} 1\n');
    expect(metrics).toContain('vault_tool_wal_archive_failed{cluster="app"} 0\n');
  });

  it("a newest segment dated in the future (the database host's clock ahead) does not count: status fails, the RPO is missed, the metrics say so", async () => {
    // This host two hours behind the database host.
    const early = new Date(Date.now() - 2 * 3600_000);
    const r = await vt(['backup', 'status', '-r', repo, '--rpo', '15m', '--json'], { now: early });
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/the newest segment of app \([0-9A-F]{24}\) says it was archived at \S+, in the future: the clock of the database host is wrong/);
    const wal = (JSON.parse(r.stdout) as { component: string; ageSeconds?: number; rpoMissed?: boolean; lastVerifiedAt?: string }[]).find(
      (x) => x.component === 'postgres-wal/app',
    )!;
    expect(wal).toMatchObject({ rpoMissed: true });
    expect(wal.ageSeconds).toBeUndefined();
    expect(wal.lastVerifiedAt).toBeUndefined();
    const prom = join(dir, 'future.prom');
    await vt(['status', '-r', repo, '--prometheus', prom], { now: early });
    const metrics = readFileSync(prom, 'utf8');
    expect(metrics).toContain('vault_tool_wal_archive_failed{cluster="app"} 1\n');
    expect(metrics).toContain('vault_tool_wal_archive_age_seconds{cluster="app"} -1\n');
    // backup wal-status judges the same archive by the same rule.
    const ws = await vt(['backup', 'wal-status', '-r', repo, '--cluster', 'app', '--rpo', '15m'], { now: early });
    expect(ws.code, ws.stderr).toBe(8);
    expect(ws.stdout).toContain('in the future');
    expect(ws.stderr).toMatch(/the newest segment of app \([0-9A-F]{24}\) says it was archived at \S+, in the future/);
  });

  it('an archive whose newest segment no trusted host signed fails status, and the metrics say so', async () => {
    const pub = (await vt(['backup', 'key', 'signer', '--signing-key', hostKey])).stdout.trim();
    expect((await vt(['backup', 'key', 'untrust', 'db1'])).code).toBe(0);
    const prom = join(dir, 'untrusted.prom');
    try {
      const r = await vt(['backup', 'status', '-r', repo]);
      expect(r.code).toBe(8);
      expect(r.stderr).toMatch(/the newest segment of app \([0-9A-F]{24}\) is not signed by a host the vault trusts/);
      await vt(['status', '-r', repo, '--prometheus', prom]);
      expect(readFileSync(prom, 'utf8')).toContain('vault_tool_wal_archive_failed{cluster="app"} 1\n');
    } finally {
      expect((await vt(['backup', 'key', 'trust', pub, '--label', 'db1'])).code).toBe(0);
    }
    await vt(['status', '-r', repo, '--prometheus', prom]);
    expect(readFileSync(prom, 'utf8')).toContain('vault_tool_wal_archive_failed{cluster="app"} 0\n');
  });

  it('archive_command failing after its last success fails status, and the metrics say so as backup wal-status does', async () => {
    pg.sql("alter system set archive_command = 'false'");
    pg.sql('select pg_reload_conf()');
    await sleep(300);
    pg.sql("insert into events(phase) select 'while-failing' from generate_series(1, 10)");
    pg.sql('select pg_switch_wal()');
    for (let i = 0; i < 100 && pg.sql('select failed_count from pg_stat_archiver') === '0'; i++) await sleep(100);
    try {
      const prom = join(dir, 'vault.prom');
      const r = await vt(['status', '-r', repo, '--archiver', 'app', '--rpo', '15m', '--prometheus', prom]);
      expect(r.code).toBe(8);
      expect(r.stderr).toMatch(/archive_command of app is failing: [0-9A-F]{24} failed at /);
      const metrics = readFileSync(prom, 'utf8');
      expect(metrics).toContain('vault_tool_wal_archiver_failing{cluster="app"} 1\n');
      expect(metrics).toContain('vault_tool_wal_rpo_missed{cluster="app"} 0\n');
      expect(metrics).toMatch(/^vault_tool_wal_archive_age_seconds\{cluster="app"\} \d+$/m);
      expect(metrics).toMatch(/^vault_tool_wal_archiver_failures\{cluster="app"\} [1-9]\d*$/m);
      // Not twice: the archive's RPO is its own metric, never a backup's.
      expect(metrics).not.toMatch(/^vault_tool_backup_rpo_missed\{component="postgres-wal\/app"\}/m);
      // The same lines as wal-status writes.
      const alone = join(dir, 'wal.prom');
      await vt(['backup', 'wal-status', '--cluster', 'app', '-r', repo, '--rpo', '15m', '--archiver', '--prometheus', alone]);
      const walLines = readFileSync(alone, 'utf8').split('\n');
      // Beyond what status writes of the archive: when wal-status wrote them (status has its own vault_tool_status_timestamp_seconds).
      expect(walLines).toContainEqual(expect.stringMatching(/^vault_tool_wal_status_timestamp_seconds\{cluster="app"\} \d+$/));
      for (const l of walLines.filter((x) => x.startsWith('vault_tool_wal_') && !x.includes('age_seconds') && !x.startsWith('vault_tool_wal_status_timestamp')))
        expect(metrics).toContain(`${l}\n`);
      if (needs('promtool')) execFileSync('promtool', ['check', 'metrics'], { input: metrics });
    } finally {
      pg.sql('alter system reset archive_command');
      pg.sql('select pg_reload_conf()');
      await sleep(300);
      await switchAndWait(pg);
    }
    const ok = await vt(['status', '-r', repo, '--archiver', 'app', '--json']);
    expect(JSON.parse(ok.stdout).backups.find((b: { component: string }) => b.component === 'postgres-wal/app').wal.archiver.last_archived_wal).toMatch(
      /^[0-9A-F]{24}$/,
    );
  }, 120_000);
});

describe.skipIf(!HAVE_PG)('the WAL archive in the quarterly verification', () => {
  it('checks every base backup’s continuity, reads the files, holds the archive to its RPO, reads pg_stat_archiver', async () => {
    writeFileSync(
      join(dir, 'verify.yaml'),
      `apiVersion: vault-tool/v1\nkind: VerificationPlan\nbackups:\n  repo: ${repo}\n  readData: true\n  rpo: { postgres-wal/app: 15m }\n  archivers: { app: "" }\n`,
    );
    const r = await vt(['verify', '--plan', 'verify.yaml', '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const archive = (JSON.parse(r.stdout).checks as { area: string; subject: string; verdict: string; message: string }[]).filter((c) => c.area === 'archive');
    expect(archive.map((c) => c.verdict)).not.toContain('failed');
    expect(archive).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          subject: expect.stringMatching(/^postgres-wal\/app: WAL for postgres-base\/app\/.*\.tar\.age$/),
          message: expect.stringMatching(/^continuous from /),
        }),
        expect.objectContaining({ subject: 'postgres-wal/app: RPO 15m', verdict: 'ok' }),
        expect.objectContaining({ subject: 'postgres-wal/app: pg_stat_archiver', verdict: 'ok' }),
      ]),
    );
    const summary = archive.find((c) => c.subject === 'postgres-wal/app')!;
    const [counted, read] = /^(\d+) archived file\(s\), (\d+) read in full/.exec(summary.message)!.slice(1).map(Number);
    expect(read).toBe(counted);
    // A share of them: fewer read, the history and first segments always.
    const some = await vt(['verify', '-r', repo, '--read-data', '10%', '--json']);
    const part = (JSON.parse(some.stdout).checks as { subject: string; message: string }[]).find((c) => c.subject === 'postgres-wal/app')!;
    expect(Number(/, (\d+) read in full/.exec(part.message)![1])).toBeLessThan(counted!);
    expect(Number(/, (\d+) read in full/.exec(part.message)![1])).toBeGreaterThan(0);
  }, 120_000);

  it('a segment missing is named, and every point in time after it fails; the report says what to do', async () => {
    const names = readdirSync(segDir())
      .filter((f) => /^[0-9A-F]{24}\.age$/.test(f))
      .sort();
    const victim = names[names.length - 2]!.slice(0, 24);
    const aside = join(dir, 'aside');
    mkdirSync(aside, { recursive: true });
    for (const f of [`${victim}.age`, `${victim}.age.manifest.json`]) renameSync(join(segDir(), f), join(aside, f));
    try {
      const r = await vt(['verify', '-r', repo, '--report', 'gap.md', '--json']);
      expect(r.code).toBe(8);
      const failed = (JSON.parse(r.stdout).checks as { area: string; verdict: string; message: string }[]).filter((c) => c.verdict === 'failed');
      expect(failed).toEqual([
        expect.objectContaining({
          area: 'archive',
          message: expect.stringMatching(new RegExp(`^WAL segment ${victim} is missing: points in time after about .* cannot be recovered`)),
        }),
      ]);
      const report = readFileSync(join(dir, 'gap.md'), 'utf8');
      expect(report).toContain('**archive: postgres-wal/app: WAL for postgres-base/app/');
      expect(report).toContain('take a new base backup now');
    } finally {
      for (const f of readdirSync(aside)) renameSync(join(aside, f), join(segDir(), f));
    }
  }, 120_000);
});

describe.skipIf(!HAVE_PG)("the drill's point-in-time restore", () => {
  it("backup restore clears every recovery target it does not set: another restore's, left in postgresql.auto.conf, never steers this one", async () => {
    const base = readdirSync(join(repo, 'postgres-base', 'app')).find((f) => f.endsWith('.tar.age'))!;
    const r = await vt(['backup', 'restore', `postgres-base/app/${base}`, '--to-dir', join(dir, 'never'), '--dry-run', '--json', '-r', repo]);
    expect(r.code, r.stderr).toBe(0);
    const targets = (out: string) => (JSON.parse(out).settings as [string, string][]).filter(([k]) => /^recovery_target(_xid|_time|_lsn|_name)?$/.test(k));
    // The last line of a setting wins, and PostgreSQL refuses a second target: the unused ones are cleared, the chosen one comes last.
    expect(targets(r.stdout)).toEqual([
      ['recovery_target', "''"],
      ['recovery_target_xid', "''"],
      ['recovery_target_time', "''"],
      ['recovery_target_lsn', "''"],
      ['recovery_target_name', "''"],
    ]);
    const t = await vt([
      'backup',
      'restore',
      `postgres-base/app/${base}`,
      '--to-dir',
      join(dir, 'never'),
      '--target-time',
      target.toISOString(),
      '--dry-run',
      '--json',
      '-r',
      repo,
    ]);
    expect(targets(t.stdout).pop()).toEqual(['recovery_target_time', `'${target.toISOString().replace('T', ' ').replace('Z', '+00')}'`]);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it('drill init writes a pitr step for the cluster with base backups, which its parser accepts', async () => {
    const r = await vt(['drill', 'init', '-r', repo, '--shares', 'shares', '-o', 'init.yaml']);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(join(dir, 'init.yaml'), 'utf8');
    expect(text).toMatch(/pitr:\n {4}- cluster: app\n {6}dir: drill-scratch\/pitr-app\n {6}target: latest/);
    expect(parseDrillPlan(text, 'init.yaml', dir).backups?.pitr).toEqual([{ cluster: 'app', dir: join(dir, 'drill-scratch/pitr-app'), user: 'postgres' }]);
  });

  it('to the end of the archive: base and WAL into a throwaway server, recovered, checked, then stopped and removed; timed in the RTO', async () => {
    const scratch = join(postgresFolder(join(dir, 'scratch')), 'latest');
    drillPlan(
      'latest.yaml',
      `backups:\n  repo: ${repo}\n  pitr:\n    - { cluster: app, dir: ${scratch} }\n` +
        `checks:\n  - { sql: "select count(*) from events where phase = 'after-t'", cluster: app, database: postgres, expect: "100" }\n  - { tables: 2, cluster: app, database: postgres }\n`,
    );
    const dry = await vt(['drill', '--plan', 'latest.yaml', '--dry-run', '--json']);
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    const planned = JSON.parse(dry.stdout).steps.find((s: { name: string }) => s.name === 'point-in-time restore of app');
    expect(planned.message).toMatch(
      /^\d{8}T\d{6}Z-[0-9a-f]+\.tar\.age \(made .*\), key [0-9a-f]+ held; WAL [0-9A-F]{24} … [0-9A-F]{24} on timeline 1, to the end of the archive; a PostgreSQL 15 server/,
    );
    expect(existsSync(scratch)).toBe(false);
    const r = await vt(['drill', '--plan', 'latest.yaml', '--json']);
    const out = JSON.parse(r.stdout);
    expect(r.code, JSON.stringify(out.steps, null, 1)).toBe(0);
    const step = out.steps.find((s: { name: string }) => s.name === 'point-in-time restore of app');
    expect(step.message).toMatch(
      /^\S+\.tar\.age and \d+ WAL file\(s\) into .*; recovered to the end of the archive \(replayed to [0-9A-F]+\/[0-9A-F]+, last transaction .*\) in [\d.]+ s and promoted/,
    );
    expect(out.steps.find((s: { name: string }) => s.name === 'run the checks').message).toContain(
      `app/postgres: "select count(*) from events where phase = 'after-t'" = 100`,
    );
    expect(out.restored).toEqual([expect.objectContaining({ component: 'postgres-base/app', into: expect.stringContaining('a PostgreSQL server on') })]);
    // The recovery (restore, replay, checks) is inside the recovery time; the teardown is not.
    expect(out.recoverySeconds).toBeGreaterThan(step.seconds);
    expect(out.steps.at(-1).message).toMatch(/^removed PostgreSQL server on .* \(port \d+\), folder /);
    expect(existsSync(scratch)).toBe(false);
    expect(drillServers()).toEqual([]);
    // Nothing of the drill reached the archive: its server archived nothing.
    expect(readdirSync(segDir()).filter((f) => f.startsWith('00000002'))).toEqual([]);
  }, 240_000);

  it('to a time: the rows committed before it are there, those after it are not', async () => {
    const scratch = join(dir, 'scratch', 'to-t');
    drillPlan(
      'to-t.yaml',
      `backups:\n  repo: ${repo}\n  pitr:\n    - { cluster: app, dir: ${scratch}, target: "${target.toISOString()}" }\nchecks:\n  - { sql: "select count(*) from events where phase = 'before-t'", cluster: app, database: postgres, expect: "100" }\n  - { sql: "select count(*) from events where phase = 'after-t'", cluster: app, database: postgres, expect: "0" }\n`,
    );
    const r = await vt(['drill', '--plan', 'to-t.yaml', '--json']);
    const out = JSON.parse(r.stdout);
    expect(r.code, JSON.stringify(out.steps, null, 1)).toBe(0);
    expect(out.steps.find((s: { name: string }) => s.name === 'point-in-time restore of app').message).toContain(`recovered to ${target.toISOString()}`);
    expect(existsSync(scratch)).toBe(false);
  }, 240_000);

  it('a long archive: the WAL is handed over a few segments ahead of the server, and what it read goes, so the folder stays small', async () => {
    for (let i = 0; i < 36; i++) {
      pg.sql(`insert into events(phase) values ('long-${i}')`);
      await switchAndWait(pg);
    }
    const scratch = join(dir, 'scratch', 'long');
    drillPlan(
      'long.yaml',
      `backups:\n  repo: ${repo}\n  pitr:\n    - { cluster: app, dir: ${scratch} }\nchecks:\n  - { sql: "select count(*) from events where phase like 'long-%'", cluster: app, database: postgres, expect: "36" }\n`,
    );
    let most = 0;
    const watch = setInterval(() => {
      try {
        most = Math.max(most, readdirSync(join(scratch, 'wal')).filter((f) => /^[0-9A-F]{24}$/.test(f)).length);
      } catch {
        /* not there yet, or gone */
      }
    }, 20);
    const r = await vt(['drill', '--plan', 'long.yaml', '--json']);
    clearInterval(watch);
    const out = JSON.parse(r.stdout);
    expect(r.code, JSON.stringify(out.steps, null, 1)).toBe(0);
    const handed = Number(
      / and (\d+) WAL file\(s\) into /.exec(out.steps.find((s: { name: string }) => s.name === 'point-in-time restore of app').message)![1],
    );
    expect(handed).toBeGreaterThan(36);
    // Its progress (--json: events on stderr): the base backup, then the WAL handed over, counted to the last.
    const progress = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{"type":"progress"'))
      .map((l) => JSON.parse(l))
      .filter((e: { item: string }) => e.item === 'point-in-time restore of app');
    expect(progress.map((e: { phase: string }) => e.phase)).toContain('base backup into the data directory');
    const wal = progress.filter((e: { phase: string }) => e.phase === 'WAL handed to the recovering server');
    expect(wal.at(-1)).toMatchObject({ count: handed, of: handed });
    // At most the window ahead of the server (16), and the few behind it kept for a redo point read again.
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(16 + 6);
  }, 240_000);

  it('a drill killed during the recovery: its server stops the recovery (never promotes early), and drill teardown removes the rest', async () => {
    const scratch = join(dir, 'scratch', 'killed');
    drillPlan('killed.yaml', `backups:\n  repo: ${repo}\n  pitr:\n    - { cluster: app, dir: ${scratch} }\n`);
    const p = spawn(NODE, [BIN, 'drill', '--plan', 'killed.yaml'], {
      cwd: dir,
      env: { ...process.env, ...pg.env, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state') },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => p.on('close', r));
    const pidFile = join(scratch, 'data', 'postmaster.pid');
    for (let i = 0; i < 600 && !existsSync(pidFile); i++) await sleep(20);
    expect(existsSync(pidFile)).toBe(true);
    // Frozen while the server still needs WAL (the archive is longer than the 16 segments handed over ahead), then killed.
    p.kill('SIGSTOP');
    await sleep(500);
    p.kill('SIGKILL');
    await exited;
    for (let i = 0; i < 200 && existsSync(pidFile); i++) await sleep(100);
    expect(existsSync(pidFile)).toBe(false);
    const log = readFileSync(join(scratch, 'server.log'), 'utf8');
    expect(log).toContain(`vault-tool drill: the drill (pid ${p.pid}) is gone`);
    expect(log).not.toMatch(/selected new timeline ID|database system is ready to accept connections/);
    const t = await vt(['drill', 'teardown']);
    expect(t.code, t.stdout + t.stderr).toBe(0);
    expect(t.stdout).toContain(`removed folder ${scratch}`);
    expect(existsSync(scratch)).toBe(false);
  }, 240_000);

  it('a drill kept (--keep) leaves its server running; drill teardown stops it, then removes its folder', async () => {
    const scratch = join(dir, 'scratch', 'kept');
    drillPlan('kept.yaml', `backups:\n  repo: ${repo}\n  pitr:\n    - { cluster: app, dir: ${scratch} }\n`);
    const r = await vt(['drill', '--plan', 'kept.yaml', '--keep', '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(JSON.parse(r.stdout).kept.targets).toEqual([
      `folder ${scratch}`,
      expect.stringMatching(new RegExp(`^PostgreSQL server on ${scratch}/data \\(port \\d+\\)$`)),
    ]);
    expect(drillServers().length).toBeGreaterThan(0);
    const dry = await vt(['drill', 'teardown', '--dry-run']);
    expect(dry.stdout).toMatch(/would remove PostgreSQL server on .*kept\/data \(port \d+\)/);
    const t = await vt(['drill', 'teardown']);
    expect(t.code, t.stdout + t.stderr).toBe(0);
    expect(t.stdout).toMatch(new RegExp(`removed PostgreSQL server on ${scratch}/data \\(port \\d+\\)\n.*removed folder ${scratch}`));
    expect(existsSync(scratch)).toBe(false);
    for (let i = 0; i < 50 && drillServers().length; i++) await sleep(100);
    expect(drillServers()).toEqual([]);
  }, 240_000);

  it('a gap in the archive stops the plan of a restore to its end, before anything is made', async () => {
    const names = readdirSync(segDir())
      .filter((f) => /^[0-9A-F]{24}\.age$/.test(f))
      .sort();
    const victim = names[names.length - 2]!.slice(0, 24);
    const aside = join(dir, 'aside2');
    mkdirSync(aside, { recursive: true });
    for (const f of [`${victim}.age`, `${victim}.age.manifest.json`]) renameSync(join(segDir(), f), join(aside, f));
    try {
      const scratch = join(dir, 'scratch', 'gap');
      drillPlan('gap.yaml', `backups:\n  repo: ${repo}\n  pitr:\n    - { cluster: app, dir: ${scratch} }\n`);
      const r = await vt(['drill', '--plan', 'gap.yaml', '--json']);
      expect(r.code).toBe(8);
      const step = JSON.parse(r.stdout).steps.find((s: { name: string }) => s.name === 'point-in-time restore of app');
      expect(step).toMatchObject({ ok: false, message: expect.stringContaining(`WAL segment ${victim} is missing from the archive`) });
      expect(existsSync(scratch)).toBe(false);
    } finally {
      for (const f of readdirSync(aside)) renameSync(join(aside, f), join(segDir(), f));
    }
  }, 120_000);
});
