import { homedir } from 'node:os';
import { isAbsolute, join, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { VaultError } from '../errors/errors.js';
import { checkOutput, writeOutput, type OutputKind } from '../fs/output.js';
import { formatBytes, LIMITS, readFileCapped } from '../fs/read.js';
import type { EntriesChange, StoreOptions, VaultPaths } from '../vault/store.js';
import type { VaultDocument } from '../vault/document.js';
import { copiesBehind } from '../verify/state.js';
import { vaultPaths as resolvePaths } from '../vault/paths.js';
import { readAll, type Io } from './io.js';
import { ProgressReporter, progressMode } from './progress.js';
import { escapeControl, escapeControlKeepLines, type MessageFormat, writeMessage } from './report.js';

export interface GlobalOptions {
  vaultFile?: string;
  keyFile?: string;
  /** --json, or -o json|yaml (the structure is printed either way; ctx.json picks the format). */
  json?: boolean;
  output?: 'json' | 'yaml';
  strict?: boolean;
  allowRollback?: boolean;
  passphraseEnv?: string;
  passphraseFile?: string;
}

/** Per-run state shared by the commands: I/O, resolved paths, a memoized passphrase. */
export class Context {
  /** The run's I/O; its environment loses the variable --passphrase-env names before a command runs (holdPassphraseVariable). */
  io: Io;
  private passphrase?: Uint8Array;
  /** The value of the variable --passphrase-env names, taken out of the environment every child process gets. */
  private passphraseVariable?: { name: string; value: string | undefined };
  private stdinUsed = false;
  private lines?: { rl: { close(): void }; it: AsyncIterator<string> };

  /** Runs another vault-tool command line (the demo drives the CLI through it). */
  readonly run: (args: string[], io: Io) => Promise<number>;

  /** The root command with the command at `names` loaded in full (`completion` reads the whole tree through it). */
  build?: (names: string[]) => Promise<Command>;

  /** The exit code of a command that ends without an error but not with 0 (`run` passes on its command's). */
  exitCode?: number;

  /**
   * For a command whose caller reads exit statuses its own way (`backup
   * wal-fetch` as PostgreSQL's restore_command): the status the run ends
   * with, from its usual exit code and the error it ended with (set when
   * the command loads, so it covers command-line errors too).
   */
  exitStatus?: (code: number, error?: unknown) => number;

  /** Secret values in play (handed to a process, or found on its command line): no message of this run carries them. */
  private concealed: string[] = [];

  /**
   * How the run's own messages are written on stderr: text, or with --json
   * (-o json|yaml) one JSON event a line (report.ts). Set from the command
   * line before commander parses it (so that its usage errors are written
   * the same way), then from the parsed options.
   */
  messages: MessageFormat = 'text';

  /** The run's progress reporter (progress.ts), made by the first command that reports. */
  private reporter?: ProgressReporter;

  constructor(io: Io, run: (args: string[], io: Io) => Promise<number> = async () => 1) {
    this.io = io;
    this.run = run;
  }

  /** The structured format -o chose, and the YAML printer when it is yaml (loaded only then). */
  private format: { kind: 'json' } | { kind: 'yaml'; stringify: (v: unknown) => string } = { kind: 'json' };

  globals(cmd: Command): GlobalOptions {
    const g = cmd.optsWithGlobals() as GlobalOptions;
    return g.output ? { ...g, json: true } : g;
  }

  /**
   * Before a command runs: the variable --passphrase-env names is taken out
   * of the environment, so that no process vault-tool starts (a dump tool,
   * tar, rclone, a `backup exec` command) gets the vault key's passphrase;
   * vault-tool alone reads it (getPassphrase).
   */
  holdPassphraseVariable(cmd: Command): void {
    const name = (cmd.optsWithGlobals() as GlobalOptions).passphraseEnv;
    if (!name || this.passphraseVariable?.name === name) return;
    const { [name]: value, ...rest } = this.io.env;
    this.passphraseVariable = { name, value };
    // The process's own environment too (what a child started without an environment of its own inherits).
    if (this.io.env === process.env) delete process.env[name];
    this.io = { ...this.io, env: rest };
  }

  /** Before a command runs: -o json|yaml (with --json, only json agrees). */
  async selectOutput(cmd: Command): Promise<void> {
    const g = cmd.optsWithGlobals() as GlobalOptions;
    this.messages = g.json || g.output ? 'json' : 'text';
    if (g.output === 'yaml' && g.json) throw new VaultError('usage', '--json and -o yaml ask for two formats: give one');
    if (g.output !== 'yaml') return;
    const { toYaml } = await import('./yaml-out.js');
    this.format = { kind: 'yaml', stringify: toYaml };
  }

  now(): Date {
    return this.io.now ? this.io.now() : new Date();
  }

  /** `p` absolute and normalized (no `.`, `..`, doubled or trailing separator), so that two spellings of one place compare equal. */
  abs(p: string): string {
    return resolve(this.io.cwd, p);
  }

  /**
   * A file an option names (to be written, or the vault and its key),
   * absolute. A name ending in a slash names a folder: a file is never
   * written, nor read, under the name without it.
   */
  outFile(path: string): string {
    if (path.endsWith('/') || (sep === '\\' && path.endsWith(sep)))
      throw new VaultError('usage', `cannot use ${path}: a path ending in ${sep} names a folder, not a file`, { code: 'path-names-folder', data: { path } });
    // `-` is standard output to other tools: a key written to a file named - in the working folder was not what was asked.
    if (path === '-')
      throw new VaultError('usage', 'cannot use -: it names no file here (vault-tool writes no file to standard output through -)', {
        code: 'path-is-dash',
      });
    return this.abs(path);
  }

  paths(cmd: Command): VaultPaths {
    const g = this.globals(cmd);
    return resolvePaths({
      // A variable set empty is one not set (an empty path would name the working folder).
      vaultFile: this.outFile(g.vaultFile ?? (this.io.env.VAULT_TOOL_VAULT_FILE || 'secrets.vault')),
      keyFile: this.outFile(g.keyFile ?? (this.io.env.VAULT_TOOL_KEY_FILE || 'vault.key')),
    });
  }

  /** The state folder: VAULT_TOOL_STATE_DIR, else vault-tool under XDG_STATE_HOME (~/.local/state). */
  stateDir(): string {
    const env = this.io.env;
    // Set empty is not set; XDG_STATE_HOME is used only when absolute (the XDG spec: a relative one is ignored).
    if (env.VAULT_TOOL_STATE_DIR) return this.abs(env.VAULT_TOOL_STATE_DIR);
    const xdg = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : undefined;
    return join(xdg ?? join(env.HOME || homedir(), '.local', 'state'), 'vault-tool');
  }

  stateFile(): string {
    return join(this.stateDir(), 'seen.json');
  }

  storeOptions(cmd: Command): StoreOptions {
    const g = this.globals(cmd);
    return {
      getPassphrase: () => this.getPassphrase(cmd, false),
      stateFile: this.stateFile(),
      strict: Boolean(g.strict),
      allowRollback: Boolean(g.allowRollback),
      onWarning: (m) => this.warn(m),
      now: () => this.now(),
      onEntriesChanged: (change, doc) => this.sayCopiesBehind(change, doc),
    };
  }

  /**
   * Records that key material or data left the vault or was restored (docs/FORMAT.md, "Recorded events");
   * when this copy of the vault cannot be written, the record waits in the state folder for the next write,
   * and the command says so. Never fails the command.
   */
  async recordAccess(cmd: Command, event: string, data: Record<string, unknown>): Promise<void> {
    const { recordAccess } = await import('../vault/access.js');
    const r = await recordAccess(this.paths(cmd), this.storeOptions(cmd), event, data, this.now());
    if (r.outcome === 'deferred')
      this.warn(`not in the evidence log yet (${r.why}): the record is kept in ${r.file} and goes into the log with the next write to this vault here`);
    else if (r.outcome === 'lost') this.warn(`this ${event} is NOT recorded in the evidence log: ${r.why}`);
  }

  /** A write that added entry versions (asked for, or on the way) leaves every registered vault copy behind: say so, and how to catch up. */
  private sayCopiesBehind(change: EntriesChange, doc: VaultDocument): void {
    const behind = copiesBehind(doc, change);
    if (!behind) return;
    const list = (xs: string[]) => (xs.length > 4 ? `${xs.slice(0, 4).join(', ')} and ${xs.length - 4} more` : xs.join(', '));
    const copies = behind.copies.map((c) => `${c.id} (${c.dest})`);
    const what = [...(change.added.length ? [`added ${list(change.added)}`] : []), ...(change.purged.length ? [`purged ${list(change.purged)}`] : [])].join(
      ' and ',
    );
    const one = copies.length === 1;
    this.warn(
      `this command ${what}: the registered ${one ? 'copy' : `${copies.length} copies`} of the vault ${copies.join(', ')} ${one ? 'is' : 'are'} now behind (${change.added.length ? 'lacking the new versions' : 'still holding what was purged'}); replace ${one ? 'it' : 'each'} with \`vault-tool copy --replace ${one ? behind.copies[0]!.id : 'ID'}\`, or stop checking ${one ? 'it' : 'one'} with \`vault-tool copy forget ${one ? behind.copies[0]!.id : 'ID'}\``,
    );
  }

  /**
   * The progress reporter of this run: a line on a terminal (stderr), JSON
   * events with --json, nothing in a pipe. Every long step reports through
   * it (`progress.callback(step)` is the library's `onProgress`).
   */
  progress(cmd: Command): ProgressReporter {
    this.reporter ??= new ProgressReporter(this.io, progressMode(this.io, Boolean(this.globals(cmd).json)));
    return this.reporter;
  }

  /** The last item of the run is over (the command ended, or failed). */
  endProgress(ok: boolean): void {
    this.reporter?.end(ok);
  }

  /** Human output: a name read from a repository, a cluster or a file cannot move the cursor, clear the screen or rewrite a line. */
  out(line = ''): void {
    this.reporter?.clear();
    this.io.stdout.write(escapeControlKeepLines(line) + '\n');
  }

  /** A command's result as one document: JSON (--json, -o json) or YAML (-o yaml), the same structure. */
  json(value: unknown): void {
    this.reporter?.clear();
    if (this.format.kind === 'yaml') this.io.stdout.write(this.format.stringify(JSON.parse(JSON.stringify(value) ?? 'null')));
    else this.io.stdout.write(JSON.stringify(value, null, 2) + '\n');
  }

  /** One event of a stream (a backup started, made): a JSON line, or a YAML document (`---` first, as kubectl get -w -o yaml). */
  event(value: unknown): void {
    this.reporter?.clear();
    if (this.format.kind === 'yaml') this.io.stdout.write(`---\n${this.format.stringify(JSON.parse(JSON.stringify(value)))}`);
    else this.io.stdout.write(JSON.stringify(value) + '\n');
  }

  /**
   * Messages go through writeMessage (report.ts): secret values hidden, then
   * control characters escaped; with --json, each a JSON event. `code`: the
   * condition's code (src/errors/codes.ts), for the JSON event.
   */
  /** Warnings said in this run: one met again (each read of a stale copy warns) is said once. */
  private warned = new Set<string>();

  warn(message: string, code?: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.say('warning', message, code);
  }

  hint(message: string, code?: string): void {
    this.say('hint', message, code);
  }

  info(message: string, code?: string): void {
    this.say('info', message, code);
  }

  private say(kind: 'warning' | 'hint' | 'info' | 'question', message: string, code?: string): void {
    this.reporter?.clear();
    writeMessage(this.io, kind, this.scrub(message), this.messages, code ?? null);
  }

  /**
   * Values that no message may show from now on: each as a whole and, for a
   * value of several lines (a PEM key), each line of 8 characters or more
   * (a tool's error may quote one line).
   */
  conceal(values: (string | Uint8Array)[]): void {
    for (const v of values) {
      const text = typeof v === 'string' ? v : Buffer.from(v).toString('utf8');
      if (!text) continue;
      this.concealed.push(text, ...text.split(/\r?\n/).filter((l) => l.trim().length >= 8 && l !== text));
    }
    this.concealed = [...new Set(this.concealed)].sort((a, b) => b.length - a.length);
  }

  /** `text` with every concealed value replaced by ***. */
  scrub(text: string): string {
    for (const v of this.concealed) text = text.split(v).join('***');
    return text;
  }

  /** Reads all of stdin once (at most `limit` bytes); a second reader (a value and a passphrase both from stdin) is refused. */
  async stdin(what: string, limit: number = LIMITS.stdin): Promise<Buffer> {
    if (this.stdinUsed)
      throw new VaultError(
        'usage',
        `standard input is already used; cannot also read ${what} from it`,
        'give one of them another way: a passphrase with --passphrase-env VAR or --passphrase-file FILE, a value with --from-file FILE or --from-env VAR',
      );
    if (this.io.stdinIsTTY) throw new VaultError('usage', `expected ${what} on standard input, but it is a terminal`);
    this.stdinUsed = true;
    const data = await readAll(this.io.stdin, limit);
    if (!data) throw new VaultError('invalid', `${what} on standard input is larger than ${formatBytes(limit)}, the most vault-tool reads for it`);
    return data;
  }

  /** For scripts: prints the question to stderr and reads one line of stdin (stdin is read lazily, line by line). */
  async readLine(question: string): Promise<string> {
    if (!this.lines) {
      if (this.stdinUsed) throw new VaultError('usage', 'standard input is already used; cannot also read answers from it');
      this.stdinUsed = true;
      const { createInterface } = await import('node:readline');
      const rl = createInterface({ input: this.io.stdin, crlfDelay: Infinity });
      this.lines = { rl, it: rl[Symbol.asyncIterator]() };
    }
    this.say('question', question);
    const next = await this.lines.it.next();
    if (next.done) throw new VaultError('usage', `no answer on standard input for: ${question}`);
    return next.value;
  }

  /** Stops reading answers, so a finished command does not wait on an open stdin. */
  closeLines(): void {
    this.lines?.rl.close();
  }

  /**
   * Checks an output option's target before any work (src/fs/output.ts has
   * the rules: what each kind of output may replace). Returns the path.
   */
  checkOut(path: string, kind: OutputKind, force: boolean, opts: { makeFolder?: boolean } = {}): string {
    return checkOutput(this.outFile(path), kind, { force, ...opts });
  }

  /** Writes an output file atomically (its mode by kind), checked again just before. */
  writeOut(path: string, data: Uint8Array | string, kind: OutputKind, force: boolean, opts: { makeFolder?: boolean } = {}): string {
    return writeOutput(this.outFile(path), data, kind, { force, ...opts });
  }

  /** Reads a file (at most `limit` bytes), or stdin for `-`. */
  readFile(path: string, what: string, limit: number = LIMITS.text): Promise<Buffer> | Buffer {
    if (path === '-') return this.stdin(what, limit);
    return readFileCapped(this.abs(path), what, limit, { dash: true });
  }

  envValue(name: string, what: string): Buffer {
    const v = this.io.env[name];
    if (v === undefined) throw new VaultError('usage', `environment variable ${name} (for ${what}) is not set`, { code: 'env-unset', data: { name } });
    return Buffer.from(v);
  }

  /**
   * Where a prompt is drawn: stderr, as every message (the prompt library's
   * default, stdout, put the question into what `get KEY > FILE` writes and
   * into --json output, and hid it from whoever has to answer).
   */
  promptContext(): { output: NodeJS.WritableStream } {
    const err = this.io.stderr as Partial<NodeJS.WritableStream>;
    return { output: typeof err.on === 'function' ? (err as NodeJS.WritableStream) : process.stderr };
  }

  /** The passphrase from --passphrase-file, --passphrase-env or a hidden prompt; never argv. */
  async getPassphrase(cmd: Command, confirm: boolean): Promise<Uint8Array> {
    if (this.passphrase) return this.passphrase;
    const g = this.globals(cmd);
    let p: Buffer;
    if (g.passphraseFile) {
      p = Buffer.from(await this.readFile(g.passphraseFile, 'the passphrase', 4096));
      p = (await import('../vault/types.js')).stripNewline(p);
    } else if (g.passphraseEnv) {
      const held = this.passphraseVariable?.name === g.passphraseEnv ? this.passphraseVariable.value : this.io.env[g.passphraseEnv];
      if (held === undefined)
        throw new VaultError('usage', `environment variable ${g.passphraseEnv} (for the passphrase) is not set`, {
          code: 'env-unset',
          data: { name: g.passphraseEnv },
        });
      p = Buffer.from(held);
    } else if (this.io.stdinIsTTY) {
      const { password } = await import('@inquirer/prompts');
      const first = await password({ message: 'Passphrase for the vault key:', mask: false }, this.promptContext());
      if (confirm) {
        const again = await password({ message: 'Same passphrase again:', mask: false }, this.promptContext());
        if (again !== first) throw new VaultError('usage', 'the two passphrases differ');
      }
      p = Buffer.from(first);
    } else {
      throw new VaultError(
        'passphrase',
        'a passphrase is needed and standard input is not a terminal',
        'use --passphrase-env VAR or --passphrase-file FILE (- for stdin)',
      );
    }
    if (p.length === 0) throw new VaultError('usage', 'the passphrase is empty');
    this.passphrase = p;
    return p;
  }

  /** Secrets go to a terminal only when asked (--reveal); pipes and files get them as they are. */
  guardTerminal(reveal: boolean): void {
    if (this.io.stdoutIsTTY && !reveal) {
      throw new VaultError('usage', 'refusing to print a secret to a terminal', 'add --reveal to show it, or --out FILE to write it to a file (mode 0600)');
    }
  }

  emitSecret(value: Uint8Array, reveal: boolean): void {
    this.guardTerminal(reveal);
    this.io.stdout.write(value);
    if (this.io.stdoutIsTTY) this.io.stdout.write('\n');
  }
}

/** Simple fixed-width table for human output. */
export function table(input: string[][]): string {
  if (!input.length) return '';
  // One row per line, whatever a cell holds: a newline in a name is shown as \n, not as a row of its own.
  const rows = input.map((r) => r.map(escapeControl));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** KEY=VALUE pairs into a null-prototype object (keys such as __proto__ are ordinary keys). */
export function parseKeyValues(list: string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const item of list ?? []) {
    const i = item.indexOf('=');
    if (i <= 0) throw new VaultError('usage', `${what} must be KEY=VALUE, got ${JSON.stringify(item)}`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}
