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
 * How this run writes its own lines on stderr: as text (`vault-tool:
 * warning: …`), or, with `--json` (or `-o json|yaml`), as one JSON object a
 * line, of the same family as the progress events (docs/CLI.md, "Messages"),
 * so that a program reads stderr as JSON lines whatever the command says.
 */
export type MessageFormat = 'text' | 'json';

/** A warning, a hint, a notice (info), a question asked on stdin, or help (commander's, on stderr after a usage error), with --json. */
export interface MessageEvent {
  type: 'warning' | 'hint' | 'info' | 'question' | 'help';
  /** The condition's code (src/errors/codes.ts) where it has one, else null. */
  code: string | null;
  message: string;
}

/** The error a command ended with, with --json: one event, its hint and exit code in it. */
export interface ErrorEvent {
  type: 'error';
  /** The condition's code (src/errors/codes.ts) where it has one, else null. */
  code: string | null;
  /** What kind of failure (src/cli/exit-codes.ts): what the exit code says. */
  kind: string;
  exit: number;
  message: string;
  hint: string | null;
  /** With VAULT_TOOL_DEBUG=1: where it was thrown. */
  stack?: string;
}

/**
 * Writes one message to stderr as one line: `vault-tool: error: …`,
 * `vault-tool: warning: …`, `vault-tool: hint: …`, or a plain line (info);
 * with `format` json, the same as a JSON event. Every message the CLI prints
 * goes through here, its control characters escaped, so no call site can
 * print a name raw.
 */
export function writeMessage(
  io: Pick<Io, 'stderr'>,
  kind: MessageKind | 'question',
  message: string,
  format: MessageFormat = 'text',
  code: string | null = null,
): void {
  if (format === 'json') {
    if (kind === 'error') return writeEvent(io, errorEvent({ type: 'error', code, kind: 'internal', exit: EXIT_CODES.internal.code, message, hint: null }));
    const e: MessageEvent = { type: kind, code, message: escapeControl(message) };
    return writeEvent(io, e);
  }
  const text = kind === 'question' ? `? ${message}` : message;
  io.stderr.write(`${kind === 'info' || kind === 'question' ? '' : `vault-tool: ${kind}: `}${escapeControl(text)}\n`);
}

/** One JSON event on stderr, on one line. */
export function writeEvent(io: Pick<Io, 'stderr'>, event: MessageEvent | ErrorEvent): void {
  io.stderr.write(`${JSON.stringify(event)}\n`);
}

const errorEvent = (e: ErrorEvent): ErrorEvent => ({
  ...e,
  message: escapeControl(e.message),
  hint: e.hint === null ? null : escapeControl(e.hint),
  // A stack (VAULT_TOOL_DEBUG=1) begins with the message: its lines kept, no control character.
  ...(e.stack ? { stack: escapeControlKeepLines(e.stack) } : {}),
});

/** Help commander writes on stderr (a command named without its subcommand), with --json: its lines kept, no terminal sequence. */
export function helpEvent(text: string): MessageEvent {
  return { type: 'help', code: null, message: escapeControlKeepLines(text.replace(/\n$/, '')) };
}

/**
 * A usage error as commander words it (`error: unknown option '--x'`, its
 * "did you mean" suggestion on the next line), as the error and the hint
 * every other error has: the suggestion, else where the usage of the
 * command it was met in (`path`, below the root) is shown.
 */
export function commanderError(text: string, path = '', own: (message: string) => string | undefined = () => undefined): { message: string; hint: string } {
  // What was typed may hold a line break: the suggestion is told by its own words, not by the first line break.
  const body = text.replace(/\n$/, '');
  const at = body.lastIndexOf('\n(Did you mean ');
  const suggestion = at < 0 ? '' : body.slice(at + 1).replace(/^\(Did you mean (.*)\)$/s, 'did you mean $1');
  const message = (at < 0 ? body : body.slice(0, at)).replace(/^error: /, '');
  return { message, hint: suggestion || own(message) || `run vault-tool ${path ? `${path} ` : ''}--help for usage` };
}

/** A usage error commander found, as one JSON event. */
export function commanderEvent(text: string, exit: number = EXIT_CODES.usage.code, path = '', own?: (message: string) => string | undefined): ErrorEvent {
  const { message, hint } = commanderError(text, path, own);
  return errorEvent({ type: 'error', code: null, kind: 'usage', exit, message, hint });
}

/** A usage error commander found, as the two lines every error has: `vault-tool: error: …` and `vault-tool: hint: …`. */
export function commanderMessage(text: string, path = '', own?: (message: string) => string | undefined): string {
  const { message, hint } = commanderError(text, path, own);
  return `vault-tool: error: ${escapeControl(message)}\nvault-tool: hint: ${escapeControl(hint)}\n`;
}

/**
 * Turns whatever a command threw into one error line, a hint line where one
 * helps, and an exit code; with `format` json, into one error event holding
 * both. `scrub` hides the secret values the run handled (a tool's error
 * output quoting them); `exitStatus` maps the exit code for a command whose
 * caller reads exit statuses its own way (Context.exitStatus).
 */
export function reportError(
  e: unknown,
  io: Io,
  scrub: (text: string) => string = (t) => t,
  format: MessageFormat = 'text',
  exitStatus: (code: number, error?: unknown) => number = (code) => code,
): number {
  if (e instanceof CommanderError) {
    // Help and version exit through here with code 0; usage errors were already printed by commander.
    return exitStatus(e.exitCode === 0 ? 0 : EXIT_CODES.usage.code, e);
  }
  // restore_command asks for files that may not exist: their absence is an exit status, not a message.
  if (e instanceof VaultError && e.code === 'wal-absent') return exitStatus(exitCodeFor(e.kind), e);
  const described = describeError(e, io.env.VAULT_TOOL_DEBUG === '1');
  // The status the process ends with (a command whose caller reads them its own way maps them): the event says that one.
  const r = { ...described, exit: exitStatus(described.exit, e) };
  // Secret values are hidden first, then control characters escaped (writeMessage, errorEvent).
  if (format === 'json') {
    writeEvent(
      io,
      errorEvent({
        type: 'error',
        code: r.code,
        kind: r.kind,
        exit: r.exit,
        message: scrub(r.message),
        hint: r.hint === null ? null : scrub(r.hint),
        ...(r.stack ? { stack: scrub(r.stack) } : {}),
      }),
    );
    return r.exit;
  }
  writeMessage(io, 'error', scrub(r.message));
  if (r.hint) writeMessage(io, 'hint', scrub(r.hint));
  if (r.stack) io.stderr.write(`${scrub(r.stack)}\n`);
  return r.exit;
}

/** What an error says, in words: its message, hint, kind and exit code (and its stack, when debugging). */
function describeError(e: unknown, debug: boolean): Omit<ErrorEvent, 'type' | 'hint' | 'stack'> & { hint: string | null; stack: string | null } {
  if (e instanceof VaultError) {
    return {
      code: e.code ?? null,
      kind: e.kind,
      exit: e instanceof ExitCodeError ? e.exitCode : exitCodeFor(e.kind),
      message: e.message,
      hint: hintFor(e) || null,
      stack: debug ? String(e.stack) : null,
    };
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
    return { code: null, kind: 'io', exit: EXIT_CODES.io.code, message: `${what}${where}`, hint: null, stack: null };
  }
  if (err?.name === 'ExitPromptError')
    return { code: null, kind: 'interrupted', exit: EXIT_CODES.interrupted.code, message: 'interrupted', hint: null, stack: null };
  return {
    code: null,
    kind: 'internal',
    exit: EXIT_CODES.internal.code,
    message: `unexpected: ${err?.message ?? String(e)}`,
    hint: debug ? null : 'rerun with VAULT_TOOL_DEBUG=1 for details',
    stack: debug ? String(err?.stack) : null,
  };
}
