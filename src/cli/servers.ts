import { execFileSync, spawnSync, type ExecFileSyncOptions } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { envForProcess } from '../tool/user-env.js';
import { asUser, freePort, serverUserFor, startArgs, stopArgs } from '../tool/postgres.js';

export { freePort };

/**
 * Throwaway PostgreSQL and Redis servers, on free ports, in a folder of
 * their own, with no persistence of their own: for the demo (which goes on
 * without one that cannot run here, saying why), and for the tests and
 * benchmarks (`test/helpers/servers.mjs` and `bench/` load this file as
 * built, `dist/servers.js`). The one implementation of both: a server
 * on a data directory is started, stopped and run as its user with the
 * library's functions (`tool/postgres.ts`), as the drill's point-in-time
 * restore does.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const runs = (cmd: string) => !spawnSync(cmd, ['--version'], { stdio: 'ignore' }).error;

/** The uid and gid of the `postgres` user when root (what a server's files must belong to), else null. */
export function postgresOwner(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })),
  };
}

/** Runs a PostgreSQL program as the `postgres` user when root (initdb and the server refuse root), else as this user. */
export function asPostgres(cmd: string, args: string[], opts: ExecFileSyncOptions = {}): Buffer | string {
  const [c, a] = asUser(serverUserFor(process.getuid?.()), cmd, args);
  return execFileSync(c, a, { stdio: 'pipe', ...opts });
}

/** Why a throwaway PostgreSQL cannot run here (a tool missing), or null. */
export function postgresMissing(): string | null {
  const cfg = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (cfg.error || cfg.status !== 0) return 'pg_config is not installed (Debian: apt-get install postgresql)';
  const bin = cfg.stdout.trim();
  if (spawnSync(join(bin, 'initdb'), ['--version'], { stdio: 'ignore' }).status !== 0) return `no initdb in ${bin} (Debian: apt-get install postgresql)`;
  for (const b of ['pg_dump', 'pg_restore', 'psql']) if (!runs(b)) return `${b} is not installed (Debian: apt-get install postgresql-client)`;
  return null;
}

export interface Postgres {
  /** libpq's environment to reach it (PGHOST, PGPORT, PGUSER). */
  env: Record<string, string>;
  /** The folder of its programs (pg_config --bindir). */
  bin: string;
  /** Its folder (its socket is there), and its data folder inside. */
  dir: string;
  data: string;
  port: number;
  /** Its log so far. */
  log(): string;
  /** One statement through psql; its output, trimmed. */
  sql(sql: string, db?: string): string;
  /** Stops it at once; its folder goes too when it made the folder itself. */
  stop(): void;
}

/**
 * A throwaway PostgreSQL cluster: initdb and pg_ctl from `pg_config
 * --bindir`, a free port, its socket and data folder in `dir` (a new temp
 * folder when not given), trust authentication; as the `postgres` user when
 * root, since initdb refuses root. `initdb` adds arguments; `conf` adds
 * settings to postgresql.conf before the start; `env` is the server's
 * environment (default: this process's).
 */
export async function startPostgres(
  o: { dir?: string; initdb?: string[]; conf?: Record<string, string | number>; env?: NodeJS.ProcessEnv } = {},
): Promise<Postgres> {
  const bin = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  const own = o.dir === undefined;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'vt-pg-'));
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const owner = postgresOwner();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const port = await freePort();
  const data = join(dir, 'data');
  asPostgres(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', ...(o.initdb ?? [])]);
  if (o.conf) {
    const lines = Object.entries(o.conf).map(([k, v]) => `${k} = '${String(v).replace(/'/g, "''")}'`);
    asPostgres('sh', ['-c', 'cat >> "$1"', 'sh', join(data, 'postgresql.conf')], { input: `${lines.join('\n')}\n` });
  }
  // The server's environment (its archive_command's too): `env`, else this process's.
  asPostgres(join(bin, 'pg_ctl'), startArgs({ data, port, socketDir: dir, log: join(dir, 'log'), settings: { fsync: 'off' }, waitSeconds: 60 }), {
    ...(o.env ? { env: o.env } : {}),
  });
  return {
    ...serverHandle({ bin, data, port, socketDir: dir, log: join(dir, 'log') }, () => {
      if (own) rmSync(dir, { recursive: true, force: true });
    }),
    dir,
  };
}

/** A running server's handle: its libpq environment, its log, psql into it, and a stop that also runs `after`. */
function serverHandle(
  s: { bin: string; data: string; port: number; socketDir: string; log: string },
  after: () => void = () => undefined,
): Omit<Postgres, 'dir'> {
  const env = { PGHOST: s.socketDir, PGPORT: String(s.port), PGUSER: 'postgres' };
  return {
    env,
    bin: s.bin,
    data: s.data,
    port: s.port,
    log: () => {
      try {
        return readFileSync(s.log, 'utf8');
      } catch {
        return '';
      }
    },
    sql: (sql, db = 'postgres') =>
      execFileSync('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim(),
    stop: () => {
      try {
        asPostgres(join(s.bin, 'pg_ctl'), stopArgs(s.data));
      } catch {
        /* not running, or already gone */
      } finally {
        after();
      }
    },
  };
}

/** A folder the server's user can write (chowned to postgres when root). */
export function postgresFolder(path: string): string {
  mkdirSync(path, { recursive: true });
  const o = postgresOwner();
  if (o) chownSync(path, o.uid, o.gid);
  return path;
}

/** A server started on an existing data folder (a restored one), as `startPostgres` starts its own. */
export interface PostgresOn extends Omit<Postgres, 'dir'> {}

/**
 * Starts a server on an existing data folder: a free port, its socket in
 * `socketDir`, its log beside the data folder. `wait: false` returns once
 * pg_ctl has launched it (a recovery may take a while, or stop it).
 */
export async function startPostgresOn(data: string, socketDir: string, opts: { wait?: boolean } = {}): Promise<PostgresOn> {
  const bin = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  const port = await freePort();
  const log = `${data}.log`;
  postgresFolder(dirname(log));
  asPostgres(join(bin, 'pg_ctl'), startArgs({ data, port, socketDir, log, settings: { fsync: 'off' }, ...(opts.wait === false ? {} : { waitSeconds: 120 }) }));
  return serverHandle({ bin, data, port, socketDir, log });
}

/** Why a throwaway Redis cannot run here (a tool missing), or null. */
export function redisMissing(): string | null {
  for (const b of ['redis-server', 'redis-cli', 'redis-check-rdb'])
    if (!runs(b)) return `${b} is not installed (Debian: apt-get install redis-server redis-tools)`;
  return null;
}

export interface Redis {
  port: number;
  dir: string;
  /** redis-cli against it; its output, trimmed. */
  cli(...args: string[]): string;
  /** Sets `n` keys (session:1…). */
  fill(n: number): void;
  /** Stops it without saving; its folder goes too when it made the folder itself. */
  stop(): void;
}

/** A Redis on a free port, its folder `dir` (a new temp folder when not given), no persistence of its own. */
export async function startRedis(dir?: string): Promise<Redis> {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'vt-redis-'));
  mkdirSync(d, { recursive: true });
  const port = await freePort();
  execFileSync(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      d,
      '--save',
      '',
      '--appendonly',
      'no',
      '--repl-diskless-sync-delay',
      '0',
      '--daemonize',
      'yes',
      '--logfile',
      join(d, 'redis.log'),
      '--pidfile',
      join(d, 'redis.pid'),
    ],
    { stdio: 'ignore' },
  );
  const cli = (...args: string[]) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
  for (let i = 0; i < 100; i++) {
    try {
      if (cli('ping') === 'PONG') break;
    } catch {
      /* starting */
    }
    await sleep(50);
  }
  return {
    port,
    dir: d,
    cli,
    fill: (n) => void cli('eval', `for i=1,${n} do redis.call('set', 'session:'..i, 'v'..i) end`, '0'),
    stop: () => {
      try {
        cli('shutdown', 'nosave');
      } catch {
        /* already gone */
      }
      if (!dir) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** The demo's Redis, or why it cannot run here. */
export async function startDemoRedis(dir: string): Promise<Redis | string> {
  const missing = redisMissing();
  if (missing) return missing;
  try {
    return await startRedis(dir);
  } catch (e) {
    return `redis-server did not start: ${(e as Error).message}`;
  }
}

/** The demo's PostgreSQL, or why it cannot run here. */
export async function startDemoPostgres(dir: string): Promise<Postgres | string> {
  const missing = postgresMissing();
  if (missing) return missing;
  try {
    postgresOwner();
  } catch {
    return 'running as root, and there is no postgres user to run the server as';
  }
  try {
    // The server (postgres, through runuser, when root) gets PATH, the locale and TZ: nothing else of the caller's environment.
    return await startPostgres({ dir, env: envForProcess(process.env) });
  } catch (e) {
    return `the server did not start: ${
      String((e as { stderr?: Buffer }).stderr ?? (e as Error).message)
        .trim()
        .split('\n')
        .slice(-1)[0]
    }`;
  }
}
