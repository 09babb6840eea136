import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { VaultError } from '../../errors/errors.js';
import { checkWritableTarget } from '../../fs/atomic.js';
import { makeDirs } from '../../fs/dirs.js';
import { checkOutput } from '../../fs/output.js';
import { createPendingFile } from '../../fs/pending.js';
import { externalTimeoutMs, timeoutText } from '../../tool/bound.js';
import { runTool, startTool, toolMessage } from '../../tool/run.js';
import { integer, map, object } from '../../vault/shape.js';
import type { BackupKind, Component, DrillCheckSpec, Env, KindCheck, Restorer, RestoreRequest } from '../kind.js';
import { defineKind } from './loaded.js';
import { pathTarget } from '../protect.js';
import { versionOf } from '../tool.js';

/**
 * `redis`: a fresh RDB snapshot streamed from the server by `redis-cli
 * --rdb -` (local or remote; REDISCLI_AUTH for a password), checked in
 * full by `redis-check-rdb`, restored as `dump.rdb` into a folder (the
 * server is stopped and started by the operator: docs/RUNBOOK.md), drilled
 * into a scratch folder where its keys can be counted.
 */
export interface RedisOptions {
  host: string;
  port: string;
  /** The component's name: redis/NAME. */
  name: string;
}

/**
 * The server answers, and lets this client in, before the dump starts: a
 * password it needs (NOAUTH) or refuses (WRONGPASS), and a server out of
 * reach, are said as such rather than as a failed dump.
 */
async function ping(o: RedisOptions, env: Env): Promise<void> {
  const ms = externalTimeoutMs(env);
  const where = `${o.host}:${o.port}`;
  const run = startTool('redis-cli', ['-h', o.host, '-p', o.port, '--no-auth-warning', 'ping'], {
    env,
    stdoutSays: true,
    bound: { ms },
    purpose: 'this backup',
  });
  const exit = await run.exited;
  const said = run.said();
  if (run.expired)
    throw new VaultError('backup-failed', `the Redis server at ${where} did not answer within ${timeoutText(ms)}: it is unreachable`, {
      code: 'external-timeout',
      data: { timeout: timeoutText(ms) },
    });
  if (exit.code === 0 && /^PONG$/m.test(said)) return;
  // A refused password first: redis-cli then also prints the NOAUTH of the command it sent anyway.
  const refused = said.split('\n').find((l) => /\bWRONGPASS\b|AUTH failed|invalid password/i.test(l));
  if (refused) throw new VaultError('backup-failed', `the Redis server at ${where} refused the password: ${refused.trim()}`, { code: 'redis-auth-refused' });
  if (/\bNOAUTH\b/.test(said)) throw new VaultError('backup-failed', `the Redis server at ${where} needs a password (NOAUTH)`, { code: 'redis-auth' });
  throw new VaultError('backup-failed', `cannot reach the Redis server at ${where}: ${toolMessage(said) || `redis-cli exit ${exit.code}`}`, {
    code: 'redis-unreachable',
  });
}

/**
 * A Redis host is a name or an address. A URI (`redis://:PASSWORD@host`) is
 * refused without being repeated: redis-cli would get it on its command
 * line (ps), the manifest would record it, and an error would print it.
 */
export function checkRedisHost(host: string): void {
  if (/^[A-Za-z0-9_.:%[\]-]+$/.test(host) && !host.includes('://')) return;
  throw new VaultError(
    'usage',
    host.includes('@') || host.includes('://')
      ? 'the Redis host is a URI (or holds user@): a password in it would be on the command line of redis-cli (ps), in the manifest and in messages'
      : `the Redis host ${JSON.stringify(host)} is not a host name or an address`,
    'give the host name or address alone; the password goes in the environment variable REDISCLI_AUTH',
  );
}

async function dump(o: RedisOptions, env: Env): Promise<Component> {
  checkRedisHost(o.host);
  const version = await versionOf('redis-cli', env);
  await ping(o, env);
  return {
    component: `redis/${o.name}`,
    kind: 'redis',
    producer: { kind: 'process', command: 'redis-cli', args: ['-h', o.host, '-p', o.port, '--no-auth-warning', '--rdb', '-'], env },
    tool: { name: 'redis-cli', version, args: ['--rdb', '-'] },
    source: { host: o.host, port: o.port, machine: hostname() },
    // The server forks and writes its snapshot (after repl-diskless-sync-delay, 5 s by default) before the first byte comes.
    waiting: 'waiting for Redis BGSAVE',
  };
}

/** Whether a process runs: a signal 0 reaches it (EPERM: it runs, as another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const comm = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
};

/**
 * The Redis server that works in `dir`, if one runs: a pid file there
 * naming a live redis-server, or (on Linux) a redis-server whose working
 * folder it is (Redis changes into its `dir` at start, and writes dump.rdb
 * there). Said as "pid N" and how it was found; null when none is seen.
 */
export function redisRunningIn(dir: string): string | null {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return null;
  }
  for (const f of readdirSync(real).filter((n) => n.endsWith('.pid'))) {
    const pid = Number(readFileSync(join(real, f), 'utf8').trim());
    if (!Number.isSafeInteger(pid) || pid <= 1 || !alive(pid)) continue;
    const name = comm(pid);
    if (name === undefined || name.startsWith('redis-server')) return `pid ${pid}, in its pid file ${f}`;
  }
  let procs: string[] = [];
  try {
    procs = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return null;
  }
  for (const p of procs) {
    if (!comm(Number(p))?.startsWith('redis-server')) continue;
    try {
      if (readlinkSync(`/proc/${p}/cwd`) === real) return `pid ${p}, working in that folder`;
    } catch {
      /* gone, or not ours to look at */
    }
  }
  return null;
}

/**
 * dump.rdb in a folder (made if need be), never over one that is there
 * without `force`, never into the folder of a running Redis server without
 * `allowRunning` (it writes dump.rdb over the restored one when it saves or
 * stops); written under a temp name, moved into place after the second pass.
 */
function intoFolder(req: RestoreRequest): Restorer {
  const dir = req.dir!;
  const force = Boolean(req.force);
  const out = join(dir, 'dump.rdb');
  return {
    where: dir,
    label: out,
    record: { force, ...(req.allowRunning ? { allowRunning: true } : {}) },
    guard: () => pathTarget('redis', dir),
    precheck: async () => {
      const running = req.allowRunning ? null : redisRunningIn(dir);
      if (running)
        throw new VaultError('usage', `a Redis server runs on ${dir} (${running}): it writes its own dump.rdb over the restored one when it saves or stops`, {
          code: 'restore-redis-running',
          data: { dir },
        });
      if (!existsSync(dir)) return;
      try {
        checkWritableTarget(out, !force);
      } catch (e) {
        if (e instanceof VaultError && e.kind === 'exists')
          throw new VaultError('exists', `${out} already exists`, { code: 'restore-rdb-exists', data: { dir } });
        throw e;
      }
    },
    async land() {
      const made = makeDirs(dir);
      const f = createPendingFile(out, { exclusive: !force, check: (p) => checkOutput(p, 'data', { force }) });
      return {
        staged: true,
        consumer: { kind: 'inline', label: out, consume: (r) => pipeline(r, f.stream) },
        commit: async () => {
          await f.commit();
        },
        abort: async () => {
          await f.abort();
          for (const d of [...made].reverse()) rmSync(d, { recursive: true, force: true });
        },
      };
    },
  };
}

/** `{ redisKeys: 5000, dir: scratch/redis }`: the restored dump.rdb holds exactly that many keys (redis-check-rdb counts them). */
const keysCheck: DrillCheckSpec = {
  key: 'redisKeys',
  kind: 'redis-keys',
  tools: [{ command: 'redis-check-rdb', pkg: 'redis-tools' }],
  shape: (dir) => map(object({ redisKeys: integer(0), dir }), (c): KindCheck => ({ kind: 'redis-keys', dir: c.dir, expect: c.redisKeys })),
  describe: (c) => `${c.dir}: ${c.expect as number} Redis keys`,
  async run(c, on) {
    const out = await runTool('redis-check-rdb', [join(on.at, 'dump.rdb')], { env: on.env, timeoutMs: on.timeoutMs });
    const n = Number(/(\d+) keys read/.exec(out)?.[1] ?? Number.NaN);
    if (n !== c.expect)
      throw new Error(`${join(on.at, 'dump.rdb')} holds ${Number.isNaN(n) ? 'an unreadable number of' : n} keys, expected ${c.expect as number}`);
    return `redis: ${n} keys`;
  },
};

export const redis: BackupKind<RedisOptions> = defineKind({
  name: 'redis',
  folder: 'redis',
  label: 'redis',
  ext: 'rdb',
  dump,
  shape: (head, size) =>
    size < 9 ? `its output was ${size} bytes` : head.subarray(0, 5).toString('latin1') !== 'REDIS' ? 'its output is not an RDB file (no REDIS header)' : null,
  verifier: (env) => ({ kind: 'process', command: 'redis-check-rdb', args: ['{input}'], env, label: 'redis-check-rdb', fifo: true }),
  restore: { needs: 'dir', note: 'dump.rdb is written there; stop Redis, replace its dump.rdb, start it: docs/RUNBOOK.md', target: intoFolder },
  drill: { scratch: 'folder', tools: [], checks: [keysCheck] },
});
