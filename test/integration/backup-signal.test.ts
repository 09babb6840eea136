import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipUnless } from '../helpers/require.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X25519Identity } from '../../src/age/x25519.js';
import { BIN, tempDir } from '../helpers/cli.js';
import { havePostgres, startPostgres, type Postgres } from '../helpers/servers.mjs';

/**
 * vault-tool stopped by SIGTERM (or a SIGINT sent to it alone, not to the
 * terminal's group) while a backup's dump runs: the dump and its checker run
 * in vault-tool's own process group, so nothing but vault-tool stops them.
 * They go with it — none is left running (a pg_dump waiting for a lock would
 * hold its connection and its snapshot for as long as the lock is held) —
 * and no backup is written.
 */
let dir: string;
let cleanup: () => void;
const recipient = X25519Identity.generate().identity.recipient;
const HAVE_PG = havePostgres();
let pg: Postgres | undefined;

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-backup-signal-'));
  if (HAVE_PG) {
    pg = await startPostgres();
    pg.sql('create database shop');
    pg.sql('create table t (a int)', 'shop');
  }
}, 60_000);
afterAll(() => {
  pg?.stop();
  cleanup();
});

/** The processes whose parent is `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Whether a process runs (a zombie waiting for its parent to reap it has stopped). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts vault-tool, waits until it has started `expect` children (its dump, its checker), stops it with `signal`; its exit and the children it had. */
async function stopWhileDumping(args: string[], env: Record<string, string | undefined>, signal: NodeJS.Signals, want: number) {
  const p = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { ...env, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  p.stderr!.on('data', (c) => {
    stderr += c;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => p.on('close', (code, s) => res({ code, signal: s })));
  let kids: number[] = [];
  for (let i = 0; i < 300 && kids.length < want; i++) {
    await sleep(50);
    kids = childrenOf(p.pid!);
  }
  expect(kids.length).toBeGreaterThanOrEqual(want);
  await sleep(200);
  kids = childrenOf(p.pid!);
  p.kill(signal);
  const r = await exit;
  // What it started is stopped with it (SIGKILL is sent at its exit: no wait).
  for (let i = 0; i < 40 && kids.some(running); i++) await sleep(50);
  return { ...r, stderr, left: kids.filter(running) };
}

const stopAll = (p: ChildProcess) => p.kill('SIGKILL');

describe('a backup stopped by a signal leaves nothing of its own running', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('backup exec: %s stops the command it runs', async (signal) => {
    const repo = join(dir, `repo-exec-${signal}`);
    const r = await stopWhileDumping(
      ['backup', 'exec', '--name', 'slow', '--recipient', recipient, '-r', repo, '--', 'sleep', '120'],
      { PATH: process.env.PATH },
      signal,
      1,
    );
    expect(r.code).toBe(130);
    expect(r.left).toEqual([]);
    expect(existsSync(repo) ? readdirSync(repo, { recursive: true }).filter((f) => String(f).endsWith('.manifest.json')) : []).toEqual([]);
  });

  it.skipIf(!HAVE_PG && process.env.CI !== 'true')(
    'backup postgres: SIGTERM stops pg_dump waiting for a lock, and its checker',
    async (ctx) => {
      skipUnless(ctx, pg !== undefined, 'no PostgreSQL server here');
      const db = pg!;
      // A lock pg_dump waits for: the dump (started before the vault is opened) and its checker are running when vault-tool is stopped.
      const holder = spawn('psql', ['-qX', '-d', 'shop', '-c', 'begin; lock table t in access exclusive mode; select pg_sleep(120);'], {
        env: db.env,
        stdio: 'ignore',
      });
      try {
        await sleep(500);
        const repo = join(dir, 'repo-pg');
        const r = await stopWhileDumping(['backup', 'postgres', '--dbname', 'shop', '--recipient', recipient, '-r', repo], db.env, 'SIGTERM', 2);
        expect(r.code).toBe(130);
        expect(r.left).toEqual([]);
        expect(existsSync(repo) ? readdirSync(repo, { recursive: true }).filter((f) => String(f).endsWith('.manifest.json')) : []).toEqual([]);
      } finally {
        stopAll(holder);
      }
    },
    60_000,
  );
});
