import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, tempDir } from '../helpers/cli.js';

/**
 * A prompt at a terminal is drawn on stderr, as every message: with stdout
 * sent to a file (`get KEY > FILE`), the passphrase question reaches the
 * person at the terminal, and the file holds the value alone. script(1)
 * gives the command a terminal.
 */
const HAVE_SCRIPT = !spawnSync('script', ['--version'], { stdio: 'ignore' }).error;
if (!HAVE_SCRIPT && process.env.CI === 'true') throw new Error('script (util-linux) is required in CI');
let dir: string;
let cleanup: () => void;
const env = { PP: 'a passphrase of its own' };

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-prompt-'));
  expect((await cli(dir, ['init', '--passphrase', '--passphrase-env', 'PP', '--work-factor', '10'], { env })).code).toBe(0);
  expect((await cli(dir, ['add', 'k', '-t', 'kek', '--generate', '--passphrase-env', 'PP'], { env })).code).toBe(0);
}, 60_000);
afterAll(() => cleanup?.());

describe.skipIf(!HAVE_SCRIPT && process.env.CI !== 'true')('prompts at a terminal', () => {
  it('get KEY > FILE: the passphrase is asked on the terminal, the file holds the value alone', async () => {
    const want = (await cli(dir, ['get', 'k', '--passphrase-env', 'PP'], { env })).stdout;
    expect(want.length).toBeGreaterThan(20);
    const out = join(dir, 'value.out');
    const cmd = `cd ${JSON.stringify(dir)} && exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} get k > ${JSON.stringify(out)}`;
    const p = spawn('script', ['-q', '-e', '-f', '-c', cmd, '/dev/null'], {
      env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state'), TERM: 'xterm' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let terminal = '';
    let asked = false;
    const done = new Promise<number | null>((res) => p.on('close', res));
    p.stdout!.on('data', (c: Buffer) => {
      terminal += c.toString();
      if (!asked && /Passphrase for the vault key/.test(terminal)) {
        asked = true;
        setTimeout(() => p.stdin!.write(`${env.PP}\r`), 200);
      }
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    const code = await done;
    clearTimeout(timer);
    expect(asked, terminal).toBe(true);
    expect(code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(want);
  }, 30_000);
});
