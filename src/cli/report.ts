import { CommanderError } from 'commander';
import type { ErrorCode } from '../errors/codes.js';
import { VaultError } from '../errors/errors.js';
import { EXIT_CODES, exitCodeFor } from './exit-codes.js';
import { ERROR_CODES } from './hints.js';
import type { Io } from './io.js';

/**
 * An error whose exit code is not its kind's: a command that `run` cannot
 * start exits 127 (not found) or 126 (not runnable), as shells and env(1) do,
 * so that a script tells it from the command's own exit codes.
 */
export class ExitCodeError extends VaultError {
  readonly exitCode: number;
  constructor(exitCode: number, message: string) {
    super('usage', message);
    this.exitCode = exitCode;
  }
}

/** The CLI's hint for a condition code (every code has one: hints.ts), given the names it may use and the library's own hint. */
export function hintText(code: ErrorCode, data: Record<string, string> = {}, own?: string): string {
  const h = ERROR_CODES[code].hint;
  return typeof h === 'function' ? h(data, own) : h;
}

/** The hint for an error: the CLI's for its code, else the library's own. */
export function hintFor(e: VaultError): string | undefined {
  return e.code ? hintText(e.code, e.data ?? {}, e.hint) : e.hint;
}

/**
 * Turns whatever a command threw into one error line, a hint line where one
 * helps, and an exit code. `scrub` hides the secret values the run handled
 * (a tool's error output quoting them).
 */
export function reportError(e: unknown, io: Io, scrub: (text: string) => string = (t) => t): number {
  const raw = io.stderr;
  io = { ...io, stderr: { write: (s: string | Uint8Array) => raw.write(typeof s === 'string' ? scrub(s) : s) } };
  if (e instanceof CommanderError) {
    // Help and version exit through here with code 0; usage errors were already printed by commander.
    return e.exitCode === 0 ? 0 : EXIT_CODES.usage.code;
  }
  if (e instanceof VaultError) {
    // restore_command asks for files that may not exist: their absence is an exit status, not a message.
    if (e.code === 'wal-absent') return exitCodeFor(e.kind);
    io.stderr.write(`vault-tool: error: ${e.message}\n`);
    const hint = hintFor(e);
    if (hint) io.stderr.write(`vault-tool: hint: ${hint}\n`);
    if (io.env.VAULT_TOOL_DEBUG === '1') io.stderr.write(`${e.stack}\n`);
    return e instanceof ExitCodeError ? e.exitCode : exitCodeFor(e.kind);
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOSPC' || err?.code === 'EDQUOT' || err?.code === 'EACCES' || err?.code === 'EROFS' || err?.code === 'EPERM') {
    // A file system error no library call classified: say it once, in words.
    const what = {
      ENOSPC: 'no space left on the device',
      EDQUOT: 'disk quota exceeded',
      EACCES: 'permission denied',
      EPERM: 'operation not permitted',
      EROFS: 'read-only file system',
    }[err.code];
    const where = err.path ? ` (${err.syscall ? `${err.syscall} ` : ''}${err.path})` : '';
    io.stderr.write(`vault-tool: error: ${what}${where}\n`);
    return EXIT_CODES.io.code;
  }
  if (err?.name === 'ExitPromptError') {
    io.stderr.write('vault-tool: error: interrupted\n');
    return EXIT_CODES.interrupted.code;
  }
  io.stderr.write(`vault-tool: error: unexpected: ${err?.message ?? String(e)}\n`);
  io.stderr.write(io.env.VAULT_TOOL_DEBUG === '1' ? `${err?.stack}\n` : 'vault-tool: hint: rerun with VAULT_TOOL_DEBUG=1 for details\n');
  return EXIT_CODES.internal.code;
}
