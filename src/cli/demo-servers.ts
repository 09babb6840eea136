import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/**
 * Throwaway Redis and PostgreSQL servers for the demo, in its temporary
 * folder, on free ports, with no persistence of their own; or the reason
 * they cannot run here (said plainly, and the demo goes on without them).
 */
async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface DemoRedis {
  port: number;
  fill(keys: number): void;
  stop(): void;
}

export async function startDemoRedis(dir: string): Promise<DemoRedis | string> {
  for (const b of ['redis-server', 'redis-cli', 'redis-check-rdb'])
    if (spawnSync(b, ['--version'], { stdio: 'ignore' }).error) return `${b} is not installed (Debian: apt-get install redis-server redis-tools)`;
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  try {
    execFileSync(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--repl-diskless-sync-delay',
        '0',
        '--daemonize',
        'yes',
        '--logfile',
        join(dir, 'redis.log'),
      ],
      { stdio: 'ignore' },
    );
  } catch (e) {
    return `redis-server did not start: ${(e as Error).message}`;
  }
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
    fill: (n) => void cli('eval', `for i=1,${n} do redis.call('set', 'session:'..i, 'v'..i) end`, '0'),
    stop: () => {
      try {
        cli('shutdown', 'nosave');
      } catch {
        /* already gone */
      }
    },
  };
}

export interface DemoPostgres {
  env: Record<string, string>;
  sql(sql: string, db?: string): string;
  stop(): void;
}

/** initdb and pg_ctl from `pg_config --bindir`; as the postgres user when run as root (initdb refuses root). */
export async function startDemoPostgres(dir: string): Promise<DemoPostgres | string> {
  const cfg = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (cfg.error || cfg.status !== 0) return 'pg_config is not installed (Debian: apt-get install postgresql)';
  const bin = cfg.stdout.trim();
  if (spawnSync(join(bin, 'initdb'), ['--version'], { stdio: 'ignore' }).status !== 0) return `no initdb in ${bin} (Debian: apt-get install postgresql)`;
  for (const b of ['pg_dump', 'pg_restore', 'psql'])
    if (spawnSync(b, ['--version'], { stdio: 'ignore' }).error) return `${b} is not installed (Debian: apt-get install postgresql-client)`;
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const root = process.getuid?.() === 0;
  try {
    if (root) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
      chownSync(dir, uid, gid);
    }
  } catch {
    return 'running as root, and there is no postgres user to run the server as';
  }
  const as = (cmd: string, args: string[]) => execFileSync(root ? 'runuser' : cmd, root ? ['-u', 'postgres', '--', cmd, ...args] : args, { stdio: 'pipe' });
  const port = await freePort();
  try {
    as(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    as(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-o', `-p ${port} -k ${dir} -c listen_addresses= -c fsync=off`, '-l', join(dir, 'log'), '-w', 'start']);
  } catch (e) {
    return `the server did not start: ${
      String((e as { stderr?: Buffer }).stderr ?? (e as Error).message)
        .trim()
        .split('\n')
        .slice(-1)[0]
    }`;
  }
  const env = { PGHOST: dir, PGPORT: String(port), PGUSER: 'postgres' };
  return {
    env,
    sql: (sql, db = 'postgres') =>
      execFileSync('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim(),
    stop: () => {
      try {
        as(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-m', 'immediate', 'stop']);
      } catch {
        /* already gone */
      }
    },
  };
}
