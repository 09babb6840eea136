import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { run } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/vault-tool.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface CliOptions {
  stdin?: string | Buffer;
  env?: Record<string, string | undefined>;
  stdoutIsTTY?: boolean;
  /** A fixed clock for the command. */
  now?: Date;
}

/** Runs the CLI in-process in `dir`, with its own state folder and no inherited vault paths. */
export async function cli(dir: string, args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const io: Io = {
    stdout: { write: (c) => out.push(Buffer.from(c)) },
    stderr: { write: (c) => err.push(Buffer.from(c)) },
    stdin: Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]),
    env: { HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state'), PATH: process.env.PATH, ...opts.env },
    stdinIsTTY: false,
    stdoutIsTTY: Boolean(opts.stdoutIsTTY),
    stderrIsTTY: false,
    cwd: dir,
    ...(opts.now ? { now: () => opts.now! } : {}),
  };
  const code = await run(args, io);
  const stdoutBytes = Buffer.concat(out);
  return { code, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes };
}

/** Runs the built binary as a separate process. */
export function spawnCli(dir: string, args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state'), ...opts.env } as NodeJS.ProcessEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr.on('data', (c: Buffer) => err.push(c));
    p.on('error', rej);
    p.on('close', (code) => {
      const stdoutBytes = Buffer.concat(out);
      res({ code: code ?? -1, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
    p.stdin.end(opts.stdin ?? '');
  });
}

export function tempDir(prefix = 'vt-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Whether an external binary is present (require.ts: under CI=true a missing one fails the run). */
export { needs as haveBinary } from './require.js';
