import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchServer } from '../../src/drill/targets.js';
import { runningOn } from '../../src/tool/postgres.js';
import { tempDir } from '../helpers/cli.js';

/**
 * A scratch server killed outright (kill -9, a lost host) leaves its
 * postmaster.pid, and the pid in it may since be another process's: the
 * drill's teardown must not take that process for the server (pg_ctl stop
 * would signal it, then SIGQUIT). A postmaster runs in its data directory.
 */
let dir: string;
let cleanup: () => void;
const started: number[] = [];
beforeAll(() => {
  ({ dir, cleanup } = tempDir('vt-postmaster-'));
});
afterAll(() => {
  for (const p of started) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  cleanup();
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const sleeper = (cwd: string) => {
  const p = spawn('sleep', ['60'], { cwd, stdio: 'ignore' });
  started.push(p.pid!);
  return p.pid!;
};
const postmasterPid = (data: string, pid: number) => {
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'postmaster.pid'), `${pid}\n${data}\n1700000000\n5432\n/tmp\nlocalhost\n  5432001         0\nready   \n`);
};

describe('a postmaster.pid left behind', () => {
  it('whose pid is now another process is no server: teardown leaves that process alone', async () => {
    const data = join(dir, 'killed');
    const other = sleeper(dir);
    postmasterPid(data, other);
    expect(runningOn(data)).toBeNull();
    const removed = await scratchServer.remove(
      { kind: 'postgres-server', data, bin: join(dir, 'no-bin'), port: 5432 } as never,
      { drillId: 'x', tools: { env: { PATH: process.env.PATH }, timeoutMs: 5000 }, portOf: () => Promise.reject(new Error('no cluster')) } as never,
    );
    expect(removed).toBeUndefined();
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(other)).toBe(true);
  });

  it('whose process runs in the data directory is the server', () => {
    const data = join(dir, 'running');
    mkdirSync(data);
    const server = sleeper(data);
    postmasterPid(data, server);
    expect(runningOn(data)).toBe(server);
  });
});
