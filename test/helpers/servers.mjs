import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** Whether `name` runs; in CI a missing binary is a failure, not a skip. */
function haveBinary(name, versionArgs = ['--version']) {
  const ok = !spawnSync(name, versionArgs, { stdio: 'ignore' }).error;
  if (!ok && process.env.CI === 'true') throw new Error(`${name} is required in CI but is not installed (.ci/run installs it)`);
  return ok;
}

/** A port nobody listens on right now. */
export async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => res(port));
    });
  });
}

/** Whether a real PostgreSQL can run here (in CI a missing one is a failure, not a skip). */
export function havePostgres() {
  const r = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const ok = r.status === 0 && spawnSync(join(r.stdout.trim(), 'initdb'), ['--version']).status === 0;
  if (!ok && process.env.CI === 'true')
    throw new Error('PostgreSQL (initdb, pg_ctl from pg_config --bindir) is required in CI but is not installed (.ci/run installs it)');
  return ok;
}

export const haveRedis = () =>
  haveBinary('redis-server', ['--version']) && haveBinary('redis-cli', ['--version']) && haveBinary('redis-check-rdb', ['--version']);

/** Runs a PostgreSQL program as the `postgres` user when root (initdb and the server refuse root), else as this user. */
export function asPostgres(cmd, args, opts = {}) {
  return process.getuid?.() === 0
    ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe', ...opts })
    : execFileSync(cmd, args, { stdio: 'pipe', ...opts });
}

/** The uid and gid of the `postgres` user when root (what a server's files must belong to), else null. */
export function postgresOwner() {
  if (process.getuid?.() !== 0) return null;
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })),
  };
}

/** A folder the server's user can write (chowned to postgres when root). */
export function postgresFolder(path) {
  mkdirSync(path, { recursive: true });
  const o = postgresOwner();
  if (o) chownSync(path, o.uid, o.gid);
  return path;
}

/**
 * Starts a server on an existing data folder: a free port, its socket in
 * `socketDir`, its log beside the data folder. `wait: false` returns once
 * pg_ctl has launched it (a recovery may take a while, or stop it).
 */
export async function startPostgresOn(data, socketDir, opts = {}) {
  const bin = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  const port = await freePort();
  const log = `${data}.log`;
  postgresFolder(dirname(log));
  asPostgres(join(bin, 'pg_ctl'), [
    '-D',
    data,
    '-o',
    `-p ${port} -k ${socketDir} -c listen_addresses= -c fsync=off`,
    '-l',
    log,
    ...(opts.wait === false ? ['-W'] : ['-w']),
    '-t',
    '120',
    'start',
  ]);
  const env = { PGHOST: socketDir, PGPORT: String(port), PGUSER: 'postgres', PATH: process.env.PATH ?? '' };
  return {
    env,
    bin,
    port,
    data,
    log: () => {
      try {
        return readFileSync(log, 'utf8');
      } catch {
        return '';
      }
    },
    sql: (sql, db = 'postgres') => execFileSync('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql], { env, encoding: 'utf8' }).trim(),
    stop: () => {
      try {
        asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']);
      } catch {
        /* not running */
      }
    },
  };
}

/**
 * A throwaway PostgreSQL cluster: initdb and pg_ctl from `pg_config
 * --bindir`, a free port, a socket and data folder in a temp folder (run as
 * the `postgres` user when root, since initdb refuses root), trust auth.
 * `initdb` adds arguments (--wal-segsize 1); `conf` adds settings to
 * postgresql.conf before the start, so a base backup carries them.
 */
export async function startPostgres(opts = {}) {
  const bin = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'vt-pg-'));
  chmodSync(dir, 0o755);
  const owner = postgresOwner();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const port = await freePort();
  const data = join(dir, 'data');
  asPostgres(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', ...(opts.initdb ?? [])]);
  if (opts.conf) {
    const lines = Object.entries(opts.conf).map(([k, v]) => `${k} = '${String(v).replace(/'/g, "''")}'`);
    asPostgres('sh', ['-c', 'cat >> "$1"', 'sh', join(data, 'postgresql.conf')], { input: `${lines.join('\n')}\n` });
  }
  asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-o', `-p ${port} -k ${dir} -c listen_addresses= -c fsync=off`, '-l', join(dir, 'log'), '-w', 'start']);
  const env = { PGHOST: dir, PGPORT: String(port), PGUSER: 'postgres', PATH: process.env.PATH ?? '' };
  return {
    env,
    bin,
    dir,
    data,
    port,
    log: () => readFileSync(join(dir, 'log'), 'utf8'),
    sql: (sql, db = 'postgres') => execFileSync('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql], { env, encoding: 'utf8' }).trim(),
    stop: () => {
      try {
        asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A Redis on a free port with its folder in a temp folder (no persistence of its own). */
export async function startRedis(dir) {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'vt-redis-'));
  mkdirSync(d, { recursive: true });
  const port = await freePort();
  execFileSync('redis-server', [
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
  ]);
  const cli = (...args) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
  for (let i = 0; i < 100; i++) {
    try {
      if (cli('ping') === 'PONG') break;
    } catch {
      /* starting */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    dir: d,
    cli,
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
