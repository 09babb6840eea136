import type { EventEmitter } from 'node:events';
import { Command } from 'commander';
import { VaultError } from '../errors/errors.js';
import { Context } from './context.js';
import { EXIT_CODES } from './exit-codes.js';
import { processIo, type Io } from './io.js';
import { attachLazy } from './lazy.js';
import { COMMANDS } from './commands/index.js';
import { addOutputOptions, collect, commandPath } from './options.js';
import { commanderEvent, commanderMessage, helpEvent, reportError, writeEvent } from './report.js';
import { sweepStaging } from '../vault/staging.js';
import { VERSION } from './version.js';

export { VERSION };

/** The root command: global options, output routed through the context's I/O, errors thrown (never process.exit). */
function rootProgram(ctx: Context): Command {
  const codes = Object.values(EXIT_CODES).filter((v, i, a) => a.findIndex((x) => x.code === v.code) === i);
  return new Command('vault-tool')
    .description('Encrypted secrets vault and key escrow: an age-format vault, custodian shares, verified backups.')
    .version(VERSION, '-V, --version', 'print the version of vault-tool')
    .option('--vault-file <path>', 'vault file (env VAULT_TOOL_VAULT_FILE, default ./secrets.vault)')
    .option('--key-file <path>', 'key file (env VAULT_TOOL_KEY_FILE, default ./vault.key)')
    .option('--json', 'machine-readable output on stdout')
    .option('--strict', 'refuse to read a vault copy older than (or forked from) one seen before on this machine')
    .option('--allow-rollback', 'write to a vault copy older than (or forked from) one seen before: a deliberate rollback')
    .option('--passphrase-env <VAR>', 'read the key file passphrase from this environment variable')
    .option('--passphrase-file <file>', 'read the key file passphrase from this file (- for stdin)')
    .addHelpText('after', `\nExit codes:\n${codes.map((v) => `  ${String(v.code).padStart(3)}  ${v.meaning}`).join('\n')}\n`)
    .exitOverride()
    .configureOutput(outputOf(ctx, ''));
}

/**
 * Where commander writes, for the command at `path`: its usage errors as
 * every error is written (an error line and a hint line, or one JSON event
 * with --json), the hint naming this command's help; help it writes on
 * stderr (a command named without its subcommand) as it is, or a help event.
 */
function outputOf(ctx: Context, path: string) {
  const own = (message: string) => ownHint(path, message);
  return {
    writeOut: (s: string) => ctx.io.stdout.write(s),
    writeErr: (s: string) => {
      if (ctx.messages === 'text') ctx.io.stderr.write(s);
      else writeEvent(ctx.io, helpEvent(s));
    },
    outputError: (s: string, write: (s: string) => void) => {
      const usage = EXIT_CODES.usage.code;
      if (ctx.messages === 'text') write(commanderMessage(s, path, own));
      else writeEvent(ctx.io, commanderEvent(s, ctx.exitStatus ? ctx.exitStatus(usage) : usage, path, own));
    },
  };
}

/** Commands that only say what they would do unless --confirm: a --dry-run given to them is what they do already. */
const DRY_BY_DEFAULT = ['backup prune', 'backup wal-prune'];

/** A hint of vault-tool's own for a usage error commander found, where its generic one would not help. */
function ownHint(path: string, message: string): string | undefined {
  if (message === "unknown option '--dry-run'" && DRY_BY_DEFAULT.includes(path))
    return `vault-tool ${path} is a dry run unless --confirm: leave --dry-run out to see what would go`;
  return undefined;
}

/** Every command below `c` reports through the root's output and throws instead of exiting. */
function inherit(c: Command, ctx: Context): void {
  for (const sub of c.commands) {
    sub.exitOverride().configureOutput(outputOf(ctx, commandPath(sub)));
    inherit(sub, ctx);
  }
}

/**
 * Every value an option is given is checked as commander reads it, in one
 * listener per option, called before commander's own (which runs the
 * option's parser: `-o=json` met the choices json and yaml, `-k=3` a whole
 * number's check, and their raw message named no fix):
 * - an option that takes one value is refused when given twice: commander
 *   keeps the last, so `backup postgres -d app -d billing` would back up
 *   billing alone and say nothing of app (options that collect their values,
 *   `collect` or variadic, are left as they are);
 * - `-r=/srv/backups` is refused: a short option's value follows it, glued
 *   or after a space, so commander reads `=/srv/backups` (a folder named `=`
 *   in the working folder); only a long option takes `--repo=/srv/backups`.
 *   Told from a value that truly starts with `=` by the word on the command
 *   line (`words`: those before `--`);
 * - an empty value is refused: `--out "$FILE"` with FILE unset is `--out ''`,
 *   which read as no option at all printed the secret it was to write to a
 *   file on the job's log; `--vault-file ''` named the working folder.
 *   Leaving the option out says "the default".
 */
function checkOptionValues(c: Command, words: ReadonlySet<string>): void {
  for (const o of c.options) {
    if (!(o.required || o.optional)) continue;
    const option = o.long ?? o.short!;
    const once = !o.variadic && o.parseArg !== collect;
    let given = false;
    (c as unknown as EventEmitter).prependListener(`option:${o.name()}`, (v: unknown) => {
      if (once && given)
        throw new VaultError(
          'usage',
          `${option}${o.short && o.long ? ` (${o.short})` : ''} was given twice: it takes one value, and only the last would count`,
          {
            code: 'option-repeated',
            data: { option },
          },
        );
      given = true;
      const short = o.short;
      if (short && typeof v === 'string' && v.startsWith('=') && words.has(`${short}${v}`))
        throw new VaultError('usage', `${short}${v}: a short option takes no =, so its value would be ${JSON.stringify(v)}`, {
          code: 'option-short-equals',
          data: { short, value: v.slice(1), ...(o.long ? { long: o.long } : {}) },
        });
      if ((Array.isArray(v) ? v : [v]).some((x) => x === ''))
        throw new VaultError('usage', `${option} was given an empty value`, { code: 'option-empty', data: { option } });
    });
  }
  for (const sub of c.commands) checkOptionValues(sub, words);
}

/** The command tree for `args`: the command they name is loaded in full, the others are listed only. */
export async function buildProgram(ctx: Context, args: string[] = []): Promise<Command> {
  const program = rootProgram(ctx);
  await attachLazy(program, ctx, COMMANDS, args);
  inherit(program, ctx);
  addOutputOptions(program);
  const end = args.indexOf('--');
  checkOptionValues(program, new Set(end < 0 ? args : args.slice(0, end)));
  program.hook('preAction', (_root, action) => {
    ctx.holdPassphraseVariable(action);
    return ctx.selectOutput(action);
  });
  return program;
}

/**
 * The commands whose `-o` names a file (`--out FILE`): their `-o json` is a
 * file named json, never a format. Held to the command tree by a test.
 */
export const OUT_COMMANDS = [
  'backup key export-identity',
  'backup restore',
  'drill init',
  'escrow combine',
  'escrow reshare',
  'escrow split',
  'export env',
  'get',
  'k8s export',
  'k8s plan',
  'kit',
];

/** The root's options that take a value: the value is never a command's name nor an option. */
const ROOT_VALUES = new Set(['--vault-file', '--key-file', '--passphrase-env', '--passphrase-file']);

/**
 * Whether a command line asks for structured output (--json, -o json|yaml),
 * read before commander parses it, so that an error in parsing it is written
 * as JSON too; the parsed options decide for everything after (Context.selectOutput).
 * Nothing after `--` (another program's arguments) counts, nor the value of
 * a root option (`--vault-file --json`), nor `-o` where it names a file
 * (`get KEY -o json`: OUT_COMMANDS).
 */
export function asksForJson(args: string[]): boolean {
  const words: string[] = [];
  let inPath = true;
  const outFile = () => OUT_COMMANDS.some((c) => c === words.slice(0, c.split(' ').length).join(' '));
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return false;
    if (ROOT_VALUES.has(a)) {
      i++;
      continue;
    }
    if (!a.startsWith('-')) {
      if (inPath) words.push(a);
      continue;
    }
    // An option before the command (a root flag) does not end its path.
    if (words.length) inPath = false;
    if (a === '--json' || /^--output=(json|yaml)$/.test(a)) return true;
    if (a === '--output' && /^(json|yaml)$/.test(args[i + 1] ?? '')) return true;
    if (outFile()) continue;
    if (/^-o=?(json|yaml)$/.test(a)) return true;
    if (a === '-o' && /^(json|yaml)$/.test(args[i + 1] ?? '')) return true;
  }
  return false;
}

/** The commands that run another command, given after `--`. */
const RUNS_A_COMMAND = ['run', 'backup exec'];

/**
 * `run` and `backup exec` take the command they run after `--`, and refuse
 * it without: vault-tool reads its own options anywhere before `--`, so
 * `run --env K=a/b curl --json …` would take curl's --json as its own (and
 * `node --version` printed vault-tool's version, running nothing), and
 * `sh -c …` met "unknown option '-c'", naming no fix. Help (-h, --help) is
 * shown as for any command, asked right after its name.
 */
function requireDashes(args: string[]): void {
  if (args.includes('--')) return;
  const names: { word: string; at: number }[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (ROOT_VALUES.has(a)) i++;
    else if (!a.startsWith('-')) names.push({ word: a, at: i });
    else if (names.length) break;
  }
  const command = RUNS_A_COMMAND.find(
    (c) =>
      c ===
      names
        .slice(0, c.split(' ').length)
        .map((n) => n.word)
        .join(' '),
  );
  if (!command) return;
  // Its help: -h or --help right after its name (`run --help`; `run --env K=a/b prog -h` is prog's -h, which commander would take as vault-tool's).
  const after = args[names[command.split(' ').length - 1]!.at + 1];
  if (after === '-h' || after === '--help') return;
  throw new VaultError('usage', `vault-tool ${command} takes the command it runs after --: without it, that command's options would be read as vault-tool's`, {
    code: 'command-after-dashes',
    data: { command },
  });
}

/** The run whose stderr is the process's own: where Node's warnings go. */
let processRun: Context | undefined;

/**
 * Node's own warnings (a deprecation, a listener leak) are written on the
 * process's stderr by Node itself: with --json they become warning events
 * (`NAME: message`), else Node prints them as it always does.
 */
function routeNodeWarnings(ctx: Context): void {
  if (!processRun) {
    const node = process.listeners('warning');
    process.removeAllListeners('warning');
    process.on('warning', (w: Error) => {
      if (processRun?.messages === 'json') processRun.warn(`${w.name}: ${w.message}`);
      else for (const l of node) l.call(process, w);
    });
  }
  processRun = ctx;
}

/** `help backup restore` read as `backup restore --help`: commander's help command takes one name, and showed `backup`'s help. */
function helpOf(args: string[]): string[] {
  if (args[0] !== 'help' || args.length < 3 || args.slice(1).some((a) => a.startsWith('-'))) return args;
  return [...args.slice(1), '--help'];
}

/** Runs the CLI on `args` (without node and script) and returns the exit code; never calls process.exit. */
export async function run(given: string[], io: Io = processIo()): Promise<number> {
  const args = helpOf(given);
  const ctx = new Context(io, run);
  ctx.messages = asksForJson(args) ? 'json' : 'text';
  if (io.stderr === process.stderr) routeNodeWarnings(ctx);
  ctx.build = (names) => buildProgram(new Context(io, run), names);
  try {
    // Shares a killed split left in plain text in a staging folder go at the next run of any command.
    sweepStaging(ctx.stateFile());
    requireDashes(args);
    const program = await buildProgram(ctx, args);
    await program.parseAsync(args, { from: 'user' });
    ctx.endProgress(true);
    const code = ctx.exitCode ?? 0;
    return ctx.exitStatus ? ctx.exitStatus(code) : code;
  } catch (e) {
    // The step under way failed: its progress line goes (its failed event is written) before the error.
    ctx.endProgress(false);
    return reportError(e, io, (t) => ctx.scrub(t), ctx.messages, ctx.exitStatus);
  }
}
