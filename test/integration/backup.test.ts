import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript helper shared with the benchmarks
import { startKubeApi } from '../helpers/kube-api-server.mjs';
import { cli, haveBinary, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { havePostgres, haveRedis, startPostgres, startRedis, type Postgres, type Redis } from '../helpers/servers.mjs';
import { skipUnless } from '../helpers/require.js';

/**
 * Backups against real servers: a throwaway PostgreSQL cluster and Redis,
 * rclone's local backend for remotes, and the Debian age tool for the
 * manual fallback.
 */
let dir: string;
let cleanup: () => void;
let pg: Postgres;
let redis: Redis;
const HAVE_PG = havePostgres();
const HAVE_REDIS = haveRedis();
const HAVE_AGE = haveBinary('age', ['--version']);

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  cli(dir, args, { ...opts, env: { ...(pg?.env ?? {}), RCLONE_CONFIG_OFFSITE_TYPE: 'local', ...opts.env } });
const lines = (r: CliResult) =>
  r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
const files = (sub: string) => {
  try {
    return readdirSync(join(dir, sub), { recursive: true }).map(String).sort();
  } catch {
    return [];
  }
};

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-backup-'));
  if (HAVE_PG) pg = await startPostgres();
  if (HAVE_REDIS) redis = await startRedis();
  expect((await vt(['init'])).code).toBe(0);
  // A config folder the files backups read.
  mkdirSync(join(dir, 'app/certs'), { recursive: true });
  writeFileSync(join(dir, 'app/.env'), 'ENCRYPTION_KEY=0123456789abcdef0123456789abcdef\n');
  writeFileSync(join(dir, 'app/docker-compose.yml'), 'services: {}\n');
  writeFileSync(join(dir, 'app/certs/tls.crt'), 'cert\n');
});
afterAll(() => {
  pg?.stop();
  redis?.stop();
  cleanup();
});

describe.skipIf(!HAVE_PG)('PostgreSQL', () => {
  beforeAll(() => {
    pg.sql("create role app_owner login password 'app-owner-secret'");
    for (const db of ['orders', 'users']) {
      pg.sql(`create database ${db} owner app_owner`);
      pg.sql(
        `create table items (id int primary key, name text, price numeric); insert into items select g, md5(g::text), g * 1.5 from generate_series(1, 30000) g; alter table items owner to app_owner`,
        db,
      );
    }
  });
  const fingerprint = (db: string) => pg.sql("select count(*) || ':' || md5(string_agg(id || name || price, ',' order by id)) from items", db);

  it('backs up a database, restores it into a fresh one, and the rows are the same', async () => {
    const b = await vt(['backup', 'postgres', '--dbname', 'orders', '-r', 'repo', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const [start, made, summary] = lines(b);
    expect(start).toMatchObject({ type: 'start', component: 'postgres/orders' });
    expect(start.estimate).toBeGreaterThan(1_000_000);
    expect(made).toMatchObject({
      type: 'backup',
      component: 'postgres/orders',
      verification: { ok: true, check: 'pg_restore -f /dev/null while writing; the stored file hashed as written and synced' },
    });
    expect(summary).toMatchObject({ type: 'summary', backups: 1 });
    const r = await vt(['backup', 'restore', `postgres/orders/${made.file}`, '--dbname', 'orders_restored', '--create', '-r', 'repo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('after a full check');
    expect(fingerprint('orders_restored')).toBe(fingerprint('orders'));
    expect(fingerprint('orders')).toMatch(/^30000:/);
  });

  it('--all: every database, one backup each, and the globals with the role', async () => {
    const b = await vt(['backup', 'postgres', '--all', '-r', 'repo', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const made = lines(b)
      .filter((l) => l.type === 'backup')
      .map((l) => l.component);
    // One backup for each database the cluster has now (other tests create some), then the globals.
    const databases = pg.sql("select string_agg(datname, ',' order by datname) from pg_database where not datistemplate").split(',');
    expect(databases).toEqual(expect.arrayContaining(['orders', 'postgres', 'users']));
    expect(made).toEqual([...databases.map((d) => `postgres/${d}`), 'postgres/globals']);
    const list = JSON.parse((await vt(['backup', 'list', '-r', 'repo', '--json'])).stdout);
    const globals = list.find((x: { component: string }) => x.component === 'postgres/globals');
    const out = join(dir, 'globals.sql');
    const rg = await vt(['backup', 'restore', `postgres/globals/${globals.file}`, '-o', out, '-r', 'repo']);
    expect(rg.code, rg.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('CREATE ROLE app_owner;');
    expect((await import('node:fs')).statSync(out).mode & 0o777).toBe(0o600);
  });

  it('--all: a database whose name reads as a connection string is dumped as itself, never as what the name says', async () => {
    // Named as a connection string to the orders database: given bare to pg_dump, libpq would dump orders instead.
    pg.sql(`create database "dbname=orders"`);
    try {
      pg.sql('create table only_here (id int); insert into only_here values (1)', "dbname='dbname=orders'");
      // Made as a backup host makes them (the recipient only): the vault records no other repository for the tests after this one.
      const recipient = JSON.parse((await vt(['--json', 'backup', 'key', 'show'])).stdout).recipient;
      const b = await vt(['backup', 'postgres', '--all', '--recipient', recipient, '-r', 'all-names', '--json']);
      expect(b.code, b.stderr).toBe(0);
      const made = lines(b).filter((l) => l.type === 'backup');
      const odd = made.find((l) => l.component.startsWith('postgres/dbname_orders_'));
      expect(odd, JSON.stringify(made.map((l) => l.component))).toBeDefined();
      const out = join(dir, 'odd.pgdump');
      expect((await vt(['backup', 'restore', `${odd.component}/${odd.file}`, '-o', out, '-r', 'all-names'])).code).toBe(0);
      const toc = execFileSync('pg_restore', ['--list', out], { encoding: 'utf8' });
      expect(toc).toContain('TABLE public only_here');
      expect(toc).not.toContain('TABLE public items');
    } finally {
      pg.sql('drop database "dbname=orders"');
    }
  });

  it('every backup opens by hand with the Debian age and the backup identity (the manual fallback)', async (ctx) => {
    skipUnless(ctx, HAVE_AGE, 'the Debian age is not installed: the manual fallback was not tried');
    expect((await vt(['backup', 'postgres', '--all', '-r', 'by-hand-repo'])).code).toBe(0);
    writeFileSync(join(dir, 'backup.id'), (await vt(['get', 'backup/identity'])).stdout, { mode: 0o600 });
    const list = JSON.parse((await vt(['backup', 'list', '-r', 'by-hand-repo', '--json'])).stdout) as { component: string; file: string }[];
    expect(list.filter((x) => x.file.endsWith('.pgdump.age')).length).toBeGreaterThanOrEqual(3);
    for (const b of list.filter((x) => x.file.endsWith('.pgdump.age'))) {
      const plain = execFileSync('age', ['-d', '-i', join(dir, 'backup.id'), join(dir, 'by-hand-repo', b.component, b.file)], { maxBuffer: 1 << 28 });
      const check = spawnSync('pg_restore', ['-f', '/dev/null'], { input: plain });
      expect(check.status, `${b.component}/${b.file}`).toBe(0);
    }
  });

  it('a restore refuses, before writing, a database that holds tables', async () => {
    const made = await vt(['backup', 'postgres', '--dbname', 'users', '-r', 'clash-repo', '--json']);
    expect(made.code, made.stderr).toBe(0);
    const into = await vt(['backup', 'restore', `postgres/users/${lines(made)[1].file}`, '--dbname', 'orders', '-r', 'clash-repo']);
    expect(into.code).toBe(10);
    expect(into.stderr).toMatch(/database orders holds 1 table\(s\): restoring replaces them/);
    expect(pg.sql('select count(*) from items', 'orders')).toBe('30000');
  });

  it('a database that does not exist: not found (exit 5), never "cannot reach the server", nothing left behind', async () => {
    const before = files('repo');
    const r = await vt(['backup', 'postgres', '--dbname', 'no_such_db', '-r', 'repo']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^vault-tool: error: database no_such_db does not exist on the PostgreSQL server /);
    expect(files('repo')).toEqual(before);
  });

  it('pg_dump older than the server is refused, naming both versions, and nothing is kept', async () => {
    const fake = join(dir, 'old-bin');
    mkdirSync(fake, { recursive: true });
    writeFileSync(join(fake, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 12.9"\n');
    chmodSync(join(fake, 'pg_dump'), 0o755);
    const before = files('repo');
    const r = await vt(['backup', 'postgres', '--dbname', 'orders', '-r', 'repo'], { env: { PATH: `${fake}:${process.env.PATH}` } });
    expect(r.code).toBe(19);
    expect(r.stderr).toMatch(
      /^vault-tool: error: pg_dump is version 12, older than the server \(\d+\): it cannot dump it faithfully\nvault-tool: hint: install the PostgreSQL \d+ client tools/,
    );
    expect(files('repo')).toEqual(before);
  });

  it('a named database: pg_dump starts at once, its version read from its dump (no pg_dump --version), the server asked only for the size the start event gives, while pg_dump runs', async () => {
    // The real tools, each logging when it starts (and psql when it ends, a second late).
    const shims = join(dir, 'timed-bin');
    const log = join(dir, 'timed.log');
    mkdirSync(shims, { recursive: true });
    const real = (t: string) => execFileSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).trim();
    writeFileSync(join(shims, 'pg_dump'), `#!/bin/sh\necho "pg_dump $*" >> '${log}'\nexec '${real('pg_dump')}' "$@"\n`);
    writeFileSync(join(shims, 'psql'), `#!/bin/sh\nsleep 1\n'${real('psql')}' "$@"\ns=$?\necho "psql ended" >> '${log}'\nexit $s\n`);
    for (const t of ['pg_dump', 'psql']) chmodSync(join(shims, t), 0o755);
    const env = { PATH: `${shims}:${process.env.PATH}` };
    const version = { name: 'pg_dump', version: execFileSync('pg_dump', ['--version'], { encoding: 'utf8' }).split('\n')[0], args: ['-Fc'] };
    const manifest = (file: string) => JSON.parse(readFileSync(join(dir, 'timed-repo/postgres/orders', `${file}.manifest.json`), 'utf8'));

    rmSync(log, { force: true });
    const plain = await vt(['backup', 'postgres', '--dbname', 'orders', '-r', 'timed-repo'], { env });
    expect(plain.code, plain.stderr).toBe(0);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['pg_dump -Fc --dbname orders']);
    const file = readdirSync(join(dir, 'timed-repo/postgres/orders')).find((f) => f.endsWith('.age'))!;
    expect(manifest(file).tool).toEqual(version);
    expect(manifest(file).source).toMatchObject({ database: 'orders' });

    rmSync(log, { force: true });
    const json = await vt(['backup', 'postgres', '--dbname', 'orders', '-r', 'timed-repo', '--json'], { env });
    expect(json.code, json.stderr).toBe(0);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['pg_dump -Fc --dbname orders', 'psql ended']);
    const [start, made] = lines(json);
    expect(start).toMatchObject({ type: 'start', component: 'postgres/orders' });
    expect(start.estimate).toBeGreaterThan(1_000_000);
    expect(manifest(made.file).tool).toEqual(version);
  });

  it('a secret in the connection string of a restore is refused before anything is read or created', async () => {
    const b = await vt(['backup', 'postgres', '--dbname', 'orders', '-r', 'repo', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const made = lines(b).find((l) => l.type === 'backup');
    const before = pg.sql("select count(*) from pg_database where datname = 'orders_ssl'");
    for (const dbname of ['dbname=orders_ssl sslpassword=KeyPassphrase1', 'postgresql://localhost/orders_ssl?sslpassword=KeyPassphrase1']) {
      const r = await vt(['backup', 'restore', `postgres/orders/${made.file}`, '--dbname', dbname, '--create', '-r', 'repo']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('the connection string holds a secret (sslpassword)');
      expect(r.stderr).not.toContain('KeyPassphrase1');
    }
    expect(pg.sql("select count(*) from pg_database where datname = 'orders_ssl'")).toBe(before);
  });

  it('a password in the connection string is refused (argv is visible in ps)', async () => {
    const r = await vt(['backup', 'postgres', '--dbname', 'postgresql://app_owner:app-owner-secret@localhost/orders', '-r', 'repo']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('app-owner-secret');
    expect(r.stderr).toContain('the connection string holds a password');
  });
});

describe('files, exec and the failures of a dump tool', () => {
  it('a config folder: backed up, verified, restored, never over existing files without --force', async () => {
    const b = await vt(['backup', 'files', '.env', 'docker-compose.yml', 'certs', '-C', 'app', '-r', 'repo', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const made = lines(b)[1];
    expect(made.verification.check).toBe('tar -t while writing; the stored file hashed as written and synced');
    const ref = `files/config/${made.file}`;
    expect((await vt(['backup', 'restore', ref, '--to-dir', 'restored', '-r', 'repo'])).code).toBe(0);
    expect(readFileSync(join(dir, 'restored/.env'), 'utf8')).toBe(readFileSync(join(dir, 'app/.env'), 'utf8'));
    expect(readFileSync(join(dir, 'restored/certs/tls.crt'), 'utf8')).toBe('cert\n');
    writeFileSync(join(dir, 'restored/.env'), 'changed\n');
    const again = await vt(['backup', 'restore', ref, '--to-dir', 'restored', '-r', 'repo']);
    expect(again.code).toBe(10);
    expect(again.stderr).toMatch(/file\(s\) in .*restored would be overwritten \(.*\.env.*\): nothing was restored/);
    expect(readFileSync(join(dir, 'restored/.env'), 'utf8')).toBe('changed\n');
    expect((await vt(['backup', 'restore', ref, '--to-dir', 'restored', '--force', '-r', 'repo'])).code).toBe(0);
    expect(readFileSync(join(dir, 'restored/.env'), 'utf8')).toBe(readFileSync(join(dir, 'app/.env'), 'utf8'));
  });

  it('a tool killed mid-way, one that fails, one that exits 0 with nothing: each a failure, nothing left', async () => {
    const before = files('repo');
    const cases: [string[], RegExp][] = [
      [['sh', '-c', 'head -c 300000 /dev/urandom; kill -9 $$'], /^vault-tool: error: sh was killed by SIGKILL; nothing was kept$/m],
      [['sh', '-c', 'echo partial; echo "disk on fire" >&2; exit 3'], /^vault-tool: error: sh failed \(exit 3\): disk on fire; nothing was kept$/m],
      [['true'], /^vault-tool: error: true exited 0 but its output was empty; nothing was kept$/m],
      [['no-such-dump-tool'], /^vault-tool: error: no-such-dump-tool is not installed \(needed for this backup\)$/m],
    ];
    for (const [cmd, msg] of cases) {
      const r = await vt(['backup', 'exec', '--name', 'dump', '-r', 'repo', '--', ...cmd]);
      expect(r.stderr, cmd.join(' ')).toMatch(msg);
      expect(r.code, cmd.join(' ')).toBe(cmd[0] === 'no-such-dump-tool' ? 5 : 19);
    }
    expect(files('repo')).toEqual(before);
  });

  it('a tar that exits 0 but writes something that is not an archive is refused by its check', async () => {
    const fake = join(dir, 'fake-tar');
    mkdirSync(fake, { recursive: true });
    writeFileSync(
      join(fake, 'tar'),
      '#!/bin/sh\ncase "$1" in --version) echo "tar (GNU tar) 1.34";; -t) exec /usr/bin/tar "$@";; *) head -c 2048 /dev/zero | tr "\\0" x;; esac\n',
    );
    chmodSync(join(fake, 'tar'), 0o755);
    const r = await vt(['backup', 'files', '.env', '-C', 'app', '--name', 'fake', '-r', 'repo'], { env: { PATH: `${fake}:${process.env.PATH}` } });
    expect(r.code).toBe(19);
    expect(r.stderr).toMatch(/^vault-tool: error: the dump does not pass tar -t: tar -t failed \(exit 2\): .*; nothing was kept$/m);
    expect(files('repo/files').filter((f) => f.startsWith('fake'))).toEqual([]);
  });

  it("the dump tool's version is asked beside the dump, not before it; a tool that cannot say it fails the backup and keeps nothing", async () => {
    const shims = join(dir, 'tar-bin');
    const log = join(dir, 'tar.log');
    mkdirSync(shims, { recursive: true });
    rmSync(log, { force: true });
    const tar = execFileSync('sh', ['-c', 'command -v tar'], { encoding: 'utf8' }).trim();
    // tar says its version a second late; each dump logs when it starts.
    writeFileSync(
      join(shims, 'tar'),
      `#!/bin/sh\nif [ "$1" = --version ]; then sleep 1; '${tar}' --version; s=$?; echo "version said" >> '${log}'; exit $s; fi\necho "tar $1" >> '${log}'\nexec '${tar}' "$@"\n`,
    );
    chmodSync(join(shims, 'tar'), 0o755);
    const r = await vt(['backup', 'files', '--name', 'timed', '-C', 'app', '.env', '-r', 'tar-repo', '--json'], {
      env: { PATH: `${shims}:${process.env.PATH}` },
    });
    expect(r.code, r.stderr).toBe(0);
    const said = readFileSync(log, 'utf8').trim().split('\n');
    expect(said.indexOf('tar -c')).toBeGreaterThanOrEqual(0);
    expect(said.indexOf('tar -c')).toBeLessThan(said.indexOf('version said'));
    const made = lines(r).find((l) => l.type === 'backup');
    const m = JSON.parse(readFileSync(join(dir, 'tar-repo/files/timed', `${made.file}.manifest.json`), 'utf8'));
    expect(m.tool.version).toBe(execFileSync('tar', ['--version'], { encoding: 'utf8' }).split('\n')[0]);

    writeFileSync(join(shims, 'tar'), `#!/bin/sh\nif [ "$1" = --version ]; then echo 'no version here' >&2; exit 3; fi\nexec '${tar}' "$@"\n`);
    const before = files('tar-repo');
    const bad = await vt(['backup', 'files', '--name', 'timed', '-C', 'app', '.env', '-r', 'tar-repo'], { env: { PATH: `${shims}:${process.env.PATH}` } });
    expect(bad.code).toBe(19);
    expect(bad.stderr).toMatch(/^vault-tool: error: tar could not say its version: /m);
    expect(files('tar-repo')).toEqual(before);
  });
});

describe('verification finds damage and missing keys', () => {
  let ref: string;
  beforeAll(async () => {
    const b = await vt(['backup', 'exec', '--name', 'blob', '-r', 'repo', '--json', '--', 'head', '-c', '200000', '/dev/urandom']);
    ref = `exec/blob/${lines(b)[1].file}`;
  });

  it('a backup truncated after writing, or altered: verify fails naming the check; restore refuses', async () => {
    const path = join(dir, 'repo', ref);
    const good = readFileSync(path);
    truncateSync(path, good.length - 1000);
    // A restore reads it all before writing anything: the damage stops it.
    const early = await vt(['backup', 'restore', ref, '-o', 'blob.bin', '-r', 'repo']);
    expect(early.code).toBe(4);
    expect(files('.').includes('blob.bin')).toBe(false);
    let r = await vt(['backup', 'verify', ref, '-r', 'repo', '--json']);
    expect(r.code).toBe(8);
    expect(JSON.parse(r.stdout)[0].message).toMatch(/^decryption failed: .* \(the file was truncated or altered\)$/);
    const altered = Buffer.from(good);
    altered[altered.length - 5]! ^= 1;
    writeFileSync(path, altered);
    r = await vt(['backup', 'verify', ref, '-r', 'repo', '--json']);
    expect(JSON.parse(r.stdout)[0].message).toMatch(/^decryption failed: .*failed authentication.* \(the file was truncated or altered\)$/);
    // The failed verdict is recorded: a restore refuses it without reading.
    const restore = await vt(['backup', 'restore', ref, '-o', 'blob.bin', '-r', 'repo']);
    expect(restore.code).toBe(8);
    expect(restore.stderr).toMatch(/its last verification failed \(decryption failed: .*\): it is not restored/);
    expect(files('.').includes('blob.bin')).toBe(false);
    writeFileSync(path, good);
    expect((await vt(['backup', 'verify', ref, '-r', 'repo'])).code).toBe(0);
  });

  it('a manifest edited after signing is refused', async () => {
    const m = join(dir, 'repo', `${ref}.manifest.json`);
    const good = readFileSync(m, 'utf8');
    writeFileSync(
      m,
      good.replace(/"size": (\d+)/, (_x, n) => `"size": ${Number(n) + 1}`),
    );
    const r = await vt(['backup', 'verify', ref, '-r', 'repo', '--json']);
    expect(JSON.parse(r.stdout)[0].message).toBe("the manifest's signature does not verify: it was altered");
    writeFileSync(m, good);
  });

  it('the backup key is rotated, old backups still open; a purge of the key is refused while backups need it', async () => {
    expect((await vt(['backup', 'key', 'rotate'])).code).toBe(0);
    expect((await vt(['backup', 'verify', ref, '-r', 'repo'])).code).toBe(0);
    const purge = await vt(['rm', 'backup/identity', '--force', '--purge']);
    expect(purge.code).toBe(2);
    expect(purge.stderr).toMatch(/^vault-tool: error: backup\/identity cannot be purged: backups in .*repo need key [0-9a-f]{16}/);
  });

  it('a backup whose key the vault no longer holds is a failure, and the quarterly verify reports it', async () => {
    // A backup made elsewhere to a recipient the vault never held.
    const { X25519Identity } = await import('../../src/age/x25519.js');
    const stranger = X25519Identity.generate().identity.recipient;
    const b = await vt(['backup', 'exec', '--name', 'foreign', '-r', 'repo', '--recipient', stranger, '--json', '--', 'echo', 'x']);
    expect(b.code, b.stderr).toBe(0);
    const r = await vt(['backup', 'status', '-r', 'repo', '--json']);
    expect(r.code).toBe(8);
    expect(JSON.parse(r.stdout).find((s: { component: string }) => s.component === 'exec/foreign')).toMatchObject({ keyHeld: false });
    expect(r.stderr).toContain('the vault does not hold the key of the newest backup of exec/foreign');
    const st = await vt(['status', '-r', 'repo', '--json']);
    expect(st.code).toBe(8);
    expect(JSON.parse(st.stdout).backups.find((s: { component: string }) => s.component === 'exec/foreign')).toMatchObject({ keyHeld: false });
    // The metrics say it too, and pass the exposition format's linter.
    await vt(['status', '-r', 'repo', '--prometheus', 'metrics.prom']);
    const prom = readFileSync(join(dir, 'metrics.prom'), 'utf8');
    expect(prom).toContain('vault_tool_backup_undecryptable{component="exec/foreign"} 1');
    expect(prom).toMatch(/vault_tool_backup_last_success_timestamp_seconds\{component="exec\/blob"\} [1-9]/);
    if (haveBinary('promtool', ['--version'])) expect(spawnSync('promtool', ['check', 'metrics'], { input: prom, encoding: 'utf8' }).status).toBe(0);
    writeFileSync(join(dir, 'plan.yaml'), 'apiVersion: vault-tool/v1\nkind: VerificationPlan\nbackups: { repo: repo, readData: false }\n');
    const v = await vt(['verify', '--plan', 'plan.yaml', '--json']);
    expect(v.code).toBe(8);
    expect(
      JSON.parse(v.stdout)
        .checks.filter((c: { ok: boolean }) => !c.ok)
        .map((c: { message: string }) => c.message),
    ).toEqual([expect.stringMatching(/^the vault no longer holds backup key [0-9a-f]{16}: this backup cannot be decrypted/)]);
  });
});

describe('retention', () => {
  it("keeps by restic's rules, never the newest verified, removes failed backups, and refuses no rules", async () => {
    const at = (d: string) => ({ now: new Date(d) });
    for (const d of ['2026-01-01T10:00:00Z', '2026-01-02T10:00:00Z', '2026-01-02T11:00:00Z', '2026-01-09T10:00:00Z']) {
      expect((await vt(['backup', 'exec', '--name', 'daily', '-r', 'prune-repo', '--', 'echo', d], at(d))).code).toBe(0);
    }
    // The newest one then fails its verification: it does not count, and the one before is kept as the newest verified.
    const newest = files('prune-repo/exec/daily')
      .filter((f) => f.endsWith('.age'))
      .sort()
      .at(-1)!;
    truncateSync(join(dir, 'prune-repo/exec/daily', newest), 30);
    await vt(['backup', 'verify', `exec/daily/${newest}`, '-r', 'prune-repo']);
    const none = await vt(['backup', 'prune', '-r', 'prune-repo']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no keep rule given: a prune without rules would remove every backup');
    const dry = await vt(['backup', 'prune', '--keep-daily', '1', '-r', 'prune-repo', '--json'], at('2026-02-01T00:00:00Z'));
    const d = JSON.parse(dry.stdout).decisions.map((x: { file: string; keep: boolean; reasons: string[] }) => [x.keep, x.reasons[0]]);
    expect(d).toEqual([
      [false, expect.stringMatching(/^not a good backup \(failed verification: decryption failed/)],
      [true, 'daily 2026-01-02'],
      [false, 'matched no keep rule'],
      [false, 'matched no keep rule'],
    ]);
    expect(files('prune-repo/exec/daily').filter((f) => f.endsWith('.age'))).toHaveLength(4);
    expect((await vt(['backup', 'prune', '--keep-daily', '1', '--confirm', '-r', 'prune-repo'], at('2026-02-01T00:00:00Z'))).code).toBe(0);
    expect(files('prune-repo/exec/daily').filter((f) => f.endsWith('.age'))).toHaveLength(1);
    // Even a rule that matches nothing keeps the newest verified backup.
    const last = JSON.parse((await vt(['backup', 'prune', '--keep-within', '1h', '--json', '-r', 'prune-repo'], at('2027-01-01T00:00:00Z'))).stdout).decisions;
    expect(last).toEqual([
      expect.objectContaining({
        keep: true,
        reasons: ['the newest verified backup of the component (never removed)', 'the newest verified backup the current backup key opens (never removed)'],
      }),
    ]);
  });
});

describe.skipIf(!HAVE_REDIS)('Redis', () => {
  it('thousands of keys: backed up, checked, restored into a fresh instance with the same keys', async () => {
    for (let i = 0; i < 20; i++) redis.cli('eval', `for i=1,250 do redis.call('set', 'k${i}:'..i, 'v'..i) end`, '0');
    expect(redis.cli('dbsize')).toBe('5000');
    const b = await vt(['backup', 'redis', '--port', String(redis.port), '-r', 'repo', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const made = lines(b)[1];
    expect(made.verification.check).toBe('redis-check-rdb while writing; the stored file hashed as written and synced');
    const target = join(dir, 'redis-restored');
    expect((await vt(['backup', 'restore', `redis/default/${made.file}`, '--to-dir', target, '-r', 'repo'])).code).toBe(0);
    const fresh = await startRedis(target);
    try {
      expect(fresh.cli('config', 'set', 'save', '')).toBe('OK');
      expect(fresh.cli('dbsize')).toBe('5000');
      expect(fresh.cli('get', 'k7:31')).toBe('v31');
    } finally {
      fresh.stop();
      rmSync(target, { recursive: true, force: true });
    }
  });
});

describe('Kubernetes and rclone remotes', () => {
  it('Secrets and ConfigMaps of a namespace, to an rclone remote; an unreachable remote is a clear failure', async () => {
    const srv = await startKubeApi({ namespaces: ['default', 'apps'] });
    try {
      writeFileSync(join(dir, 'kubeconfig'), srv.kubeconfig({ context: 'prod' }));
      srv.state.put({ metadata: { name: 'db', namespace: 'apps' }, data: { PASSWORD: Buffer.from('pw-in-the-cluster').toString('base64') } });
      srv.state.putConfigMap({ metadata: { name: 'settings', namespace: 'apps' }, data: { mode: 'strict' } });
      mkdirSync(join(dir, 'remote'));
      const b = await vt(['backup', 'k8s', '-n', 'apps', '--kubeconfig', 'kubeconfig', '-r', `offsite:${join(dir, 'remote')}`, '--json']);
      expect(b.code, b.stderr).toBe(0);
      const made = lines(b)[1];
      expect(made.component).toBe('k8s/prod');
      expect(readdirSync(join(dir, 'remote/k8s/prod')).sort()).toEqual([made.file, `${made.file}.manifest.json`]);
      expect((await vt(['backup', 'verify', '--all', '-r', `offsite:${join(dir, 'remote')}`])).code).toBe(0);
      expect((await vt(['backup', 'restore', `k8s/prod/${made.file}`, '-o', 'k8s.yaml', '-r', `offsite:${join(dir, 'remote')}`])).code).toBe(0);
      const yaml = readFileSync(join(dir, 'k8s.yaml'), 'utf8');
      expect(yaml).toContain('kind: Secret');
      expect(yaml).toContain('kind: ConfigMap');
      expect(yaml).not.toContain('resourceVersion');
      // Back into the cluster through the same guard rails as a plan: a server-side dry run, then into another namespace.
      const from = [
        'k8s',
        'restore',
        '--from-backup',
        `k8s/prod/${made.file}`,
        '-r',
        `offsite:${join(dir, 'remote')}`,
        '--kubeconfig',
        'kubeconfig',
        '--namespace-map',
        'apps:apps-restored',
        '--create-namespace',
      ];
      expect((await vt([...from, '--dry-run=server'])).code).toBe(0);
      expect(srv.state.get('apps-restored', 'db')).toBeUndefined();
      const back = await vt([...from, '--json']);
      expect(back.code, back.stderr).toBe(0);
      expect(JSON.parse(back.stdout)).toMatchObject({ backup: `k8s/prod/${made.file}`, counts: { created: 1 }, evidenceRecorded: true });
      expect(Buffer.from(srv.state.get('apps-restored', 'db').obj.data.PASSWORD, 'base64').toString()).toBe('pw-in-the-cluster');
      expect((await vt(['k8s', 'restore', '--plan', 'x.yaml', '--from-backup', 'k8s/prod/x'])).stderr).toContain('give --plan or --from-backup, not both');
      const down = await vt(['backup', 'exec', '--name', 'x', '-r', 'nowhere:bucket', '--', 'echo', 'x']);
      expect(down.code).toBe(1);
      expect(down.stderr).toMatch(/^vault-tool: error: uploading nowhere:bucket\/exec\/x\/\S+ failed \(rclone exit 1\): .*didn't find section in config file/m);
    } finally {
      await srv.close();
    }
  });

  it('a namespace read a page at a time: every Secret and ConfigMap of several pages kept, in order, and the YAML checked while written', async () => {
    const srv = await startKubeApi({ namespaces: ['big', 'small'] });
    try {
      writeFileSync(join(dir, 'pages.kubeconfig'), srv.kubeconfig({ context: 'pages' }));
      for (let i = 0; i < 120; i++)
        srv.state.put({ metadata: { name: `s${String(i).padStart(3, '0')}`, namespace: 'big' }, data: { V: Buffer.from(`v${i}`).toString('base64') } });
      for (let i = 0; i < 60; i++) srv.state.putConfigMap({ metadata: { name: `c${String(i).padStart(3, '0')}`, namespace: 'big' }, data: { n: String(i) } });
      srv.state.put({ metadata: { name: 'one', namespace: 'small' }, data: { V: Buffer.from('x').toString('base64') } });
      const b = await vt(['backup', 'k8s', '-n', 'big', '-n', 'small', '--kubeconfig', 'pages.kubeconfig', '-r', 'pages-repo', '--json']);
      expect(b.code, b.stderr).toBe(0);
      const made = lines(b)[1];
      expect(made.verification.ok).toBe(true);
      const lists = (srv.requests as { method: string; path: string; query: Record<string, string> }[]).filter(
        (r) => r.method === 'GET' && /\/(secrets|configmaps)$/.test(r.path),
      );
      expect(lists.length).toBeGreaterThan(4);
      for (const r of lists) expect(Number(r.query.limit)).toBeLessThanOrEqual(50);
      expect((await vt(['backup', 'restore', `k8s/pages/${made.file}`, '-o', 'pages.yaml', '-r', 'pages-repo'])).code).toBe(0);
      const names = [...readFileSync(join(dir, 'pages.yaml'), 'utf8').matchAll(/^ {2}name: (\S+)$/gm)].map((m) => m[1]);
      expect(names).toEqual([
        ...Array.from({ length: 120 }, (_, i) => `s${String(i).padStart(3, '0')}`),
        ...Array.from({ length: 60 }, (_, i) => `c${String(i).padStart(3, '0')}`),
        'one',
      ]);
    } finally {
      await srv.close();
    }
  });
});

describe('trust, verdicts and targets (what a hostile review found)', () => {
  // Another backup host: its own state folder (its own signing key), only the recipient.
  const elsewhere = (args: string[]) => vt(args, { env: { VAULT_TOOL_STATE_DIR: join(dir, 'other-host-state') } });
  let recipient: string;
  beforeAll(async () => {
    recipient = (await vt(['backup', 'key'])).stdout.trim();
  });
  /** A backup made on that host, for one test alone (another test's verification may re-sign its own). */
  const foreignBackup = async () => {
    const b = await elsewhere([
      'backup',
      'exec',
      '--name',
      'offsite',
      '-r',
      'trust-repo',
      '--recipient',
      recipient,
      '--json',
      '--',
      'echo',
      'from a host the vault does not know',
    ]);
    expect(b.code, b.stderr).toBe(0);
    return `exec/offsite/${lines(b)[1].file}`;
  };

  it('a manifest from an untrusted host is never re-signed by a verification, nor restored', async () => {
    const foreign = await foreignBackup();
    const m = join(dir, 'trust-repo', `${foreign}.manifest.json`);
    const before = readFileSync(m, 'utf8');
    for (let i = 0; i < 2; i++) {
      const r = await vt(['backup', 'verify', foreign, '-r', 'trust-repo', '--json']);
      expect(r.code).toBe(8);
      expect(JSON.parse(r.stdout)[0].message).toMatch(/signed by host key [0-9a-f]{16}, which the vault does not trust/);
    }
    expect(readFileSync(m, 'utf8')).toBe(before);
    const restore = await vt(['backup', 'restore', foreign, '-o', 'foreign.out', '-r', 'trust-repo']);
    expect(restore.code).toBe(4);
    expect(restore.stderr).toMatch(/which the vault does not trust: it is not restored/);
    expect(files('.').includes('foreign.out')).toBe(false);
  });

  it('once trusted it counts; its key ids are then held against a purge; untrusting it withdraws it', async () => {
    const foreign = await foreignBackup();
    const signer = (await elsewhere(['backup', 'key', 'signer'])).stdout.trim();
    expect((await vt(['backup', 'key', 'trust', signer, '--label', 'offsite-host'])).code).toBe(0);
    expect((await vt(['backup', 'verify', foreign, '-r', 'trust-repo'])).code).toBe(0);
    const purge = await vt(['rm', 'backup/identity', '--force', '--purge']);
    expect(purge.code).toBe(2);
    expect(purge.stderr).toMatch(/backups in [^;]*trust-repo[^;]* need key/);
    // Withdrawn: what that host writes from now on does not count (what this host verified, it re-signed and vouches for).
    expect((await vt(['backup', 'key', 'untrust', 'offsite-host'])).code).toBe(0);
    const later = await elsewhere(['backup', 'exec', '--name', 'offsite', '-r', 'trust-repo', '--recipient', recipient, '--json', '--', 'echo', 'later']);
    expect((await vt(['backup', 'verify', `exec/offsite/${lines(later)[1].file}`, '-r', 'trust-repo'])).code).toBe(8);
  });

  it('a verification from a host whose signing key the vault does not trust records nothing', async () => {
    const ref = (await vt(['backup', 'exec', '--name', 'mine', '-r', 'trust-repo', '--json', '--', 'echo', 'here'])).stdout;
    const file = `exec/mine/${JSON.parse(ref.trim().split('\n')[1]!).file}`;
    const m = join(dir, 'trust-repo', `${file}.manifest.json`);
    const before = readFileSync(m, 'utf8');
    const v = await vt(['verify', '-r', 'trust-repo', '--read-data', '--signing-key', 'stray-signing.key', '--json']);
    expect(JSON.parse(v.stdout).backups.find((b: { file: string }) => file.endsWith(b.file))).toMatchObject({ ok: true });
    expect(readFileSync(m, 'utf8')).toBe(before);
  });

  it('a check that cannot run here is no verdict: nothing recorded, and prune keeps the backups', async () => {
    const bin = join(dir, 'no-tar-bin');
    mkdirSync(bin, { recursive: true });
    const made = await vt(['backup', 'files', '.env', '-C', 'app', '--name', 'kept', '-r', 'inconclusive-repo', '--json']);
    expect(made.code, made.stderr).toBe(0);
    const file = `files/kept/${lines(made)[1].file}`;
    const r = await vt(['backup', 'verify', file, '-r', 'inconclusive-repo', '--json'], { env: { PATH: bin } });
    expect(r.code).toBe(20);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({
      verdict: 'inconclusive',
      ok: false,
      inconclusive: true,
      message: expect.stringMatching(/^could not be checked here: tar is not installed/),
    });
    const p = await vt(['backup', 'prune', '--keep-last', '1', '--confirm', '-r', 'inconclusive-repo', '--json']);
    expect(JSON.parse(p.stdout).decisions).toEqual([expect.objectContaining({ keep: true })]);
  });

  it('a restore refuses, before writing, files the archive would overwrite', async () => {
    const made = await vt(['backup', 'files', '.env', 'certs', '-C', 'app', '--name', 'clash', '-r', 'verdict-repo', '--json']);
    const ref = `files/clash/${lines(made)[1].file}`;
    mkdirSync(join(dir, 'clash-target'), { recursive: true });
    writeFileSync(join(dir, 'clash-target/.env'), 'mine\n');
    const r = await vt(['backup', 'restore', ref, '--to-dir', 'clash-target', '-r', 'verdict-repo']);
    expect(r.code).toBe(10);
    expect(r.stderr).toMatch(/1 file\(s\) in .*clash-target would be overwritten \(\.env\): nothing was restored/);
    expect(readdirSync(join(dir, 'clash-target'))).toEqual(['.env']);
  });

  it('a missing repository is an error, and a component the RPO file names but the repository lacks is missed', async () => {
    const st = await vt(['backup', 'status', '-r', 'no-such-repo']);
    expect(st.code).toBe(5);
    expect(st.stderr).toMatch(/there is no backup repository at .*no-such-repo/);
    expect((await vt(['verify', '-r', 'no-such-repo'])).code).toBe(8);
    writeFileSync(join(dir, 'rpo.yaml'), 'rpo:\n  default: 720h\n  postgres/app: 6h\n');
    expect((await vt(['backup', 'files', '.env', '-C', 'app', '--name', 'rpo', '-r', 'rpo-repo'])).code).toBe(0);
    const r = await vt(['backup', 'status', '-r', 'rpo-repo', '--rpo-file', 'rpo.yaml', '--json']);
    expect(r.code).toBe(8);
    expect(JSON.parse(r.stdout).find((s: { component: string }) => s.component === 'postgres/app')).toMatchObject({ rpoMissed: true });
  });
});
