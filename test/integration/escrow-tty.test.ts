import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, haveBinary, tempDir } from '../helpers/cli.js';
import { parseShareFile } from '../../src/escrow/files.js';

/**
 * A custodian types their share at a real terminal (a pty from util-linux
 * `script`): the share is shown group by group as it is typed, each
 * complete group marked ✓ or ✗ by its check character, so it can be
 * compared with the sheet; nothing of it stays on the screen once accepted.
 */
const ready = haveBinary('script');
let dir: string;
let cleanup: () => void;
beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-tty-'));
  expect((await cli(dir, ['init'])).code).toBe(0);
  expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'alice', '-c', 'bob', '-c', 'carol', '-o', 'shares'])).code).toBe(0);
});
afterAll(() => cleanup());

const shareText = (name: string) =>
  readFileSync(join(dir, 'shares', readdirSync(join(dir, 'shares')).find((f) => f.endsWith(`-${name}.share`))!), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VT1-'))!;
/** The screen's text without escape sequences, one string per redraw (cursor to column 1), a long line's wraps undone. */
const frames = (raw: string) =>
  raw
    .split('\x1b[G')
    .map((f) =>
      f
        .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
        .replace(/\r/g, '')
        .replace(/\n/g, ' '),
    )
    .filter(Boolean);

/** A command on a pty: what it shows, and keys typed into it. */
function terminal(args: string) {
  const p = spawn('script', ['-qfec', `stty cols 120 rows 40; exec ${process.execPath} ${BIN} ${args}`, '/dev/null'], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state'), TERM: 'xterm', NO_COLOR: '1', USER: 'custodian-desk' },
  });
  const t = { raw: '', p };
  p.stdout.on('data', (c: Buffer) => (t.raw += c.toString('utf8')));
  const closed = new Promise<number | null>((r) => p.on('close', r));
  const waitFor = async (re: RegExp, from = 0) => {
    for (let i = 0; i < 600; i++) {
      const hit = frames(t.raw.slice(from)).find((f) => re.test(f));
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`never saw ${re} on the terminal; last frames:\n${frames(t.raw).slice(-3).join('\n')}`);
  };
  const type = async (text: string) => {
    for (const ch of text) {
      p.stdin.write(ch);
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  return { t, p, closed, waitFor, type };
}

describe.skipIf(!ready)('typing a share at a terminal', () => {
  it('shows the groups as typed, marks a mistyped group at once, refuses the share on Enter naming it, and takes the corrected one', async () => {
    const { t, p, closed, waitFor, type } = terminal('escrow combine -o typed.key');
    const timer = setTimeout(() => p.kill(), 90_000);
    try {
      await waitFor(/Share 1 \(VT1-…\), typed by its custodian:/);
      const alice = shareText('alice');
      const groups = alice.split('-').slice(1);
      const g2 = groups[1]!;
      const wrong = g2.slice(0, 2) + (g2[2] === 'A' ? 'B' : 'A') + g2.slice(3);
      // Group 1 typed: marked good, and the count of groups known from it.
      await type(`VT1-${groups[0]}-`);
      expect(await waitFor(new RegExp(`\\[1/${groups.length}\\] VT1-${groups[0]}✓`))).toBeTruthy();
      // Group 2 mistyped: marked as soon as its fifth character is typed.
      await type(wrong);
      const marked = await waitFor(/\[group 2 mistyped\]/);
      expect(marked).toContain(`VT1-${groups[0]}✓ ${wrong}✗`);
      // The rest typed right; Enter refuses the share, naming the group.
      await type('-' + groups.slice(2).join('-'));
      const mark = t.raw.length;
      p.stdin.write('\r');
      await waitFor(/group 2 has a typo/, mark);
      // Corrected (the line cleared with ^U, typed again): every group marked good, accepted without echoing it.
      p.stdin.write('\x15');
      await type(alice.toLowerCase().replace(/-/g, ' '));
      await waitFor(new RegExp(`\\[${groups.length}/${groups.length}\\] VT1-${groups.map((g) => `${g}✓`).join(' ')}`));
      const before = t.raw.length;
      p.stdin.write('\r');
      const s = parseShareFile(alice);
      const done = await waitFor(/✔ Share 1 \(VT1-…\), typed by its custodian:/, before);
      expect(done).toContain(`share 1 (alice), set ${s.setId}`);
      expect(done).not.toContain(groups[1]!);
      await waitFor(/Share 2 \(VT1-…\), typed by its custodian:/, before);
      await type(shareText('carol'));
      p.stdin.write('\r');
      await waitFor(/Enter another\?/);
      p.stdin.write('n\r');
      expect(await closed).toBe(0);
    } finally {
      clearTimeout(timer);
      p.kill();
    }
    const all = frames(t.raw).join('\n');
    expect(all).toContain(`recovered key id ${parseShareFile(shareText('alice')).keyId} from shares of alice, carol`);
    expect(readFileSync(join(dir, 'typed.key')).equals(readFileSync(join(dir, 'vault.key')))).toBe(true);
  }, 120_000);

  it('in the ceremony, the group a custodian types back is shown and marked too', async () => {
    const { p, closed, waitFor, type } = terminal('escrow split -k 2 -c alice -c bob -o c1 --ceremony');
    const timer = setTimeout(() => p.kill(), 90_000);
    try {
      await waitFor(/Are these the custodians\?/);
      await type('yes\r');
      for (const who of ['alice', 'bob']) {
        const q = await waitFor(new RegExp(`${who}: type group (\\d+) of your share as proof of receipt`));
        const n = Number(new RegExp(`${who}: type group (\\d+)`).exec(q)![1]);
        const file = readdirSync(join(dir, 'c1')).find((f) => f.endsWith(`-${who}.share`))!;
        const group = readFileSync(join(dir, 'c1', file), 'utf8')
          .split('\n')
          .find((l) => l.startsWith('VT1-'))!
          .split('-')[n]!;
        await type(group.toLowerCase());
        await waitFor(new RegExp(`${who}: type group ${n} of your share as proof of receipt ${group} ✓`));
        p.stdin.write('\r');
        await waitFor(new RegExp(`${who}: receipt confirmed`));
      }
      expect(await closed).toBe(0);
    } finally {
      clearTimeout(timer);
      p.kill();
    }
  }, 120_000);
});
