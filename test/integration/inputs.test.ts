import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => void;
beforeAll(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
  expect((await cli(dir, ['add', 'a', '-t', 'kek', '--generate'])).code).toBe(0);
  expect(spawnSync('mkfifo', ['-m', '600', join(dir, 'fifo')]).status).toBe(0);
});
afterAll(() => cleanup());

/** Runs the built binary; a run still going after `ms` is killed and reported as hung. */
function runFor(args: string[], ms: number, env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string; hung: boolean }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state'), ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    let hung = false;
    const t = setTimeout(() => {
      hung = true;
      p.kill('SIGKILL');
    }, ms);
    p.on('error', rej);
    p.on('close', (code) => {
      clearTimeout(t);
      res({ code, stderr: err, hung });
    });
  });
}

describe('a named pipe given as an input file is refused, never waited on', () => {
  const cases: [string, string[], string][] = [
    ['--vault-file', ['list', '--vault-file', 'fifo'], 'vault file'],
    ['--key-file', ['list', '--key-file', 'fifo'], 'key file'],
    ['import env', ['import', 'env', 'fifo'], ''],
    ['add --from-file', ['add', 'b', '-t', 'generic', '--from-file', 'fifo'], ''],
    ['fingerprint --compare', ['fingerprint', 'a', '--compare', 'fifo'], ''],
    ['escrow check', ['escrow', 'check', 'fifo'], ''],
    ['escrow combine', ['escrow', 'combine', 'fifo', 'fifo', '-o', 'x.key'], ''],
    ['k8s import -f', ['k8s', 'import', '-f', 'fifo', '--dry-run'], ''],
    ['k8s diff-vault --plan', ['k8s', 'diff-vault', '--plan', 'fifo'], ''],
    ['--passphrase-file', ['init', '--vault-file', 'p.vault', '--key-file', 'p.key', '--passphrase', '--passphrase-file', 'fifo'], ''],
  ];
  // A vault or key file is never read from standard input: the refusal does not offer `-` there.
  const dash = (what: string) => (what === 'vault file' || what === 'key file' ? '' : ' \\(give - to read standard input\\)');
  for (const [name, args, what] of cases) {
    it(name, async () => {
      const r = await runFor(args, 10_000);
      expect(r.hung, `${name} waited on the pipe`).toBe(false);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^vault-tool: error: ${what ? what + ' ' : '.*'}\\S*fifo is a named pipe, not a regular file${dash(what)}\\n`));
    });
  }

  it('--key-file /dev/stdin, or <(…), is named as given, never as the path /proc/N/fd/pipe:[M] nor as a lost key', () => {
    const r = spawnSync('sh', ['-c', `cat vault.key | ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} list --key-file /dev/stdin`], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state') },
      timeout: 30_000,
    });
    expect(r.stderr).toBe('vault-tool: error: key file /dev/stdin is a named pipe, not a regular file\n');
    expect(r.status).toBe(2);
  });

  it('--key-file naming a folder says so, and never offers chmod 600 of the folder', async () => {
    const r = await cli(dir, ['list', '--key-file', '/tmp']);
    expect(r.stderr).toBe('vault-tool: error: key file is a folder: /tmp\n');
    expect(r.code).toBe(2);
  });
});

describe('state and lock files are read within caps', () => {
  it('seen.json linked to /dev/zero: a warning, the command goes on, memory stays small', async () => {
    const state = join(dir, 'zero-state');
    mkdirSync(state);
    symlinkSync('/dev/zero', join(state, 'seen.json'));
    const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, BIN, 'list'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: state },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('vault-tool: warning: cannot read the state file');
    expect(r.stderr).toContain('is larger than 4 MiB, the most vault-tool reads for it');
    const kib = Number(r.stderr.trim().split('\n').at(-1));
    expect(kib).toBeLessThan(200 * 1024);
  });
});
