import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, createWriteStream, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VaultError } from '../errors/errors.js';
import { registerCleanup } from '../fs/cleanup.js';
import { formatSeconds } from '../vault/duration.js';
import type { Consumer } from './pipeline.js';

type Env = Record<string, string | undefined>;

/**
 * External tools (psql, createdb, pg_restore, tar, redis-check-rdb) run with
 * a time bound, each in its own process group: on expiry, or when the caller
 * gives up, the whole group is killed (a tool's own children with it), so
 * nothing is left running. A process group still alive when vault-tool
 * exits (Ctrl-C) is killed on the way out; `onStart` tells the caller the
 * group's id first, so a run that is killed outright (SIGKILL) leaves a
 * record the next run can act on.
 *
 * A failed tool's error keeps the lines that say why (PostgreSQL's
 * `ERROR:`/`FATAL:`, a tool's `error:`), bounded, never only the last line
 * of its stderr (often a caret under the SQL).
 */
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

const IMPORTANT = /\b(ERROR|FATAL|PANIC):|\berror:|\bfatal:/;

/**
 * What a tool said about its failure: its ERROR:/FATAL:/error: lines (at
 * most 5, each at most 300 characters), else its last three lines; at most
 * 1,000 characters in all.
 */
export function toolMessage(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
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

const running = new Set<number>();
let hooked = false;

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

function track(child: ChildProcess): () => void {
  const pid = child.pid;
  if (!pid) return () => {};
  if (!hooked) {
    hooked = true;
    registerCleanup(() => {
      for (const p of running) killGroup(p);
    });
  }
  running.add(pid);
  return () => running.delete(pid);
}

function started(cmd: string, args: string[], o: ToolOptions, stdin: 'pipe' | 'ignore'): ChildProcess {
  const child = spawn(cmd, args, { env: o.env as NodeJS.ProcessEnv, stdio: [stdin, 'pipe', 'pipe'], detached: true });
  if (child.pid) o.onStart?.(child.pid);
  return child;
}

const missing = (cmd: string) => new VaultError('not-found', `${cmd} is not installed`, { code: 'tool-missing', data: { tool: cmd } });

const timedOut = (label: string, ms: number) =>
  new VaultError('io', `${label} did not finish within ${ms < 1000 ? `${ms} ms` : formatSeconds(ms / 1000)}: it was stopped`, {
    code: 'tool-timeout',
    data: { tool: label },
  });

/** Runs a tool to the end (or its time bound); its stdout (at most 1 MiB kept). */
export async function runTool(cmd: string, args: string[], o: ToolOptions): Promise<string> {
  const label = o.label ?? cmd;
  const child = started(cmd, args, o, o.input !== undefined ? 'pipe' : 'ignore');
  const untrack = track(child);
  let out = '';
  const err = new Kept();
  child.stdout!.on('data', (c: Buffer) => {
    if (out.length < 1 << 20) out += c.toString('utf8');
  });
  child.stderr!.on('data', (c: Buffer) => err.add(c));
  if (typeof o.input === 'string') {
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(o.input);
  } else if (o.input) {
    const input = o.input;
    child.stdin!.on('error', () => undefined);
    pipeline(input, child.stdin!).catch(() => undefined);
    child.on('close', () => input.destroy());
  }
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    killGroup(child.pid);
  }, o.timeoutMs);
  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res, rej) => {
      child.on('error', (e) => rej((e as NodeJS.ErrnoException).code === 'ENOENT' ? missing(cmd) : new VaultError('io', `${cmd}: ${e.message}`)));
      child.on('close', (code, signal) => res({ code, signal }));
    });
    if (expired) throw timedOut(label, o.timeoutMs);
    if (code !== 0) {
      const why = toolMessage(err.text());
      throw new VaultError('io', `${label} failed (${signal ? `killed by ${signal}` : `exit ${code}`})${why ? `: ${why}` : ''}`, {
        code: 'tool-failed',
        data: { tool: cmd },
      });
    }
    return out;
  } finally {
    clearTimeout(timer);
    killGroup(child.pid);
    untrack();
  }
}

/** A named pipe in a private folder, for a checker that opens a path (redis-check-rdb). */
function fifo(): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vault-tool-fifo-'));
  const path = join(dir, 'data');
  try {
    execFileSync('mkfifo', ['-m', '600', path], { stdio: 'ignore' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new VaultError('io', `cannot make a named pipe in ${dir}: ${(e as Error).message}`);
  }
  const unregister = registerCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return {
    path,
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
      unregister();
    },
  };
}

/**
 * A process consumer (the pipeline's `process` kind) run with a time bound
 * in its own process group: the plaintext goes to its stdin (or a named
 * pipe for `{input}`), and its exit status is the verdict. Other consumers
 * are returned as they are.
 */
export function bounded(c: Consumer, o: { timeoutMs: number; onStart?: (pid: number) => void }): Consumer {
  if (c.kind !== 'process') return c;
  return {
    kind: 'inline',
    label: c.label,
    consume: async (r: Readable) => {
      const pipe = c.fifo ? fifo() : undefined;
      const args = pipe ? c.args.map((a) => (a === '{input}' ? pipe.path : a)) : c.args;
      const child = started(c.command, args, { env: c.env, timeoutMs: o.timeoutMs, ...(o.onStart ? { onStart: o.onStart } : {}) }, pipe ? 'ignore' : 'pipe');
      const untrack = track(child);
      const err = new Kept();
      child.stderr!.on('data', (x: Buffer) => err.add(x));
      // A checker reading a pipe reports on stdout too (redis-check-rdb does).
      child.stdout!.on('data', (x: Buffer) => err.add(x));
      let expired = false;
      const timer = setTimeout(() => {
        expired = true;
        killGroup(child.pid);
        r.destroy();
      }, o.timeoutMs);
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res, rej) => {
        child.on('error', (e) => rej((e as NodeJS.ErrnoException).code === 'ENOENT' ? missing(c.command) : new VaultError('io', `${c.command}: ${e.message}`)));
        child.on('close', (code, signal) => res({ code, signal }));
      });
      exited.catch(() => undefined);
      // If the checker dies before opening the pipe, our open would wait for ever: open it once for reading to release it.
      const release = () => {
        if (!pipe) return;
        try {
          closeSync(openSync(pipe.path, constants.O_RDONLY | constants.O_NONBLOCK));
        } catch {
          /* already gone */
        }
      };
      exited.finally(release).catch(() => undefined);
      const sink: Writable = pipe ? createWriteStream(pipe.path) : child.stdin!;
      sink.on('error', () => undefined);
      try {
        const flow = pipeline(r, sink).then(
          () => null,
          (e: unknown) => {
            // Not the tool closing its input: the data stopped (a decryption error, the caller gave up); stop the tool too.
            const code = (e as NodeJS.ErrnoException).code;
            if (code !== 'EPIPE' && code !== 'ERR_STREAM_PREMATURE_CLOSE') killGroup(child.pid);
            return e;
          },
        );
        const [flowError, exit] = await Promise.all([flow, exited]);
        if (expired) throw timedOut(c.label, o.timeoutMs);
        if (exit.signal || exit.code !== 0) {
          const why = toolMessage(err.text());
          throw new VaultError(
            'verify-failed',
            `${c.label} failed (${exit.signal ? `killed by ${exit.signal}` : `exit ${exit.code}`})${why ? `: ${why}` : ''}`,
          );
        }
        // The tool succeeded but stopped reading before the end: it has not seen everything.
        if (flowError) {
          const e = flowError as NodeJS.ErrnoException;
          if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_PREMATURE_CLOSE')
            throw new VaultError('verify-failed', `${c.label} stopped reading before the end of the data`);
          throw e;
        }
      } finally {
        clearTimeout(timer);
        killGroup(child.pid);
        untrack();
        pipe?.remove();
      }
    },
  };
}
