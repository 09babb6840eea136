import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, spawnCli, tempDir } from '../helpers/cli.js';

/**
 * `run` and `backup exec --env` hand vault entries to real processes
 * (the built binary, sh, sha256sum, cat) through their environment or a
 * descriptor: never on a command line, never in vault-tool's output or
 * messages, always recorded in the evidence log first.
 */
let dir: string;
let cleanup: () => void;
const VALUE = 'hunter2-correct-horse-battery-staple';
const OLD = 'the-older-version-of-the-token';
const BINARY = Buffer.from([0, 1, 2, 255, 254, 10, 0, 65]);
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const evidence = () =>
  readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-run-'));
  expect((await cli(dir, ['init'])).code).toBe(0);
  expect((await cli(dir, ['add', 'api/token', '-t', 'generic', '--from-stdin'], { stdin: OLD })).code).toBe(0);
  expect((await cli(dir, ['add', 'api/token', '-t', 'generic', '--from-stdin', '--update'], { stdin: VALUE })).code).toBe(0);
  writeFileSync(join(dir, 'bin.key'), BINARY);
  expect((await cli(dir, ['add', 'bin/key', '-t', 'generic', '--from-file', 'bin.key'])).code).toBe(0);
});
afterAll(() => cleanup());

describe('run', () => {
  it('hands an entry to a command in its environment: the value reaches it, never argv, never the output', async () => {
    const before = JSON.parse((await cli(dir, ['list', '--json'])).stdout).entries;
    const script = 'printf %s "$X" | sha256sum; tr "\\0" " " < /proc/$$/cmdline; echo; tr "\\0" " " < /proc/$PPID/cmdline';
    const r = await spawnCli(dir, ['run', '--env', 'X=api/token', '--', 'sh', '-c', script]);
    expect(r.code, r.stderr).toBe(0);
    const [hash, own, parent] = r.stdout.split('\n');
    expect(hash).toBe(`${sha(VALUE)}  -`);
    expect(own).toContain('sh -c printf %s "$X"');
    expect(parent).toMatch(/vault-tool\.js run --env X=api\/token -- sh -c/);
    expect(r.stdout + r.stderr).not.toContain(VALUE);
    expect(r.stderr).toBe('');
    // Nothing changed in the vault but the evidence log: a record naming the entry, version and variable, never the value.
    expect(JSON.parse((await cli(dir, ['list', '--json'])).stdout).entries).toEqual(before);
    const rec = evidence().at(-1);
    expect(rec).toMatchObject({ event: 'run', data: { command: 'sh', entries: [{ entry: 'api/token', version: 2, env: 'X' }] } });
    expect(readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8')).not.toContain(VALUE);
  });

  it('NAME=ENTRY@N hands an older version; several entries at once', async () => {
    const r = await spawnCli(dir, ['run', '-e', 'A=api/token@1', '-e', 'B=api/token', '--', 'sh', '-c', 'printf "%s|%s" "$A" "$B" | sha256sum']);
    expect(r.stdout).toBe(`${sha(`${OLD}|${VALUE}`)}  -\n`);
    expect(evidence().at(-1).data.entries).toEqual([
      { entry: 'api/token', version: 1, env: 'A' },
      { entry: 'api/token', version: 2, env: 'B' },
    ]);
  });

  it('--fd N=ENTRY gives the command a pipe holding the value (binary-safe); the environment refuses binary values', async () => {
    const r = await spawnCli(dir, ['run', '--fd', '3=bin/key', '--fd', '7=api/token', '--', 'sh', '-c', 'sha256sum < /dev/fd/3; sha256sum <&7']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${sha(BINARY)}  -\n${sha(VALUE)}  -\n`);
    expect(evidence().at(-1).data.entries).toEqual([
      { entry: 'bin/key', version: 1, fd: 3 },
      { entry: 'api/token', version: 2, fd: 7 },
    ]);
    // Any file path the command opens: /dev/fd/N (age -i /dev/fd/3 …).
    const cat = await spawnCli(dir, ['run', '--fd', '4=api/token', '--', 'cat', '/dev/fd/4']);
    expect(cat.stdoutBytes.toString()).toBe(VALUE);
    const env = await spawnCli(dir, ['run', '--env', 'K=bin/key', '--', 'true']);
    expect(env.code).toBe(11);
    expect(env.stderr).toBe(
      'vault-tool: error: bin/key@1 is binary data, which an environment variable cannot carry\n' +
        'vault-tool: hint: hand it over on a file descriptor instead: vault-tool run --fd 3=bin/key -- … (the command reads /dev/fd/3)\n',
    );
  });

  it('--fd N: a command that opens /dev/fd/N late (as age -i does, after starting up), or twice, reads the whole value', async () => {
    // A named pipe reopened after its writer closed waits for a writer forever: `timeout` turns that into exit 124.
    const late = await spawnCli(dir, [
      'run',
      '--fd',
      '3=bin/key',
      '--',
      'timeout',
      '10',
      'sh',
      '-c',
      'sleep 0.5; sha256sum < /dev/fd/3; sha256sum < /dev/fd/3',
    ]);
    expect(late.code, late.stderr).toBe(0);
    expect(late.stdout).toBe(`${sha(BINARY)}  -\n`.repeat(2));
    const big = Buffer.alloc(200_000, 'k');
    writeFileSync(join(dir, 'big'), big);
    expect((await cli(dir, ['add', 'big/value', '-t', 'generic', '--from-file', 'big'])).code).toBe(0);
    const large = await spawnCli(dir, ['run', '--fd', '5=big/value', '--', 'timeout', '10', 'sh', '-c', 'sleep 0.2; sha256sum <&5']);
    expect(large.stdout).toBe(`${sha(big)}  -\n`);
  });

  it("exits with the command's exit code, or 128 + the signal that ended it", async () => {
    expect((await spawnCli(dir, ['run', '--env', 'X=api/token', '--', 'sh', '-c', 'exit 7'])).code).toBe(7);
    expect((await spawnCli(dir, ['run', '--env', 'X=api/token', '--', 'sh', '-c', 'kill -KILL $$'])).code).toBe(137);
    // In process too (the CLI's run() returns it).
    expect((await cli(dir, ['run', '--env', 'X=api/token', '--', 'sh', '-c', 'exit 3'])).code).toBe(3);
  });

  it.each([
    ['SIGTERM', 42],
    ['SIGINT', 43],
    ['SIGHUP', 44],
  ] as const)('passes %s on to the command and waits for it', async (signal, code) => {
    const script = `trap 'echo got-${signal}; exit ${code}' ${signal.slice(3)}; echo ready; while :; do sleep 0.05; done`;
    const p = spawn(process.execPath, [BIN, 'run', '--env', 'X=api/token', '--', 'sh', '-c', script], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state') },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A group of its own, so that whatever happens nothing is left running.
      detached: true,
    });
    try {
      let out = '';
      await new Promise<void>((res) =>
        p.stdout.on('data', (c: Buffer) => {
          out += c;
          if (out.includes('ready')) res();
        }),
      );
      p.kill(signal);
      const exit = await new Promise<number | null>((res) => p.on('close', (c) => res(c)));
      expect(out).toBe(`ready\ngot-${signal}\n`);
      expect(exit).toBe(code);
    } finally {
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it('a command that is not there (127) or cannot run (126) is refused before the vault is opened', async () => {
    const n = evidence().length;
    const missing = await spawnCli(dir, ['run', '--env', 'X=api/token', '--', 'no-such-command-here']);
    expect([missing.code, missing.stderr]).toEqual([127, 'vault-tool: error: no-such-command-here: command not found\n']);
    writeFileSync(join(dir, 'not-exec.sh'), '#!/bin/sh\n');
    const denied = await spawnCli(dir, ['run', '--env', 'X=api/token', '--', './not-exec.sh']);
    expect(denied.code).toBe(126);
    expect(denied.stderr).toMatch(/^vault-tool: error: \.\/not-exec\.sh: cannot run \.\/not-exec\.sh/);
    expect(evidence()).toHaveLength(n);
  });

  it('refuses bad specifications before anything runs', async () => {
    const cases: [string[], number, string][] = [
      [['--', 'true'], 2, 'nothing to hand over: give --env NAME=ENTRY or --fd N=ENTRY'],
      [['--env', 'X', '--', 'true'], 2, '--env "X": expected NAME=ENTRY or NAME=ENTRY@VERSION'],
      [['--env', 'X=', '--', 'true'], 2, '--env "X=": no entry after =: X would get nothing'],
      [['--env', '=api/token', '--', 'true'], 2, '--env "=api/token": nothing before =: expected NAME=ENTRY'],
      [['--fd', '3=', '--', 'true'], 2, '--fd "3=": no entry after =: 3 would get nothing'],
      [['--fd', 'x=api/token', '--', 'true'], 2, '--fd "x=api/token": x is not a descriptor number'],
      [['--env', '1X=api/token', '--', 'true'], 2, '--env "1X=api/token": 1X is not a variable name (letters, digits and _, not first a digit)'],
      [['--env', 'X=api/token', '--env', 'X=bin/key', '--', 'true'], 2, '--env X is given twice'],
      [['--fd', '2=api/token', '--', 'true'], 2, "--fd 2: a descriptor from 3 to 255 (0, 1 and 2 are the command's standard input, output and error)"],
      [['--fd', '3=api/token', '--fd', '3=bin/key', '--', 'true'], 2, '--fd 3 is given twice'],
      [['--env', 'X=api/token@9', '--', 'true'], 5, 'entry api/token has no version 9 (versions 1 to 2)'],
      [['--env', 'X=no/such', '--', 'true'], 5, 'no entry named no/such'],
      // Read by the loader, a shell or a runtime as its own setting, whose errors print it ("ld.so: object '…' from LD_PRELOAD cannot be preloaded").
      [
        ['--env', 'LD_PRELOAD=api/token', '--', 'true'],
        2,
        'a key is never handed over in LD_PRELOAD: the dynamic loader reads it as its own setting, and its errors print the value',
      ],
      [
        ['--env', 'DYLD_INSERT_LIBRARIES=api/token', '--', 'true'],
        2,
        'a key is never handed over in DYLD_INSERT_LIBRARIES: the dynamic loader reads it as its own setting, and its errors print the value',
      ],
      [
        ['--env', 'BASH_ENV=api/token', '--', 'true'],
        2,
        'a key is never handed over in BASH_ENV: the shell reads it as its own setting, and its errors print the value',
      ],
      [
        ['--env', 'PATH=api/token', '--', 'true'],
        2,
        'a key is never handed over in PATH: the shell reads it as its own setting, and its errors print the value',
      ],
      [
        ['--env', 'NODE_OPTIONS=api/token', '--', 'true'],
        2,
        'a key is never handed over in NODE_OPTIONS: a language runtime (Node.js, Python, Perl, Ruby, Java) reads it as its own setting, and its errors print the value',
      ],
    ];
    for (const [args, code, message] of cases) {
      const r = await cli(dir, ['run', ...args]);
      expect([r.code, r.stderr.split('\n')[0]], args.join(' ')).toEqual([code, `vault-tool: error: ${message}`]);
    }
  });

  it('a malformed --env or --fd names the fix: the entry X gets (--env X= from --env X=$ENTRY with ENTRY unset), or the form', async () => {
    const hints: [string[], string][] = [
      [['--env', 'X=', '--', 'true'], 'name the entry X gets: --env X=ENTRY (`vault-tool list` shows them); a variable that is not set gives an empty one'],
      [['--env', '=api/token', '--', 'true'], 'write --env NAME=ENTRY, or --env NAME=ENTRY@VERSION: the command reads $NAME'],
      [['--env', '1X=api/token', '--', 'true'], 'write --env NAME=ENTRY, or --env NAME=ENTRY@VERSION: the command reads $NAME'],
      [['--fd', 'x=api/token', '--', 'true'], 'write --fd N=ENTRY, or --fd N=ENTRY@VERSION, N from 3: the command reads /dev/fd/N'],
    ];
    for (const [args, hint] of hints) {
      const r = await cli(dir, ['run', ...args]);
      expect(r.stderr.split('\n')[1], args.join(' ')).toBe(`vault-tool: hint: ${hint}`);
    }
    const exec = await cli(dir, ['backup', 'exec', '--name', 'x', '-r', 'repo', '--env', 'T=', '--', 'true']);
    expect(exec.stderr).toBe(
      'vault-tool: error: --env "T=": no entry after =: T would get nothing\n' +
        'vault-tool: hint: name the entry T gets: --env T=ENTRY (`vault-tool list` shows them); a variable that is not set gives an empty one\n',
    );
  });

  it("the command goes after --: without it, its options are refused with the fix, never read as vault-tool's", async () => {
    const n = evidence().length;
    for (const [command, args] of [
      ['run', ['run', '--env', 'X=api/token', 'sh', '-c', 'echo ran']],
      // vault-tool's own --version: printed vault-tool's version and ran nothing.
      ['run', ['run', '--env', 'X=api/token', 'node', '--version']],
      ['run', ['run', '--env', 'X=api/token', 'true']],
      // The command's -h: commander showed vault-tool run's help and ran nothing.
      ['run', ['run', '--env', 'X=api/token', 'ls', '-h']],
      ['backup exec', ['backup', 'exec', '--name', 'x', '-r', 'repo', 'pg_dump', '-Fc']],
    ] as const) {
      const r = await cli(dir, [...args]);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr).toBe(
        `vault-tool: error: vault-tool ${command} takes the command it runs after --: without it, that command's options would be read as vault-tool's\n` +
          `vault-tool: hint: put -- before the command: vault-tool ${command} [OPTIONS] -- COMMAND [ARGS…]\n`,
      );
      expect(r.code).toBe(2);
    }
    // curl's --json would have been vault-tool's (its errors then JSON events).
    const json = await cli(dir, ['run', '--env', 'X=api/token', 'curl', '--json', '{}', 'http://127.0.0.1:9']);
    expect([json.code, JSON.parse(json.stderr).code]).toEqual([2, 'command-after-dashes']);
    expect(evidence()).toHaveLength(n);
    // With --: the command's own --version.
    const ok = await cli(dir, ['run', '--env', 'X=api/token', '--', process.execPath, '--version']);
    expect([ok.code, ok.stdout]).toEqual([0, `${process.version}\n`]);
    for (const help of [
      ['run', '--help'],
      ['run', '-h'],
      ['help', 'run'],
      ['backup', 'exec', '--help'],
    ]) {
      const h = await cli(dir, help);
      expect([h.code, h.stdout.split('\n')[0]], help.join(' ')).toEqual([
        0,
        `Usage: vault-tool ${help.includes('exec') ? 'backup exec' : 'run'} [options] <command...>`,
      ]);
    }
  });

  it('the passphrase variable of a protected key is not passed on; a token on the command line is warned about and hidden', async () => {
    const p = tempDir('vt-run-pw-');
    try {
      const env = { PW: 'correct horse' };
      expect((await cli(p.dir, ['init', '--passphrase', '--passphrase-env', 'PW', '--work-factor', '10'], { env })).code).toBe(0);
      expect((await cli(p.dir, ['add', 'k', '-t', 'generic', '--from-stdin', '--passphrase-env', 'PW'], { env, stdin: VALUE })).code).toBe(0);
      const r = await spawnCli(p.dir, ['run', '--passphrase-env', 'PW', '--env', 'K=k', '--', 'sh', '-c', `echo "\${PW-unset}"; printf %s "$K" | sha256sum`], {
        env,
      });
      expect(r.stdout).toBe(`unset\n${sha(VALUE)}  -\n`);
      const token = 'Zq8rW2Lx0NnV7sKc4Jm1Hy6Tf9Pb3Gd5';
      const t = await cli(p.dir, ['run', '--passphrase-env', 'PW', '--env', 'K=k', '--', 'sh', '-c', 'exit 0', 'sh', '-H', `Authorization: Bearer ${token}`], {
        env,
      });
      expect(t.code).toBe(0);
      expect(t.stderr).toContain(
        'vault-tool: warning: the command line holds what looks like a password or token (sh -c exit 0 sh -H Authorization: Bearer ***)',
      );
      expect(t.stderr).toContain('vault-tool: hint: hand it over from the vault instead: --env NAME=ENTRY, and the command reads $NAME\n');
      expect(t.stderr).not.toContain(token);
    } finally {
      p.cleanup();
    }
  });
});

describe('backup exec --env', () => {
  const files = (c: string) => readdirSync(join(dir, 'repo', c));
  // The backup key exists before any of these (the first backup would otherwise make it, and say so).
  beforeAll(async () => expect((await cli(dir, ['backup', 'key'])).code).toBe(0));

  it('hands entries to the dump command in its environment; the manifest and the messages never carry them', async () => {
    const seen = evidence().length;
    const r = await cli(dir, ['backup', 'exec', '--name', 'api', '-r', 'repo', '--env', 'TOKEN=api/token', '--', 'sh', '-c', 'printf "dump for %s" "$TOKEN"']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('warning');
    const manifest = files('exec/api').find((f) => f.endsWith('.manifest.json') && readFileSync(join(dir, 'repo/exec/api', f), 'utf8').includes('TOKEN'))!;
    const text = readFileSync(join(dir, 'repo/exec/api', manifest), 'utf8');
    expect(text).not.toContain(VALUE);
    expect(JSON.parse(text).tool.args).toEqual(['-c', 'printf "dump for %s" "$TOKEN"']);
    const out = await cli(dir, ['backup', 'restore', `exec/api/${manifest.replace('.manifest.json', '')}`, '-r', 'repo', '-o', 'restored']);
    expect(out.code, out.stderr).toBe(0);
    expect(readFileSync(join(dir, 'restored'), 'utf8')).toBe(`dump for ${VALUE}`);
    const run = evidence()
      .slice(seen)
      .find((e) => e.event === 'run' && e.data.component === 'exec/api');
    expect(run.data).toEqual({ command: 'sh', component: 'exec/api', entries: [{ entry: 'api/token', version: 2, env: 'TOKEN' }] });
  });

  it('the passphrase variable of a protected key reaches no dump command, with --env or without (in process, and as a process)', async () => {
    const p = tempDir('vt-exec-pw-');
    try {
      const env = { PW: 'correct horse' };
      expect((await cli(p.dir, ['init', '--passphrase', '--passphrase-env', 'PW', '--work-factor', '10'], { env })).code).toBe(0);
      expect((await cli(p.dir, ['add', 'k', '-t', 'generic', '--from-stdin', '--passphrase-env', 'PW'], { env, stdin: VALUE })).code).toBe(0);
      const seen = (n: string) => readFileSync(join(p.dir, n), 'utf8');
      const dump = (n: string) => ['sh', '-c', `printf %s "\${PW-unset}" > ${join(p.dir, n)}; echo data`];
      const a = await cli(p.dir, ['backup', 'exec', '--name', 'a', '-r', 'repo', '--passphrase-env', 'PW', '--', ...dump('a')], { env });
      expect(a.code, a.stderr).toBe(0);
      expect(seen('a')).toBe('unset');
      const b = await spawnCli(p.dir, ['backup', 'exec', '--name', 'b', '-r', 'repo', '--passphrase-env', 'PW', '--', ...dump('b')], { env });
      expect(b.code, b.stderr).toBe(0);
      expect(seen('b')).toBe('unset');
      const c = await spawnCli(p.dir, ['backup', 'exec', '--name', 'c', '-r', 'repo', '--passphrase-env', 'PW', '--env', 'K=k', '--', ...dump('c')], { env });
      expect(c.code, c.stderr).toBe(0);
      expect(seen('c')).toBe('unset');
    } finally {
      p.cleanup();
    }
  });

  it('refuses a variable the loader reads as its own, before anything runs or is recorded', async () => {
    const before = evidence().length;
    const r = await cli(dir, ['backup', 'exec', '--name', 'x', '-r', 'repo', '--env', 'LD_PRELOAD=api/token', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'vault-tool: error: a key is never handed over in LD_PRELOAD: the dynamic loader reads it as its own setting, and its errors print the value\n' +
        "vault-tool: hint: hand it over in a variable of the command's own (--env NAME=ENTRY, not LD_PRELOAD), or on a file descriptor (--fd 3=ENTRY, read from /dev/fd/3)\n",
    );
    expect(evidence().length).toBe(before);
  });

  it('a dump tool that fails quoting the value it was given: the error shows ***', async () => {
    const r = await cli(dir, ['backup', 'exec', '--name', 'api', '-r', 'repo', '-e', 'T=api/token', '--', 'sh', '-c', 'echo "denied for $T" >&2; exit 3']);
    expect(r.code).toBe(19);
    expect(r.stderr).toBe('vault-tool: error: sh failed (exit 3): denied for ***; nothing was kept\n');
  });

  it('a bearer token on the command line: warned with the way out, redacted in the manifest and in every message', async () => {
    const token = 'tok-4f9d2b7e1a';
    const args = ['sh', '-c', 'echo "> $2" >&2; exit 1', 'sh', '-H', `Authorization: Bearer ${token}`];
    const failed = await cli(dir, ['backup', 'exec', '--name', 'curl', '-r', 'repo', '--', ...args]);
    expect(failed.code).toBe(19);
    expect(failed.stderr.replace(/^made the backup key .*\n/m, '')).toBe(
      'vault-tool: warning: the command line holds what looks like a password or token (sh -c echo "> $2" >&2; exit 1 sh -H Authorization: Bearer ***): any user of this host can read it while the command runs (ps, /proc)\n' +
        'vault-tool: hint: hand it over from the vault instead: --env NAME=ENTRY, and the command reads $NAME\n' +
        'vault-tool: error: sh failed (exit 1): > Authorization: Bearer ***; nothing was kept\n',
    );
    const ok = await cli(dir, ['backup', 'exec', '--name', 'curl', '-r', 'repo', '--', 'sh', '-c', 'echo dump', 'sh', '-H', `Authorization: Bearer ${token}`]);
    expect(ok.code).toBe(0);
    const manifest = files('exec/curl').find((f) => f.endsWith('.manifest.json'))!;
    const m = JSON.parse(readFileSync(join(dir, 'repo/exec/curl', manifest), 'utf8'));
    expect(m.tool.args).toEqual(['-c', 'echo dump', 'sh', '-H', 'Authorization: Bearer ***']);
    expect(JSON.stringify(m)).not.toContain(token);
  });

  it('--env needs the vault here', async () => {
    const r = await cli(dir, ['backup', 'exec', '--name', 'x', '-r', 'repo', '--vault-file', 'elsewhere.vault', '-e', 'T=api/token', '--', 'true']);
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([
      2,
      'vault-tool: error: --env reads entries from the vault: run where the vault and its key are (--vault-file, --key-file)',
    ]);
  });
});
