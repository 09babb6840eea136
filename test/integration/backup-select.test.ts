import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { havePostgres, startPostgres, type Postgres } from '../helpers/servers.mjs';

/**
 * Choosing backups as restic's `latest` and `--time` do: a component names
 * its newest verified backup (`@latest` says so), `--before TIME` an older
 * one, a path names a backup file of a local repository; and a whole set of
 * databases goes back in one command, the roles first.
 */
let dir: string;
let cleanup: () => void;
let pg: Postgres | undefined;
const HAVE_PG = havePostgres();

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  cli(dir, args, { ...opts, env: { ...(pg?.env ?? {}), VAULT_TOOL_BACKUP_REPO: join(dir, 'repo'), ...opts.env } });
const DAY1 = new Date('2026-11-01T02:00:00Z');
const DAY2 = new Date('2026-11-02T02:00:00Z');
const files = (component: string) =>
  readdirSync(join(dir, 'repo', component))
    .filter((f) => f.endsWith('.age'))
    .sort();
const info = (r: CliResult) => r.stderr.split('\n').filter((l) => l.startsWith('using '));

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-select-'));
  if (HAVE_PG) pg = await startPostgres();
  expect((await vt(['init'])).code).toBe(0);
}, 60_000);
afterAll(() => {
  pg?.stop();
  cleanup();
});

describe.skipIf(!HAVE_PG)('a component names its newest verified backup', () => {
  beforeAll(async () => {
    pg!.sql('create role app_owner');
    for (const db of ['app', 'users']) {
      pg!.sql(`create database ${db}`);
      pg!.sql(`create table items (id int); alter table items owner to app_owner; insert into items select generate_series(1, 10)`, db);
    }
    // Two sets of every database, a day apart; on the second day app holds 20 rows.
    expect((await vt(['backup', 'postgres', '--all'], { now: DAY1 })).code).toBe(0);
    pg!.sql('insert into items select generate_series(11, 20)', 'app');
    expect((await vt(['backup', 'postgres', '--all'], { now: DAY2 })).code).toBe(0);
  }, 120_000);

  it('--create with --dbname as a connection string creates the database it names, on the server it names', async () => {
    const conn = `host=${pg!.env.PGHOST} port=${pg!.port} dbname=cs_fresh`;
    const r = await vt(['backup', 'restore', 'postgres/app', '--dbname', conn, '--create'], { env: { PGHOST: '', PGPORT: '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(pg!.sql('select count(*) from items', 'cs_fresh')).toBe('20');
    expect(pg!.sql(`select count(*) from pg_database where datname like '%=%'`)).toBe('0');
    const svc = await vt(['backup', 'restore', 'postgres/app', '--dbname', 'service=nowhere', '--create']);
    expect(svc.code).not.toBe(0);
    // The tables belong to app_owner, which a later test drops with the roles.
    pg!.sql('drop database cs_fresh');
  });

  it('backup restore COMPONENT (and COMPONENT@latest): the newest, saying which and why', async () => {
    const r = await vt(['backup', 'restore', 'postgres/app', '--dbname', 'latest1', '--create']);
    expect(r.code, r.stderr).toBe(0);
    const newest = files('postgres/app')[1]!;
    expect(info(r)).toEqual([
      `using postgres/app/${newest}: the newest verified backup of postgres/app, made 2026-11-02T02:00:00Z (${Math.round((Date.now() - DAY2.getTime()) / 86_400_000)} days ago), verified 2026-11-02T02:00:00Z`,
    ]);
    expect(pg!.sql('select count(*) from items', 'latest1')).toBe('20');
    const j = await vt(['backup', 'restore', 'postgres/app@latest', '--dbname', 'latest2', '--create', '--json']);
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({
      backup: `postgres/app/${newest}`,
      chosen: expect.stringMatching(/^the newest verified backup of postgres\/app, made 2026-11-02T02:00:00Z/),
    });
  });

  it('--before TIME (a date, a date-time with its zone, or a duration ago): the newest finished before it', async () => {
    const oldest = files('postgres/app')[0]!;
    for (const before of ['2026-11-02', '2026-11-01T12:00:00+01:00']) {
      const r = await vt(['backup', 'restore', 'postgres/app', '--before', before, '--dbname', 'before1', '--create', '--dry-run']);
      expect(r.code, r.stderr).toBe(0);
      expect(info(r)[0]).toMatch(new RegExp(`^using postgres/app/${oldest}: the newest verified backup of postgres/app finished before 2026-11-0[12]T`));
    }
    const ago = await vt(['backup', 'restore', 'postgres/app', '--before', '12h', '--dbname', 'x', '--dry-run'], { now: new Date('2026-11-02T10:00:00Z') });
    expect(info(ago)[0]).toMatch(new RegExp(`^using postgres/app/${oldest}: .*finished before 2026-11-01T22:00:00Z`));
    const none = await vt(['backup', 'restore', 'postgres/app', '--before', '2026-10-01', '--dbname', 'x']);
    expect(none.code).toBe(5);
    expect(none.stderr).toMatch(
      /no verified backup of postgres\/app finished before 2026-10-01T00:00:00Z in the repository \(its 2 backup\(s\) are all newer\)/,
    );
    const bad = await vt(['backup', 'restore', 'postgres/app', '--before', 'last week', '--dbname', 'x']);
    expect(bad.code).toBe(2);
  });

  it('backup verify takes components and paths (the repository read from the path when none is given)', async () => {
    const newest = files('postgres/users')[1]!;
    const r = await vt(['backup', 'verify', 'postgres/users', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).map((x: { file: string }) => x.file)).toEqual([newest]);
    const rel = `repo/postgres/users/${files('postgres/users')[0]}`;
    for (const env of [{}, { VAULT_TOOL_BACKUP_REPO: undefined }]) {
      const p = await vt(['backup', 'verify', rel, `${rel}.manifest.json`, '--json'], { env });
      expect(p.code, p.stderr).toBe(0);
      expect(JSON.parse(p.stdout)).toHaveLength(1);
    }
    mkdirSync(join(dir, 'other'));
    const elsewhere = await vt(['backup', 'verify', rel, '-r', 'other']);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain(`is a backup of the repository ${join(dir, 'repo')}, not of ${join(dir, 'other')}: give --repo ${join(dir, 'repo')}`);
  });

  it('backup list: a component lists its backups, @latest the one restore takes, --before those before; latest marked', async () => {
    const all = JSON.parse((await vt(['backup', 'list', 'postgres/app', '--json'])).stdout) as { file: string; latest?: boolean; set?: string }[];
    expect(all.map((b) => b.file)).toEqual(files('postgres/app'));
    expect(all.map((b) => Boolean(b.latest))).toEqual([false, true]);
    expect(all.every((b) => typeof b.set === 'string')).toBe(true);
    const latest = JSON.parse((await vt(['backup', 'list', 'postgres/app@latest', '--json'])).stdout) as { file: string }[];
    expect(latest.map((b) => b.file)).toEqual([files('postgres/app')[1]]);
    const before = JSON.parse((await vt(['backup', 'list', '--before', '2026-11-02', '--json'])).stdout) as { file: string; latest?: boolean }[];
    expect(before).toHaveLength(4);
    expect(before.every((b) => b.latest)).toBe(true);
    const human = await vt(['backup', 'list', 'postgres/app']);
    expect(human.stdout).toMatch(/ok, latest\n?$/);
    expect((await vt(['backup', 'list', 'postgres/nothing'])).code).toBe(5);
  });
});

describe.skipIf(!HAVE_PG)('backup restore --all: a whole set, the roles first, each database into its own', () => {
  it('into new databases (--dbname-prefix, --dbname-map, --create): the roles the tables belong to come back first', async () => {
    // On a "new server": the role is gone until the globals are restored.
    for (const db of ['latest1', 'latest2']) pg!.sql(`drop database if exists ${db}`);
    pg!.sql('drop database app');
    pg!.sql('drop database users');
    pg!.sql('drop role app_owner');
    const dry = await vt(['backup', 'restore', '--all', '--dbname-prefix', 'r_', '--dbname-map', 'users:people', '--create', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(
      dry.stdout
        .trim()
        .split('\n')
        .map((l) => l.replace(/\/\d{8}T\d{6}Z-[0-9a-f]{8}\.\w+\.age/, '')),
    ).toEqual([
      'postgres/globals into database postgres',
      'postgres/app into database r_app',
      'postgres/postgres into database r_postgres',
      'postgres/users into database people',
    ]);
    const r = await vt(['backup', 'restore', '--all', '--dbname-prefix', 'r_', '--dbname-map', 'users:people', '--create']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^using set \d{8}T\d{6}Z-[0-9a-f]{8}: the newest whole set, made 2026-11-02T02:00:\d\dZ/m);
    expect(pg!.sql("select tableowner from pg_tables where tablename = 'items'", 'people')).toBe('app_owner');
    expect(pg!.sql('select count(*) from items', 'people')).toBe('10');
    const again = await vt(['backup', 'restore', '--all', '--dbname-prefix', 'r_', '--dbname-map', 'users:people', '--create']);
    expect(again.code).toBe(10);
    expect(again.stderr).toMatch(/database r_app holds 1 table\(s\)/);
  });

  it('the first failure stops the rest, naming what was restored before it and what was not', async () => {
    const fake = join(dir, 'fake-bin');
    mkdirSync(fake, { recursive: true });
    writeFileSync(
      join(fake, 'pg_restore'),
      `#!/bin/sh\nfor a in "$@"; do [ "$a" = s_people ] && { echo "pg_restore: error: could not execute query: ERROR:  out of disk" >&2; exit 1; }; done\nexec ${pg!.bin}/pg_restore "$@"\n`,
    );
    chmodSync(join(fake, 'pg_restore'), 0o755);
    const r = await vt(['backup', 'restore', '--all', '--dbname-prefix', 's_', '--dbname-map', 'users:s_people', '--create'], {
      env: { PATH: `${fake}:${process.env.PATH}` },
    });
    expect(r.code).toBe(1);
    const strip = (s: string) => s.replace(/\/\d{8}T\d{6}Z-[0-9a-f]{8}\.\w+\.age/g, '');
    expect(strip(r.stderr)).toMatch(
      /vault-tool: error: pg_restore into s_people failed \(exit 1\): pg_restore: error: could not execute query: ERROR: {2}out of disk; restored before it: postgres\/globals into database postgres, postgres\/app into database s_app, postgres\/postgres into database s_postgres; not restored: postgres\/users\n/,
    );
    // The database the failed restore created is gone; those restored before it stay.
    expect(pg!.sql("select count(*) from pg_database where datname = 's_people'")).toBe('0');
    expect(pg!.sql("select count(*) from pg_database where datname = 's_postgres'")).toBe('1');
  });

  it('refused before anything is restored: a map naming no database of the set, two databases into one, a backup named with --all', async () => {
    const unknown = await vt(['backup', 'restore', '--all', '--dbname-map', 'nope:x', '--create']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--dbname-map names nope, not in set .* \(its databases: app, postgres, users\)/);
    const twice = await vt(['backup', 'restore', '--all', '--dbname-map', 'users:postgres', '--create']);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/two databases of set .* would be restored into postgres/);
    expect((await vt(['backup', 'restore', '--all', 'postgres/app'])).code).toBe(2);
    expect((await vt(['backup', 'restore', 'postgres/app', '--dbname-prefix', 'x'])).code).toBe(2);
  });
});

describe.skipIf(!HAVE_PG)('a database named as it is (capitals, spaces), not as its component is stored', () => {
  it('backup list, verify and restore take postgres/DB with the exact name, and @latest after it', async () => {
    pg!.sql('create database "Big Orders"');
    pg!.sql('create table t (x int); insert into t values (1), (2), (3)', 'Big Orders');
    try {
      const b = await vt(['backup', 'postgres', '--dbname', 'Big Orders', '-r', 'repo-names', '--json']);
      expect(b.code, b.stderr).toBe(0);
      const stored = JSON.parse(b.stdout.trim().split('\n')[0]!).component as string;
      expect(stored).toMatch(/^postgres\/big_orders_[0-9a-f]{10}$/);
      const listed = await vt(['backup', 'list', 'postgres/Big Orders', '-r', 'repo-names', '--json']);
      expect(listed.code, listed.stderr).toBe(0);
      expect((JSON.parse(listed.stdout) as { component: string }[]).map((x) => x.component)).toEqual([stored]);
      const verified = await vt(['backup', 'verify', 'postgres/Big Orders@latest', '-r', 'repo-names']);
      expect(verified.code, verified.stderr).toBe(0);
      const r = await vt(['backup', 'restore', 'postgres/Big Orders', '-r', 'repo-names', '--dbname', 'big_copy', '--create']);
      expect(r.code, r.stderr).toBe(0);
      expect(info(r)[0]).toContain(`using ${stored}/`);
      expect(pg!.sql('select count(*) from t', 'big_copy')).toBe('3');
      // Another database's exact name is not this one.
      expect((await vt(['backup', 'list', 'postgres/big orders', '-r', 'repo-names'])).code).toBe(5);
    } finally {
      pg!.sql('drop database if exists "Big Orders"');
      pg!.sql('drop database if exists big_copy');
    }
  });
});
