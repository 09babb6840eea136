import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleChild } from '../helpers/bundle.js';
import { skipUnless } from '../helpers/require.js';
import { runTool } from '../../src/tool/run.js';
import { JournalFile, processStart, readJournals } from '../../src/drill/journal.js';
import { teardownJournal } from '../../src/drill/scratch.js';
import { tempDir } from '../helpers/cli.js';

/**
 * Tools run in their own process group, and the group is what gets killed:
 * a tool's own children never outlive it. A dead drill's journal names its
 * tools' groups; teardown kills those still running (the same process, by
 * start time), and removes only the folders the journal names.
 */
let dir: string;
let cleanup: () => void;
beforeAll(() => {
  ({ dir, cleanup } = tempDir('vt-groups-'));
});
afterAll(() => cleanup());

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const waitGone = async (pid: number) => {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
};

describe('process groups', () => {
  it('a tool that exceeds its bound is stopped with everything it started', async () => {
    const pidFile = join(dir, 'child.pid');
    let group = 0;
    const started = Date.now();
    await expect(
      runTool('sh', ['-c', `sleep 60 & echo $! > ${pidFile}; wait`], { env: { PATH: process.env.PATH }, timeoutMs: 500, onStart: (p) => (group = p) }),
    ).rejects.toThrow('sh did not finish within 500 ms: it was stopped');
    expect(Date.now() - started).toBeLessThan(5000);
    const child = Number((await import('node:fs')).readFileSync(pidFile, 'utf8'));
    expect(group).toBeGreaterThan(0);
    expect(await waitGone(child)).toBe(true);
  });

  it('a tool that has exited is not signalled again: its id, given to another group, is left alone when vault-tool exits', async (ctx) => {
    // A PID namespace of its own, where the child may choose the next pid (as the kernel does when pids wrap around).
    const probe = spawnSync('unshare', ['-U', '-r', '-p', '-f', '--mount-proc', 'sh', '-c', 'echo 100 > /proc/sys/kernel/ns_last_pid'], { encoding: 'utf8' });
    skipUnless(ctx, probe.status === 0, `a PID namespace cannot be made here: ${probe.error?.message ?? probe.stderr.trim()}`);
    mkdirSync(join(dir, 'bundle'));
    const script = bundleChild(join(import.meta.dirname, '../helpers/children/reused-group.ts'), join(dir, 'bundle'));
    // The namespace's first process (sh) outlives the child and reads what is left (a killed process is a zombie of sh's, or gone).
    const r = spawnSync(
      'unshare',
      [
        '-U',
        '-r',
        '-p',
        '-f',
        '--mount-proc',
        'sh',
        '-c',
        'out=$("$0" "$1"); echo "$out"; set -- $out; for p in $2; do awk "/^State:/ { print \\$2 }" /proc/$p/status 2>/dev/null || echo gone; done; kill -9 $2 $3 2>/dev/null; true',
        process.execPath,
        script,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.stderr).toBe('');
    const [line, other] = r.stdout.trim().split('\n');
    const [tool, reused, , leftState] = line!.split(' ');
    // The kernel gave the exited tool's id to the new group's leader.
    expect(reused).toBe(tool);
    // The new group runs on after vault-tool's exit; what the other tool left in its group was killed when it exited.
    expect(other).toBe('S');
    expect(leftState).toBe('Z');
  });

  it("a failure keeps the tool's ERROR line", async () => {
    await expect(
      runTool('sh', ['-c', 'echo "ERROR:  relation \\"nope\\" does not exist" >&2; echo "LINE 1: select * from nope" >&2; echo "  ^" >&2; exit 1'], {
        env: { PATH: process.env.PATH },
        timeoutMs: 5000,
        label: 'psql in db',
      }),
    ).rejects.toThrow('psql in db failed (exit 1): ERROR:  relation "nope" does not exist');
  });

  it("teardown of a dead drill's journal kills its tools' groups and removes only what it names", async () => {
    const state = join(dir, 'state/seen.json');
    mkdirSync(join(dir, 'state'), { recursive: true });
    const j = JournalFile.create(state, 'drill.yaml', new Date());
    // A tool of the drill, still running with a child of its own, as a killed drill leaves it.
    const tool = spawn('sh', ['-c', 'sleep 60 & wait'], { detached: true, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 100));
    j.process(tool.pid!, 'pg_restore into drill_x');
    mkdirSync(join(dir, 'scratch/restored'), { recursive: true });
    writeFileSync(join(dir, 'scratch/restored/data'), 'x');
    j.created(j.add({ kind: 'folder', path: join(dir, 'scratch'), state: 'creating' }));
    mkdirSync(join(dir, 'theirs'));
    // The journal as a dead drill leaves it: not this process's (a pid that is gone).
    j.data.pid = 2 ** 22 + 1;
    j.release();
    j.save();
    const { over, running } = readJournals(state);
    expect(running).toEqual([]);
    expect(over).toHaveLength(1);
    const r = await teardownJournal(over[0]!, { env: { PATH: process.env.PATH }, timeoutMs: 5000, cluster: () => ({ env: {}, requestTimeoutMs: 1000 }) });
    expect(r.left).toEqual([]);
    expect(r.removed).toEqual([`process ${tool.pid} (pg_restore into drill_x)`, `folder ${join(dir, 'scratch')}`]);
    expect(await waitGone(tool.pid!)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['bundle', 'child.pid', 'state', 'theirs']);
    expect(readdirSync(join(dir, 'state/drills'))).toEqual([]);
    expect(processStart(process.pid)).toMatch(/^\d+$/);
  });
});

describe("a tool's output", () => {
  it('is decoded as a stream: a character cut between two of its writes comes back whole', async () => {
    // "é" is C3 A9 in UTF-8: written a byte at a time, with a pause between, the two bytes arrive in two reads.
    const out = await runTool('sh', ['-c', "printf 'caf\\303'; sleep 0.2; printf '\\251\\n'"], { env: { PATH: process.env.PATH ?? '' }, timeoutMs: 10_000 });
    expect(out).toBe('café\n');
  });
});
