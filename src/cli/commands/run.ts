import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { constants as os } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { handOver } from '../../vault/handover.js';
import type { Context } from '../context.js';
import { parseEnvSpecs, parseFdSpecs, secretDescriptor, warnSecretArgs, type SecretPipe } from '../handover.js';
import { collect } from '../options.js';
import { ExitCodeError } from '../report.js';

interface RunOptions {
  env?: string[];
  fd?: string[];
}

/** The file `file` runs, as execvp finds it: a path as given, else the first match in PATH. */
function findExecutable(file: string, path = ''): string {
  const runnable = (p: string) => {
    try {
      if (!statSync(p).isFile()) return 'no';
      accessSync(p, constants.X_OK);
      return 'yes';
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EACCES' ? 'no' : 'missing';
    }
  };
  const candidates = file.includes('/') ? [file] : path.split(delimiter).map((d) => join(d || '.', file));
  let denied: string | undefined;
  for (const c of candidates) {
    const r = runnable(c);
    if (r === 'yes') return c;
    if (r === 'no') denied ??= c;
  }
  if (denied) throw new ExitCodeError(126, `${file}: cannot run ${denied} (not an executable file, or permission denied)`);
  throw new ExitCodeError(127, `${file}: command not found`);
}

/** Signals vault-tool passes on to the command while it runs. */
const FORWARDED = ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

/**
 * Passes the signals vault-tool receives on to the command (vault-tool
 * itself then waits for the command's exit). Installed before the command
 * starts, so that a signal in between is held and passed on once it runs.
 * From a terminal, Ctrl-C and Ctrl-\ reach the command directly (it is in
 * the terminal's foreground group), so SIGINT and SIGQUIT are not sent twice.
 */
function relaySignals(terminal: boolean): { attach: (child: ChildProcess) => void; undo: () => void } {
  const saved = FORWARDED.map((s) => [s, process.listeners(s)] as const);
  let child: ChildProcess | undefined;
  const held: NodeJS.Signals[] = [];
  const pass = (s: NodeJS.Signals) => {
    if (terminal && (s === 'SIGINT' || s === 'SIGQUIT')) return;
    if (child) child.kill(s);
    else held.push(s);
  };
  for (const [s] of saved) {
    process.removeAllListeners(s);
    process.on(s, pass);
  }
  return {
    attach: (c) => {
      child = c;
      for (const s of held.splice(0)) c.kill(s);
    },
    undo: () => {
      for (const [s, listeners] of saved) {
        process.removeListener(s, pass);
        for (const l of listeners) process.on(s, l as NodeJS.SignalsListener);
      }
    },
  };
}

export default function run(cmd: Command, ctx: Context): void {
  cmd
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-e, --env <NAME=ENTRY[@N]>', "set NAME in the command's environment to the entry's value (repeatable)", collect)
    .option('--fd <N=ENTRY[@N]>', "give the command the entry's value on descriptor N, from 3: it reads /dev/fd/N (binary-safe; repeatable)", collect)
    .action(async (command: string[], o: RunOptions) => {
      const requests = [...parseEnvSpecs(o.env), ...parseFdSpecs(o.fd)];
      if (!requests.length) throw new VaultError('usage', 'nothing to hand over: give --env NAME=ENTRY or --fd N=ENTRY');
      const [file, ...args] = command as [string, ...string[]];
      warnSecretArgs(ctx, command);
      const env: Record<string, string | undefined> = { ...ctx.io.env };
      const path = findExecutable(file, env.PATH);
      const g = ctx.globals(cmd);
      const handed = await handOver(ctx.paths(cmd), ctx.storeOptions(cmd), requests, { command: file, now: ctx.now() });
      ctx.conceal(handed.map((h) => h.value));
      // The vault key's passphrase is for vault-tool, not for the command.
      if (g.passphraseEnv) delete env[g.passphraseEnv];
      for (const h of handed) if ('env' in h.to) env[h.to.env] = h.value.toString('utf8');
      const fds = handed.flatMap((h) => ('fd' in h.to ? [{ n: h.to.fd, value: h.value }] : []));
      const pipes = new Map<number, SecretPipe>();
      try {
        for (const f of fds) pipes.set(f.n, secretDescriptor(f.value));
      } catch (e) {
        for (const p of pipes.values()) p.discard();
        throw e;
      }
      // The command uses this process's own terminal and streams; an embedding caller's (tests) are copied through.
      const own = { in: ctx.io.stdin === process.stdin, out: ctx.io.stdout === process.stdout, err: ctx.io.stderr === process.stderr };
      const stdio: StdioOptions = [own.in ? 'inherit' : 'pipe', own.out ? 'inherit' : 'pipe', own.err ? 'inherit' : 'pipe'];
      for (let n = 3; n <= Math.max(2, ...pipes.keys()); n++) stdio.push(pipes.get(n)?.fd ?? 'ignore');
      const relay = relaySignals(ctx.io.stdinIsTTY);
      let child: ChildProcess;
      try {
        child = spawn(path, args, { argv0: file, env: env as NodeJS.ProcessEnv, stdio });
      } catch (e) {
        relay.undo();
        for (const p of pipes.values()) p.discard();
        throw new ExitCodeError(126, `${file}: cannot run it: ${(e as Error).message}`);
      }
      relay.attach(child);
      try {
        if (!own.out) child.stdout!.on('data', (c: Buffer) => ctx.io.stdout.write(c));
        if (!own.err) child.stderr!.on('data', (c: Buffer) => ctx.io.stderr.write(c));
        if (!own.in) {
          child.stdin!.on('error', () => undefined);
          ctx.io.stdin.pipe(child.stdin!);
        }
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res, rej) => {
          child.on('error', (e) => rej(new ExitCodeError(126, `${file}: cannot run it: ${e.message}`)));
          child.on('close', (code, signal) => res({ code, signal }));
        });
        const fed = fds.map((f) => pipes.get(f.n)!.feed());
        const { code, signal } = await exited;
        await Promise.all(fed);
        // The command's own exit code, or 128 + the signal that ended it, as a shell reports it.
        ctx.exitCode = code ?? 128 + (signal ? (os.signals[signal] ?? 0) : 0);
      } finally {
        relay.undo();
      }
    });
}
