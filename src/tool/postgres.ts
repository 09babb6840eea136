import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { runTool } from './run.js';
import { type Account, accountOf } from './user-env.js';

type Env = Record<string, string | undefined>;

/**
 * A throwaway PostgreSQL server on a data directory: where its programs
 * are (`pg_config --bindir`), which user it runs as (the server refuses
 * root: `postgres` when this process is root, through runuser), a free
 * port, pg_ctl's arguments to start it with its socket in a folder of its
 * own and no TCP listener, and to stop it at once; and whether one runs on
 * a data directory (its postmaster.pid). The drill's point-in-time restore
 * runs one; the demo, the tests and the benchmarks build theirs on the
 * same functions (`cli/servers.ts`).
 */
export const SERVER_USER = 'postgres';

/** The user a server must run as: `postgres` when this process is root, else null (this process's own user). */
export const serverUserFor = (uid: number | undefined): string | null => (uid === 0 ? SERVER_USER : null);

/** A command as `user` (runuser, for root), or as this process. */
export function asUser(user: string | null, cmd: string, args: string[]): [string, string[]] {
  return user ? ['runuser', ['-u', user, '--', cmd, ...args]] : [cmd, args];
}

/** The ids a process started as a user has: its uid, its primary group, and every group it is in (runuser sets them all). */
export interface UserIds {
  uid: number;
  gid: number;
  /** The primary group and the supplementary ones (`id -G`). */
  groups: number[];
}

/** A user's ids, from the passwd database (getent, bounded in time) and its groups (`id -G`). */
export async function userIds(user: string, env: Env, timeoutMs: number): Promise<UserIds> {
  let a: Account;
  try {
    a = await accountOf(user, env);
  } catch {
    throw new VaultError('not-found', `there is no user ${user} on this host to run the PostgreSQL server as (the server refuses root)`);
  }
  const listed = (await runTool('id', ['-G', '--', user], { env, timeoutMs })).trim().split(/\s+/).filter(Boolean).map(Number);
  return { uid: a.uid, gid: a.gid, groups: [...new Set([a.gid, ...listed])] };
}

/** The folder of PostgreSQL's server programs. */
export async function pgBindir(env: Env, timeoutMs: number): Promise<string> {
  return (await runTool('pg_config', ['--bindir'], { env, timeoutMs, label: 'pg_config' })).trim();
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** A word for the shell pg_ctl starts the server through. */
const shq = (s: string) => (/^[A-Za-z0-9_/.,:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export interface StartOptions {
  data: string;
  port: number;
  /** Its socket's folder (the server listens on no TCP address). */
  socketDir: string;
  /** Its log (pg_ctl -l). */
  log: string;
  /** Settings on its command line, over every configuration file (`-c name=value`). */
  settings?: Record<string, string>;
  /** Wait until it accepts connections (pg_ctl -w), at most this long; absent: return once it is launched. */
  waitSeconds?: number;
}

/** pg_ctl's arguments to start a server (run from the server's bin folder, as its user). */
export function startArgs(o: StartOptions): string[] {
  const opts = [
    `-p ${o.port}`,
    `-k ${shq(o.socketDir)}`,
    '-c listen_addresses=',
    ...Object.entries(o.settings ?? {}).map(([k, v]) => `-c ${shq(`${k}=${v}`)}`),
  ].join(' ');
  return [
    '-D',
    o.data,
    '-o',
    opts,
    '-l',
    o.log,
    ...(o.waitSeconds !== undefined ? ['-w', '-t', String(Math.max(1, Math.ceil(o.waitSeconds)))] : ['-W']),
    'start',
  ];
}

/** pg_ctl's arguments to stop a server at once (an immediate shutdown: nothing of it is kept). */
export const stopArgs = (data: string): string[] => ['-D', data, '-m', 'immediate', '-w', 'stop'];

/** libpq's environment to reach a server started by startArgs. */
export const serverEnv = (socketDir: string, port: number, user: string): Record<string, string> => ({
  PGHOST: socketDir,
  PGPORT: String(port),
  PGUSER: user,
});

/**
 * Whether process `pid` works in `data`: a postmaster runs in its data
 * directory. Undefined when this host cannot tell (no /proc, another
 * user's process).
 */
function worksIn(pid: number, data: string): boolean | undefined {
  let cwd: string;
  try {
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ESRCH' ? false : undefined;
  }
  try {
    return realpathSync(cwd) === realpathSync(data);
  } catch {
    return false;
  }
}

/**
 * The server running on a data directory: its postmaster's pid, from
 * postmaster.pid when it names that directory and the process lives there.
 * A server killed outright leaves its postmaster.pid behind, and its pid
 * may since belong to another process: that one is not the server, and is
 * never signalled as it (pg_ctl would signal it too).
 */
export function runningOn(data: string): number | null {
  let text: string;
  try {
    text = readFileSync(join(data, 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const [pid, dir] = text.split('\n');
  const n = Number(pid);
  if (!Number.isSafeInteger(n) || n <= 0 || dir !== data) return null;
  try {
    process.kill(n, 0);
  } catch (e) {
    // Alive but another user's (EPERM): it still runs.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return null;
  }
  return worksIn(n, data) === false ? null : n;
}

/**
 * What the server on a data directory says of itself in postmaster.pid:
 * `starting`, `standby` (in recovery, not accepting connections: pg_ctl -w
 * returns here when hot_standby is off), `ready` (accepting connections:
 * recovery ended) or `stopping`; null when none runs on it.
 */
export function serverState(data: string): 'starting' | 'standby' | 'ready' | 'stopping' | null {
  if (runningOn(data) === null) return null;
  let status = '';
  try {
    status = (readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[7] ?? '').trim();
  } catch {
    return null;
  }
  return status === 'ready' || status === 'standby' || status === 'stopping' ? status : 'starting';
}
