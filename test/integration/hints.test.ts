import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, haveBinary, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { freePort, havePostgres, haveRedis, startPostgres, startRedis, type Postgres, type Redis } from '../helpers/servers.mjs';

/**
 * Errors an operator meets on an ordinary day, each with the exit code of
 * its condition and a hint that names the fix (the flag, the variable, the
 * command), against real servers.
 */
let dir: string;
let cleanup: () => void;
let pg: Postgres | undefined;
let redis: Redis | undefined;
const HAVE_PG = havePostgres();
const HAVE_REDIS = haveRedis();
const HAVE_OPENSSL = haveBinary('openssl', ['version']);

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  cli(dir, args, { ...opts, env: { ...(pg?.env ?? {}), VAULT_TOOL_BACKUP_REPO: join(dir, 'repo'), ...opts.env } });
const lines = (r: CliResult) => r.stderr.trim().split('\n');
const hint = (r: CliResult) => lines(r).find((l) => l.startsWith('vault-tool: hint: ')) ?? '';
const error = (r: CliResult) => lines(r).find((l) => l.startsWith('vault-tool: error: ')) ?? '';
const ref = (r: CliResult) => {
  const m = JSON.parse(r.stdout.trim().split('\n')[1]!) as { component: string; file: string };
  return `${m.component}/${m.file}`;
};

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-hints-'));
  if (HAVE_PG) pg = await startPostgres();
  if (HAVE_REDIS) redis = await startRedis();
  expect((await vt(['init'])).code).toBe(0);
}, 60_000);
afterAll(() => {
  pg?.stop();
  redis?.stop();
  cleanup();
});

describe.skipIf(!HAVE_PG)('PostgreSQL restores name --force and --create', () => {
  let app: string;
  let owned: string;
  beforeAll(async () => {
    pg!.sql('create database app');
    pg!.sql('create table items (id int); insert into items select generate_series(1, 100)', 'app');
    const b = await vt(['backup', 'postgres', '--dbname', 'app', '--json']);
    expect(b.code, b.stderr).toBe(0);
    app = ref(b);
    // A database whose tables belong to a role a new server lacks until the globals are restored.
    pg!.sql('create role app_owner');
    pg!.sql('create database owned');
    pg!.sql('create table t (id int); alter table t owner to app_owner', 'owned');
    const o = await vt(['backup', 'postgres', '--dbname', 'owned', '--json']);
    expect(o.code, o.stderr).toBe(0);
    owned = ref(o);
  }, 60_000);

  it('into a database that holds tables: exit 10, naming --force (and --create for a new one)', async () => {
    const r = await vt(['backup', 'restore', app, '--dbname', 'app']);
    expect(r.code).toBe(10);
    expect(error(r)).toBe('vault-tool: error: database app holds 1 table(s): restoring replaces them');
    expect(hint(r)).toMatch(/add --force .*--dbname NEW --create/);
  });

  it('into a database that does not exist: exit 5 (not found, never "verification failed"), naming --create, before anything is read', async () => {
    const r = await vt(['backup', 'restore', app, '--dbname', 'nosuch']);
    expect(r.code).toBe(5);
    expect(lines(r)).toEqual([
      `vault-tool: error: database nosuch does not exist on the PostgreSQL server ${pg!.env.PGHOST}:${pg!.env.PGPORT}`,
      'vault-tool: hint: add --create to create it first, or create it yourself (createdb nosuch)',
    ]);
    // --create creates it only when it is missing: one that exists is checked as without it.
    const c = await vt(['backup', 'restore', app, '--dbname', 'app', '--create']);
    expect(c.code).toBe(10);
    expect(hint(c)).toMatch(/add --force/);
    const ok = await vt(['backup', 'restore', app, '--dbname', 'nosuch', '--create']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(pg!.sql('select count(*) from items', 'nosuch')).toBe('100');
  });

  it('a role the dump names and the server lacks: a failed restore (exit 1), naming the globals and --no-owner', async () => {
    pg!.sql('alter table t owner to postgres', 'owned');
    pg!.sql('drop role app_owner');
    const r = await vt(['backup', 'restore', owned, '--dbname', 'owned2', '--create']);
    expect(r.code).toBe(1);
    expect(error(r)).toMatch(/^vault-tool: error: the dump names role app_owner, which this server lacks \(pg_restore into owned2 failed/);
    expect(hint(r)).toMatch(/postgres\/globals.*--no-owner/);
    // The database it created for the restore is gone again.
    expect(pg!.sql("select count(*) from pg_database where datname = 'owned2'")).toBe('0');
  });

  it("a server out of reach keeps libpq's host, port and reason (never a line starting with a tab); a missing database is not found", async () => {
    const port = await freePort();
    const r = await vt(['backup', 'postgres', '--dbname', 'app'], { env: { PGHOST: '127.0.0.1', PGPORT: String(port) } });
    expect(r.code).toBe(19);
    expect(error(r)).toBe(
      `vault-tool: error: cannot reach the PostgreSQL server: connection to server at "127.0.0.1", port ${port} failed: Connection refused (Is the server running on that host and accepting TCP/IP connections?)`,
    );
    expect(hint(r)).toMatch(/PGHOST and PGPORT/);
    expect(r.stderr).not.toMatch(/^\t|\n\t/);
    const missing = await vt(['backup', 'postgres', '--dbname', 'no_such_db']);
    expect(missing.code).toBe(5);
    expect(error(missing)).toBe(`vault-tool: error: database no_such_db does not exist on the PostgreSQL server ${pg!.env.PGHOST}:${pg!.env.PGPORT}`);
    expect(hint(missing)).toMatch(/--dbname .*psql -l/);
    const login = await vt(['backup', 'postgres', '--dbname', 'app'], { env: { PGUSER: 'nobody' } });
    expect(login.code).toBe(19);
    expect(error(login)).toMatch(/refused the login: role "nobody" does not exist$/);
    expect(hint(login)).toMatch(/PGUSER and the password/);
  });
});

describe.skipIf(!HAVE_REDIS)('Redis names REDISCLI_AUTH, --force and stopping the server', () => {
  it('a server that needs a password: exit 19 before any dump, naming REDISCLI_AUTH; a refused one says so', async () => {
    redis!.cli('config', 'set', 'requirepass', 'redis-secret-1');
    try {
      const r = await vt(['backup', 'redis', '-p', String(redis!.port)]);
      expect(r.code).toBe(19);
      expect(error(r)).toBe(`vault-tool: error: the Redis server at 127.0.0.1:${redis!.port} needs a password (NOAUTH)`);
      expect(hint(r)).toMatch(/REDISCLI_AUTH/);
      const wrong = await vt(['backup', 'redis', '-p', String(redis!.port)], { env: { REDISCLI_AUTH: 'not-it' } });
      expect(wrong.code).toBe(19);
      expect(error(wrong)).toMatch(/refused the password: AUTH failed: WRONGPASS/);
      expect(hint(wrong)).toMatch(/REDISCLI_AUTH holds a password this server refuses/);
      const good = await vt(['backup', 'redis', '-p', String(redis!.port)], { env: { REDISCLI_AUTH: 'redis-secret-1' } });
      expect(good.code, good.stderr).toBe(0);
    } finally {
      execFileSync('redis-cli', ['-p', String(redis!.port), '--no-auth-warning', 'config', 'set', 'requirepass', ''], {
        env: { ...process.env, REDISCLI_AUTH: 'redis-secret-1' },
      });
    }
    const down = await vt(['backup', 'redis', '-p', String(await freePort())]);
    expect(down.code).toBe(19);
    expect(error(down)).toMatch(/cannot reach the Redis server at 127\.0\.0\.1:\d+: Could not connect to Redis/);
  });

  it('onto an existing dump.rdb: exit 10 naming --force and stopping Redis; into the folder of a running server: refused even with --force, unless --allow-running', async () => {
    redis!.cli('set', 'k', 'v');
    const b = await vt(['backup', 'redis', '-p', String(redis!.port), '--json']);
    expect(b.code, b.stderr).toBe(0);
    const rdb = ref(b);
    mkdirSync(join(dir, 'cache'));
    writeFileSync(join(dir, 'cache/dump.rdb'), 'old');
    const r = await vt(['backup', 'restore', rdb, '--to-dir', 'cache']);
    expect(r.code).toBe(10);
    expect(error(r)).toBe(`vault-tool: error: ${join(dir, 'cache/dump.rdb')} already exists`);
    expect(hint(r)).toMatch(/stop Redis first.*--force/);
    // The test's server works in its own folder (it changed into it, and its pid file is there).
    for (const extra of [[], ['--force']]) {
      const running = await vt(['backup', 'restore', rdb, '--to-dir', redis!.dir, ...extra]);
      expect(running.code).toBe(2);
      expect(error(running)).toMatch(new RegExp(`a Redis server runs on ${redis!.dir} \\(pid \\d+`));
      expect(hint(running)).toMatch(/stop it first.*--allow-running/);
    }
    // Without its pid file it is still seen (its working folder), on Linux.
    renameSync(join(redis!.dir, 'redis.pid'), join(redis!.dir, 'redis.pid.aside'));
    try {
      const cwd = await vt(['backup', 'restore', rdb, '--to-dir', redis!.dir, '--force']);
      expect(cwd.code).toBe(2);
      expect(error(cwd)).toMatch(/\(pid \d+, working in that folder\)/);
    } finally {
      renameSync(join(redis!.dir, 'redis.pid.aside'), join(redis!.dir, 'redis.pid'));
    }
    const told = await vt(['backup', 'restore', rdb, '--to-dir', redis!.dir, '--force', '--allow-running']);
    expect(told.code, told.stderr).toBe(0);
    expect(readFileSync(join(redis!.dir, 'dump.rdb')).subarray(0, 5).toString()).toBe('REDIS');
  });
});

describe('vault commands name the command that fixes it', () => {
  it.skipIf(!HAVE_OPENSSL)('rotate on a TLS entry names add NAME --update --from-file', async () => {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem'].concat([
        '-subj',
        '/CN=web',
        '-days',
        '2',
      ]),
      {
        cwd: dir,
        stdio: 'ignore',
      },
    );
    writeFileSync(join(dir, 'tls.pem'), readFileSync(join(dir, 'c.pem'), 'utf8') + readFileSync(join(dir, 'k.pem'), 'utf8'));
    expect((await vt(['add', 'web/tls', '-t', 'tls', '--from-file', 'tls.pem'])).code).toBe(0);
    const r = await vt(['rotate', 'web/tls']);
    expect(r.code).toBe(2);
    expect(error(r)).toMatch(/web\/tls is a tls entry: its values cannot be generated/);
    expect(hint(r)).toBe(
      'vault-tool: hint: import the new value as its next version: `vault-tool add web/tls --update --from-file FILE` (the new certificate chain and its private key, PEM)',
    );
  });

  it('a missing vault.key names escrow combine; with no vault either, init', async () => {
    renameSync(join(dir, 'vault.key'), join(dir, 'vault.key.aside'));
    try {
      const r = await vt(['list']);
      expect(r.code).toBe(5);
      expect(hint(r)).toBe(
        `vault-tool: hint: check --key-file (or VAULT_TOOL_KEY_FILE); a lost key is rebuilt from the custodians' shares: \`vault-tool escrow combine -o ${join(dir, 'vault.key')} SHARE…\``,
      );
    } finally {
      renameSync(join(dir, 'vault.key.aside'), join(dir, 'vault.key'));
    }
    const none = await vt(['list', '--vault-file', 'nothing.vault', '--key-file', 'nothing.key']);
    expect(none.code).toBe(5);
    expect(hint(none)).toMatch(/no vault here either: `vault-tool init` makes one/);
  });

  it('an output that exists names --force; where the command has none, a new file', async () => {
    writeFileSync(join(dir, 'taken.txt'), 'mine\n');
    expect((await vt(['add', 'app/pw', '-t', 'password', '--generate'])).code).toBe(0);
    const r = await vt(['get', 'app/pw', '--out', 'taken.txt']);
    expect(r.code).toBe(10);
    expect(hint(r)).toBe('vault-tool: hint: add --force to replace it, or choose another file');
    const id = await vt(['backup', 'key', 'export-identity', '-o', 'taken.txt']);
    expect(id.code).toBe(10);
    expect(hint(id)).toMatch(/a file that does not exist yet/);
  });
});
