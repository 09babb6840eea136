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

/** For an output option of a command that has no --force: an existing file is refused with "give a new file", not "add --force". */
export function asNewFileOnly(e: unknown): unknown {
  return e instanceof VaultError && e.code === 'output-exists' ? new VaultError(e.kind, e.message, { code: 'output-must-be-new' }) : e;
}

/** The hint for an error: the CLI's for its code, else the library's own. */
export function hintFor(e: VaultError): string | undefined {
  return e.code ? hintText(e.code, e.data ?? {}, e.hint) : e.hint;
}

/** Characters that would let a name printed in a message start a new line, erase or reorder what the terminal shows. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

/**
 * Control characters as visible escapes (a newline as `\n`, others as
 * `\xNN` or `\uNNNN`): a file name holding a newline cannot split a
 * message, nor forge a `vault-tool: hint:` line under it.
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/** The same, keeping line breaks and tabs: for stdout text of several lines (a table, a summary), never a terminal sequence. */
export function escapeControlKeepLines(text: string): string {
  return text
    .split('\n')
    .map((l) => l.split('\t').map(escapeControl).join('\t'))
    .join('\n');
}

export type MessageKind = 'error' | 'warning' | 'hint' | 'info';

/**
 * Writes one message to stderr as one line: `vault-tool: error: …`,
 * `vault-tool: warning: …`, `vault-tool: hint: …`, or a plain line (info).
 * Every message the CLI prints goes through here, its control characters
 * escaped, so no call site can print a name raw.
 */
export function writeMessage(io: Pick<Io, 'stderr'>, kind: MessageKind, message: string): void {
  io.stderr.write(`${kind === 'info' ? '' : `vault-tool: ${kind}: `}${escapeControl(message)}\n`);
}

/** A usage error as commander words it, on one line (its "did you mean" suggestion on the next). */
export function commanderMessage(text: string): string {
  return `vault-tool: ${text.replace(/\n$/, '').split('\n(Did you mean ').map(escapeControl).join('\n(Did you mean ')}\n`;
}

/**
 * Turns whatever a command threw into one error line, a hint line where one
 * helps, and an exit code. `scrub` hides the secret values the run handled
 * (a tool's error output quoting them).
 */
export function reportError(e: unknown, io: Io, scrub: (text: string) => string = (t) => t): number {
  // Secret values are hidden first, then control characters escaped (writeMessage).
  const say = (kind: MessageKind, message: string) => writeMessage(io, kind, scrub(message));
  if (e instanceof CommanderError) {
    // Help and version exit through here with code 0; usage errors were already printed by commander.
    return e.exitCode === 0 ? 0 : EXIT_CODES.usage.code;
  }
  if (e instanceof VaultError) {
    // restore_command asks for files that may not exist: their absence is an exit status, not a message.
    if (e.code === 'wal-absent') return exitCodeFor(e.kind);
    say('error', e.message);
    const hint = hintFor(e);
    if (hint) say('hint', hint);
    if (io.env.VAULT_TOOL_DEBUG === '1') io.stderr.write(`${scrub(String(e.stack))}\n`);
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
    say('error', `${what}${where}`);
    return EXIT_CODES.io.code;
  }
  if (err?.name === 'ExitPromptError') {
    say('error', 'interrupted');
    return EXIT_CODES.interrupted.code;
  }
  say('error', `unexpected: ${err?.message ?? String(e)}`);
  if (io.env.VAULT_TOOL_DEBUG === '1') io.stderr.write(`${scrub(String(err?.stack))}\n`);
  else say('hint', 'rerun with VAULT_TOOL_DEBUG=1 for details');
  return EXIT_CODES.internal.code;
}
