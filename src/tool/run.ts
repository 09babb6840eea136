import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VaultError } from '../errors/errors.js';
import { registerCleanup } from '../fs/cleanup.js';
import { formatSeconds } from '../vault/duration.js';
import { Watchdog } from './bound.js';
import { pgClient } from './pg-client.js';

type Env = Record<string, string | undefined>;

/**
 * The one way vault-tool runs an external program (a dump tool, a checker,
 * psql, createdb, rclone): `startTool` starts it with a bound, by default in
 * its own process group, and keeps what it says; `runTool` runs a short call
 * to the end and returns its output.
 *
 * The bound is either a time to finish in (`idle: false`) or a time without
 * progress (`idle: true`: no byte on stdout, and no `kick` from a caller
 * feeding its input; what it says on stderr, retries and warnings, is not
 * progress). On expiry, or when the caller gives up, the program is
 * killed (its whole group, a tool's own children with it) and its pipes
 * closed, so nothing is left running or waiting. What a tool leaves in its
 * group is killed when the tool exits, and its id is then forgotten (the
 * kernel may give it to another process). A tool still running when
 * vault-tool exits (Ctrl-C) is killed on the way out; `onStart` tells
 * the caller its id first, so a run killed outright (SIGKILL) leaves a
 * record the next run can act on.
 *
 * A failed program's message keeps the lines that say why (PostgreSQL's
 * `ERROR:`/`FATAL:`, a tool's `error:`), bounded, never only the last line
 * of its stderr (often a caret under the SQL).
 */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartOptions {
  env: Env;
  /** Its stdin: a pipe the caller writes, or nothing. */
  stdin?: 'pipe' | 'ignore';
  /** In its own process group (default true); false: in vault-tool's (it gets the terminal's Ctrl-C as vault-tool does). */
  group?: boolean;
  /** What it prints on stdout is part of what it says (a checker that reports there); otherwise stdout is the caller's. */
  stdoutSays?: boolean;
  /** Its bound, in milliseconds: to finish in, or (`idle`) without progress. */
  bound?: { ms: number; idle?: boolean };
  /** Called once when the bound stops it (after it is killed). */
  onExpire?: () => void;
  /** Told the process (group) id as soon as it runs. */
  onStart?: (pid: number) => void;
  /** What it is needed for, said when it is not installed ("this backup"). */
  purpose?: string;
}

export interface Running {
  child: ChildProcess;
  /** Settles once it has exited and its output is closed; rejects only when it could not be started. */
  exited: Promise<Exit>;
  /** Whether its bound stopped it. */
  readonly expired: boolean;
  /** What it said (stderr, and stdout when that is its message): its beginning and its end, bounded. */
  said(): string;
  /** The lines of what it said that tell why it failed (`toolMessage`). */
  why(): string;
  /** Progress that is not output (the caller fed its input). */
  kick(): void;
  /** Stops it for good: SIGKILL to it (its whole group), its pipes closed on our side. */
  kill(): void;
}

const IMPORTANT = /\b(ERROR|FATAL|PANIC):|\berror:|\bfatal:/;

/**
 * What a tool said about its failure: its ERROR:/FATAL:/error: lines (at
 * most 5, each at most 300 characters), else its last three lines; at most
 * 1,000 characters in all. A line indented by a tab continues the one above
 * it (libpq's "\tIs the server running on that host…?" under the line
 * naming the host, the port and the reason): the two are kept together,
 * never the continuation alone.
 */
export function toolMessage(output: string): string {
  const lines: string[] = [];
  for (const raw of output.split('\n')) {
    const l = raw.trim();
    if (!l) continue;
    if (raw.startsWith('\t') && lines.length) lines[lines.length - 1] += ` (${l})`;
    else lines.push(l);
  }
  const important = lines.filter((l) => IMPORTANT.test(l));
  const kept = (important.length ? important.slice(0, 5) : lines.slice(-3)).map((l) => (l.length > 300 ? `${l.slice(0, 297)}...` : l));
  const text = kept.join('; ');
  return text.length > 1000 ? `${text.slice(0, 997)}...` : text;
}

/** Keeps the start (where the first ERROR is) and the end of a stream's text, bounded. */
class Kept {
  private head = '';
  private tail = '';
  add(c: Buffer | string): void {
    const s = c.toString();
    if (this.head.length < 16_384) this.head += s.slice(0, 16_384 - this.head.length);
    this.tail = (this.tail + s).slice(-4096);
  }
  text(): string {
    return this.head.length < 16_384 ? this.head : `${this.head}\n${this.tail}`;
  }
}

/** What runs now, stopped if vault-tool exits first (SIGINT, SIGTERM): a process group by its id, a process of vault-tool's own group by its pid. */
const running = new Map<number, 'group' | 'process'>();
let hooked = false;

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

function killProcess(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/**
 * Until it is untracked, `pid` is killed if vault-tool exits: a signal sent
 * to vault-tool alone (SIGTERM from a supervisor, a timeout) reaches neither
 * a group of its own nor a process in vault-tool's group, and either would
 * be left running (a dump waiting on a lock, holding its snapshot).
 */
function track(pid: number | undefined, group: boolean): () => void {
  if (!pid) return () => {};
  if (!hooked) {
    hooked = true;
    registerCleanup(() => {
      for (const [p, how] of running)
        if (how === 'group') killGroup(p);
        else killProcess(p);
    });
  }
  running.set(pid, group ? 'group' : 'process');
  return () => running.delete(pid);
}

/** A process started in vault-tool's own group by other means than `startTool`: killed if vault-tool exits while it runs. */
export function stopAtExit(child: ChildProcess): void {
  const untrack = track(child.pid, false);
  child.on('exit', untrack);
}

/** `cmd` is not installed (its code names the tool, for the hint). */
export const toolMissing = (cmd: string, purpose?: string) =>
  new VaultError('not-found', `${cmd} is not installed${purpose ? ` (needed for ${purpose})` : ''}`, { code: 'tool-missing', data: { tool: cmd } });

/** Starts a program with an argument array (no shell reads them), its bound and its messages kept. */
export function startTool(cmd: string, args: string[], o: StartOptions): Running {
  const group = o.group ?? true;
  // A PostgreSQL client runs without Debian's pg_wrapper in between (pg-client.ts); messages still name it as given.
  const child = spawn(pgClient(cmd, o.env), args, { env: o.env as NodeJS.ProcessEnv, stdio: [o.stdin ?? 'ignore', 'pipe', 'pipe'], detached: group });
  if (child.pid) o.onStart?.(child.pid);
  const untrack = track(child.pid, group);
  const said = new Kept();
  let expired = false;
  // Once it has exited, its id may be given to another process (and group): never signalled again.
  let gone = false;
  const kill = () => {
    if (gone) {
      /* nothing of it is left to stop */
    } else if (group) killGroup(child.pid);
    else {
      try {
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
    child.stdin?.destroy();
    child.stdout?.destroy();
    child.stderr?.destroy();
    untrack();
  };
  const dog = o.bound
    ? new Watchdog(o.bound.ms, () => {
        expired = true;
        kill();
        o.onExpire?.();
      })
    : undefined;
  const progress = () => {
    if (o.bound?.idle) dog?.kick();
  };
  child.stderr!.on('data', (c: Buffer) => said.add(c));
  child.stdout!.on('data', (c: Buffer) => {
    if (o.stdoutSays) said.add(c);
    progress();
  });
  const exited = new Promise<Exit>((res, rej) => {
    child.on('error', (e) => {
      dog?.stop();
      rej((e as NodeJS.ErrnoException).code === 'ENOENT' ? toolMissing(cmd, o.purpose) : new VaultError('io', `${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      dog?.stop();
      res({ code, signal });
    });
  });
  exited.catch(() => undefined);
  // A program that failed but left something holding its output open (sh -c 'x & exit 1') would keep 'close' away: after a moment, stop waiting for its output.
  child.on('exit', (code) => {
    // Its pid is free once it has exited and been reaped (another process, another group, may get it): what it left in its
    // group goes with it now, while the id is still that group's, and the id is never signalled again.
    if (group) killGroup(child.pid);
    gone = true;
    untrack();
    if (code === 0) return;
    setTimeout(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
    }, 500).unref();
  });
  return {
    child,
    exited,
    get expired() {
      return expired;
    },
    said: () => said.text(),
    why: () => toolMessage(said.text()),
    kick: () => dog?.kick(),
    kill: () => {
      dog?.stop();
      kill();
    },
  };
}

export interface ToolOptions {
  env: Env;
  /** The time bound, in milliseconds. */
  timeoutMs: number;
  /** What the step is, for messages ("pg_restore into drill_orders"); default: the command. */
  label?: string;
  /** What to write on the tool's stdin: text, or a stream (destroyed if the tool stops reading before its end). */
  input?: string | Readable;
  /** Told the process (group) id as soon as it runs. */
  onStart?: (pid: number) => void;
}

/** The bound as people read it. */
const boundText = (ms: number) => (ms < 1000 ? `${ms} ms` : formatSeconds(ms / 1000));

export const toolTimedOut = (label: string, ms: number) =>
  new VaultError('io', `${label} did not finish within ${boundText(ms)}: it was stopped`, { code: 'tool-timeout', data: { tool: label } });

/** Runs a tool to the end (or its time bound), in its own process group; its stdout (at most 1 MiB kept). */
export async function runTool(cmd: string, args: string[], o: ToolOptions): Promise<string> {
  const label = o.label ?? cmd;
  const run = startTool(cmd, args, {
    env: o.env,
    stdin: o.input !== undefined ? 'pipe' : 'ignore',
    bound: { ms: o.timeoutMs },
    ...(o.onStart ? { onStart: o.onStart } : {}),
  });
  const child = run.child;
  let out = '';
  // Decoded as a stream: a character cut between two reads is kept whole.
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (c: string) => {
    if (out.length < 1 << 20) out += c;
  });
  if (typeof o.input === 'string') {
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(o.input);
  } else if (o.input) {
    const input = o.input;
    child.stdin!.on('error', () => undefined);
    pipeline(input, child.stdin!).catch(() => undefined);
    child.on('close', () => input.destroy());
  }
  try {
    const { code, signal } = await run.exited;
    if (run.expired) throw toolTimedOut(label, o.timeoutMs);
    if (code !== 0) {
      const why = run.why();
      throw new VaultError('io', `${label} failed (${signal ? `killed by ${signal}` : `exit ${code}`})${why ? `: ${why}` : ''}`, {
        code: 'tool-failed',
        data: { tool: cmd },
      });
    }
    return out;
  } finally {
    // Whatever it left in its group goes with it.
    run.kill();
  }
}
