import { spawn } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, haveBinary, tempDir } from '../helpers/cli.js';

/**
 * Kills a command at every mutating step: strace injects SIGKILL on the Nth
 * rename/link/unlink/fsync, for N = 1, 2, … until the command runs to the
 * end. After each kill: the vault opens with the key file in place (or the
 * error says to finish the rekey), and running the command again finishes
 * the job with nothing lost and no temp file holding a key left behind.
 */
const HAVE_STRACE = haveBinary('strace', ['-V']);
let root: string;
let cleanup: () => void;
beforeAll(() => ({ dir: root, cleanup } = tempDir('vt-crash-')));
afterAll(() => cleanup());

const SYSCALLS = ['rename', 'link', 'unlink', 'fsync'];

function killedRun(dir: string, args: string[], syscall: string, n: number): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((res, rej) => {
    const p = spawn(
      'strace',
      ['-f', '-qq', '-o', '/dev/null', '-e', `trace=${syscall}`, '-e', `inject=${syscall}:signal=SIGKILL:when=${n}`, process.execPath, BIN, ...args],
      {
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state') },
        stdio: ['ignore', 'ignore', 'ignore'],
      },
    );
    p.on('error', rej);
    // When the traced process dies of a signal, strace kills itself with the same signal.
    p.on('close', (code, signal) => res({ killed: signal === 'SIGKILL' || code === 137, code }));
  });
}

let template = 0;
async function setup(build: (d: string) => Promise<void>): Promise<string> {
  const d = join(root, `template-${template++}`);
  (await import('node:fs')).mkdirSync(d);
  await build(d);
  return d;
}

const value = async (d: string) => (await cli(d, ['get', 'k'])).stdout;
/** Temp files and a pending key file are leftovers; a lock is one only if its holder still runs (a dead holder's lock is broken by the next writer). */
const leftovers = (d: string) =>
  readdirSync(d).filter((f) => {
    if (f.endsWith('.tmp') || f === 'vault.key.new') return true;
    if (!f.endsWith('.lock')) return false;
    const pid = JSON.parse(readFileSync(join(d, f), 'utf8')).pid as number;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });

/** Runs `args` killed at each step of each syscall; `after` checks and finishes one killed copy. Returns the kill points exercised. */
async function everyKillPoint(tpl: string, args: string[], after: (d: string) => Promise<void>): Promise<number> {
  let points = 0;
  for (const sc of SYSCALLS) {
    for (let n = 1; n < 200; n++) {
      const d = join(root, `run-${template}-${args.join('-').replace(/[^a-z]/g, '')}-${sc}-${n}`);
      cpSync(tpl, d, { recursive: true });
      const r = await killedRun(d, args, sc, n);
      if (!r.killed) {
        expect(r.code, `${args.join(' ')} ran to the end (${sc} #${n})`).toBe(0);
        break;
      }
      points++;
      const l = await cli(d, ['list']);
      if (l.code !== 0) {
        expect(l.code, `list after a kill at ${sc} #${n}: ${l.stderr}`).toBe(3);
        expect(l.stderr, `${sc} #${n}`).toContain('run `vault-tool rekey --confirm` to finish it');
      }
      await after(d);
    }
  }
  return points;
}

// Each test runs the command once per kill point (dozens of runs): minutes on a loaded 2-core machine.
describe.skipIf(!HAVE_STRACE)('rekey survives a kill at any step', { timeout: 240_000 }, () => {
  it('rekey --confirm: every kill point is finished by running it again', async () => {
    const tpl = await setup(async (d) => {
      await cli(d, ['init']);
      await cli(d, ['add', 'k', '-t', 'kek', '--generate']);
      cpSync(join(d, 'secrets.vault'), join(d, 'before-rekey.vault'));
      await cli(d, ['rekey']);
    });
    const want = await value(tpl);
    const newId = /# key id: (\S+)/.exec(readFileSync(join(tpl, 'vault.key.new'), 'utf8'))![1]!;
    const oldId = /# key id: (\S+)/.exec(readFileSync(join(tpl, 'vault.key'), 'utf8'))![1]!;
    const points = await everyKillPoint(tpl, ['rekey', '--confirm'], async (d) => {
      const again = await cli(d, ['rekey', '--confirm']);
      if (again.code !== 0) expect(again.stderr, again.stderr).toContain('no rekey is pending');
      expect((await cli(d, ['list'])).code).toBe(0);
      expect(JSON.parse((await cli(d, ['list', '--json'])).stdout).vault.keyId).toBe(newId);
      expect(await value(d)).toBe(want);
      expect(leftovers(d)).toEqual([]);
      // The old key is kept and still opens the copies made before the rekey.
      expect((await cli(d, ['list', '--vault-file', 'before-rekey.vault', '--key-file', `vault.key.old-${oldId}`])).code).toBe(0);
    });
    expect(points).toBeGreaterThanOrEqual(8);
  });

  it('rekey (start): every kill point leaves a vault that opens, and start or confirm goes on', async () => {
    const tpl = await setup(async (d) => {
      await cli(d, ['init']);
      await cli(d, ['add', 'k', '-t', 'kek', '--generate']);
    });
    const want = await value(tpl);
    const points = await everyKillPoint(tpl, ['rekey'], async (d) => {
      expect((await cli(d, ['list'])).code).toBe(0);
      const again = await cli(d, ['rekey']);
      if (again.code !== 0) expect(again.stderr).toContain('is already pending');
      expect((await cli(d, ['rekey', '--confirm'])).code).toBe(0);
      expect(await value(d)).toBe(want);
      expect(leftovers(d)).toEqual([]);
    });
    expect(points).toBeGreaterThanOrEqual(6);
  });

  it('rekey --abort: every kill point leaves the old key working, and abort again finishes', async () => {
    const tpl = await setup(async (d) => {
      await cli(d, ['init']);
      await cli(d, ['add', 'k', '-t', 'kek', '--generate']);
      await cli(d, ['rekey']);
    });
    const want = await value(tpl);
    const points = await everyKillPoint(tpl, ['rekey', '--abort'], async (d) => {
      expect((await cli(d, ['list'])).code).toBe(0);
      const again = await cli(d, ['rekey', '--abort']);
      if (again.code !== 0) expect(again.stderr).toContain('no rekey is pending');
      expect(existsSync(join(d, 'vault.key.new'))).toBe(false);
      expect(JSON.parse((await cli(d, ['list', '--json'])).stdout).vault.pendingRekey).toBe(false);
      expect(await value(d)).toBe(want);
      expect(leftovers(d)).toEqual([]);
    });
    expect(points).toBeGreaterThanOrEqual(4);
  });

  it('escrow reshare --rekey: every kill point is finished by running it again; the new shares open the vault', async () => {
    const tpl = await setup(async (d) => {
      await cli(d, ['init']);
      await cli(d, ['add', 'k', '-t', 'kek', '--generate']);
      await cli(d, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's1']);
    });
    const want = await value(tpl);
    const args = ['escrow', 'reshare', '--rekey', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's2'];
    // Done when the vault opens with vault.key, no rekey is pending, and its current share set is the one in s2.
    const finished = async (d: string) => {
      const l = await cli(d, ['list', '--json']);
      if (l.code !== 0 || JSON.parse(l.stdout).vault.pendingRekey) return false;
      const st = JSON.parse((await cli(d, ['escrow', 'status', '--json'])).stdout);
      return (
        existsSync(join(d, 's2', 'manifest.json')) && st.keyMatchesVault && JSON.parse(readFileSync(join(d, 's2', 'manifest.json'), 'utf8')).setId === st.setId
      );
    };
    const points = await everyKillPoint(tpl, args, async (d) => {
      if (!(await finished(d))) {
        const again = await cli(d, args);
        expect(again.code, again.stderr).toBe(0);
      }
      expect(await finished(d)).toBe(true);
      expect(await value(d)).toBe(want);
      expect(leftovers(d)).toEqual([]);
      const s2 = readdirSync(join(d, 's2'))
        .filter((f) => f.endsWith('.share'))
        .map((f) => join(d, 's2', f));
      expect((await cli(d, ['escrow', 'combine', ...s2, '-o', 'from-s2.key'])).code).toBe(0);
      expect((await cli(d, ['list', '--key-file', 'from-s2.key'])).code).toBe(0);
    });
    expect(points).toBeGreaterThanOrEqual(10);
  });
});
