import { existsSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { checkWritableTarget } from '../../fs/atomic.js';
import { makeDirs } from '../../fs/dirs.js';
import { checkOutput } from '../../fs/output.js';
import { createPendingFile } from '../../fs/pending.js';
import { runTool } from '../../tool/run.js';
import { integer, map, object } from '../../vault/shape.js';
import type { BackupKind, Component, DrillCheckSpec, Env, KindCheck, Restorer, RestoreRequest } from '../kind.js';
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

async function dump(o: RedisOptions, env: Env): Promise<Component> {
  const version = await versionOf('redis-cli', env);
  return {
    component: `redis/${o.name}`,
    kind: 'redis',
    producer: { kind: 'process', command: 'redis-cli', args: ['-h', o.host, '-p', o.port, '--no-auth-warning', '--rdb', '-'], env },
    tool: { name: 'redis-cli', version, args: ['--rdb', '-'] },
    source: { host: o.host, port: o.port, machine: hostname() },
  };
}

/** dump.rdb in a folder (made if need be), never over one that is there without `force`; written under a temp name, moved into place after the second pass. */
function intoFolder(req: RestoreRequest): Restorer {
  const dir = req.dir!;
  const force = Boolean(req.force);
  const out = join(dir, 'dump.rdb');
  return {
    where: dir,
    label: out,
    record: { force },
    guard: () => pathTarget('redis', dir),
    precheck: async () => {
      if (existsSync(dir)) checkWritableTarget(out, !force);
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

export const redis: BackupKind<RedisOptions> = {
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
};
