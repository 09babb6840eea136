import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, haveBinary, tempDir } from '../helpers/cli.js';

const HAVE_STRACE = haveBinary('strace', ['-V']);
let root: string;
let cleanup: () => void;
beforeAll(() => ({ dir: root, cleanup } = tempDir('vt-staging-')));
afterAll(() => cleanup());

function killedAt(dir: string, args: string[], n: number): Promise<boolean> {
  return new Promise((res, rej) => {
    const p = spawn(
      'strace',
      ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=rename', '-e', `inject=rename:signal=SIGKILL:when=${n}`, process.execPath, BIN, ...args],
      {
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state') },
        stdio: 'ignore',
      },
    );
    p.on('error', rej);
    p.on('close', (code, signal) => res(signal === 'SIGKILL' || code === 137));
  });
}

/** Every file under `d` (hidden ones too) whose text holds a share. */
const plainShares = (d: string): string[] =>
  readdirSync(d, { recursive: true, encoding: 'utf8' }).filter((f) => {
    try {
      return /VT1-[0-9A-Z]{5}-/.test(readFileSync(join(d, f), 'utf8'));
    } catch {
      return false;
    }
  });

const split = ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-c', 'c', '-o', 'out'];

describe.skipIf(!HAVE_STRACE)('shares a killed split staged are removed by the next run of any command', () => {
  it('at every rename of a split: the next command removes the staged shares; a placed set the vault never recorded goes at the next vault-opening run', async () => {
    const tpl = join(root, 'tpl');
    (await import('node:fs')).mkdirSync(tpl);
    expect((await cli(tpl, ['init'])).code).toBe(0);
    expect((await cli(tpl, ['add', 'k', '-t', 'kek', '--generate'])).code).toBe(0);
    let staged = 0;
    let placedUnrecorded = 0;
    for (let n = 1; n < 60; n++) {
      const d = join(root, `run-${n}`);
      cpSync(tpl, d, { recursive: true });
      if (!(await killedAt(d, split, n))) break;
      const hidden = readdirSync(d).filter((f) => f.startsWith('.out.') && f.endsWith('.tmp'));
      if (hidden.length && plainShares(join(d, hidden[0]!)).length) staged++;
      // A command that never opens the vault removes the staging folder.
      expect((await cli(d, ['types'])).code).toBe(0);
      expect(
        readdirSync(d).filter((f) => f.startsWith('.out.')),
        `rename #${n}`,
      ).toEqual([]);
      const placed = existsSync(join(d, 'out', 'manifest.json'));
      const st = await cli(d, ['escrow', 'status', '--json']);
      const status = JSON.parse(st.stdout);
      if (placed && status === null) {
        // escrow status opened the vault: the set it never recorded, which this machine staged, was removed, with a warning.
        placedUnrecorded++;
        // With --json, stderr is one JSON event a line: exactly this warning.
        const events = st.stderr
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        expect(events).toHaveLength(1);
        expect(events[0].type).toBe('warning');
        expect(events[0].message).toMatch(
          /^removed 7 files in \S+\/out of share set [0-9a-f]{16}, which an interrupted run placed and the vault never recorded \(nobody received those shares\)$/,
        );
      }
      const l = await cli(d, ['list']);
      expect(l.code).toBe(0);
      if (status === null) expect(existsSync(join(d, 'out')), `rename #${n}: ${l.stderr}`).toBe(false);
      expect(
        plainShares(d).filter((f) => !f.startsWith('out/')),
        `rename #${n}`,
      ).toEqual([]);
      expect(
        readdirSync(join(d, '.state', 'staging')).filter((f) => !f.endsWith('.lock')),
        `rename #${n}`,
      ).toEqual([]);
      if (status === null) expect((await cli(d, split)).code).toBe(0);
    }
    expect(staged).toBeGreaterThanOrEqual(3);
    expect(placedUnrecorded).toBeGreaterThanOrEqual(1);
  });
});

describe('a complete share set the vault never recorded is never removed unless this machine staged it', () => {
  it("a split into a folder holding another copy's set is refused and the set kept", async () => {
    const { dir, cleanup: done } = tempDir();
    try {
      expect((await cli(dir, ['init'])).code).toBe(0);
      copyFileSync(join(dir, 'secrets.vault'), join(dir, 'old.vault'));
      expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's'])).code).toBe(0);
      const before = readdirSync(join(dir, 's')).map((f) => readFileSync(join(dir, 's', f), 'utf8'));
      const r = await cli(dir, ['--allow-rollback', '--vault-file', 'old.vault', 'escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's']);
      expect(r.code).toBe(10);
      expect(r.stderr).toMatch(
        /vault-tool: error: \S+\/s holds a share set \(set id [0-9a-f]{16}\) this vault never recorded, and no interrupted run on this machine is known to have written it: refusing to remove or overwrite it\nvault-tool: hint: someone may hold those shares/,
      );
      expect(readdirSync(join(dir, 's')).map((f) => readFileSync(join(dir, 's', f), 'utf8'))).toEqual(before);
    } finally {
      done();
    }
  });
});
