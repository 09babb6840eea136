import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { VaultError } from '../errors/errors.js';
import { checkWritableTarget, sweepTempFiles, writeFileAtomic } from '../fs/atomic.js';
import { formatBytes, LIMITS, readFileCapped } from '../fs/read.js';
import type { EntriesChange, StoreOptions, VaultPaths } from '../vault/store.js';
import type { VaultDocument } from '../vault/document.js';
import { copiesBehind } from '../verify/state.js';
import { resolvePaths, resolveTarget } from '../fs/target.js';
import { checkReplace } from '../fs/replace.js';
import { readAll, type Io } from './io.js';

export interface GlobalOptions {
  vaultFile?: string;
  keyFile?: string;
  json?: boolean;
  strict?: boolean;
  allowRollback?: boolean;
  passphraseEnv?: string;
  passphraseFile?: string;
}

/** Per-run state shared by the commands: I/O, resolved paths, a memoized passphrase. */
export class Context {
  readonly io: Io;
  private passphrase?: Uint8Array;
  private stdinUsed = false;
  private lines?: { rl: { close(): void }; it: AsyncIterator<string> };

  /** Runs another vault-tool command line (the demo drives the CLI through it). */
  readonly run: (args: string[], io: Io) => Promise<number>;

  constructor(io: Io, run: (args: string[], io: Io) => Promise<number> = async () => 1) {
    this.io = io;
    this.run = run;
  }

  globals(cmd: Command): GlobalOptions {
    return cmd.optsWithGlobals() as GlobalOptions;
  }

  now(): Date {
    return this.io.now ? this.io.now() : new Date();
  }

  abs(p: string): string {
    return isAbsolute(p) ? p : resolve(this.io.cwd, p);
  }

  paths(cmd: Command): VaultPaths {
    const g = this.globals(cmd);
    return resolvePaths({
      vaultFile: this.abs(g.vaultFile ?? this.io.env.VAULT_TOOL_VAULT_FILE ?? 'secrets.vault'),
      keyFile: this.abs(g.keyFile ?? this.io.env.VAULT_TOOL_KEY_FILE ?? 'vault.key'),
    });
  }

  stateFile(): string {
    const env = this.io.env;
    const dir = env.VAULT_TOOL_STATE_DIR ?? join(env.XDG_STATE_HOME ?? join(env.HOME ?? homedir(), '.local', 'state'), 'vault-tool');
    return join(dir, 'seen.json');
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

  out(line = ''): void {
    this.io.stdout.write(line + '\n');
  }

  json(value: unknown): void {
    this.io.stdout.write(JSON.stringify(value, null, 2) + '\n');
  }

  warn(message: string): void {
    this.io.stderr.write(`vault-tool: warning: ${message}\n`);
  }

  info(message: string): void {
    this.io.stderr.write(message + '\n');
  }

  /** Reads all of stdin once (at most `limit` bytes); a second reader (a value and a passphrase both from stdin) is refused. */
  async stdin(what: string, limit: number = LIMITS.stdin): Promise<Buffer> {
    if (this.stdinUsed) throw new VaultError('usage', `standard input is already used; cannot also read ${what} from it`);
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
    this.info(`? ${question}`);
    const next = await this.lines.it.next();
    if (next.done) throw new VaultError('usage', `no answer on standard input for: ${question}`);
    return next.value;
  }

  /** Stops reading answers, so a finished command does not wait on an open stdin. */
  closeLines(): void {
    this.lines?.rl.close();
  }

  /**
   * Checks an --out target before any work: its folder exists, it is not a
   * folder, and it does not exist unless `force`. Returns the absolute path.
   */
  checkOut(path: string, force: boolean): string {
    const abs = this.abs(path);
    checkWritableTarget(abs, !force);
    // --force replaces an output, never a vault or a key file.
    if (force) checkReplace(abs, 'output');
    return abs;
  }

  /** Writes an --out file atomically (mode 0600), after sweeping temp files a killed run left beside it. */
  writeOut(path: string, data: Uint8Array | string, force: boolean): void {
    const abs = this.abs(path);
    sweepTempFiles(resolveTarget(abs));
    if (force) checkReplace(abs, 'output');
    writeFileAtomic(abs, data, { exclusive: !force });
  }

  /** Reads a file (at most `limit` bytes), or stdin for `-`. */
  readFile(path: string, what: string, limit: number = LIMITS.text): Promise<Buffer> | Buffer {
    if (path === '-') return this.stdin(what, limit);
    return readFileCapped(this.abs(path), what, limit);
  }

  envValue(name: string, what: string): Buffer {
    const v = this.io.env[name];
    if (v === undefined) throw new VaultError('usage', `environment variable ${name} (for ${what}) is not set`);
    return Buffer.from(v);
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
      p = this.envValue(g.passphraseEnv, 'the passphrase');
    } else if (this.io.stdinIsTTY) {
      const { password } = await import('@inquirer/prompts');
      const first = await password({ message: 'Passphrase for the vault key:', mask: false });
      if (confirm) {
        const again = await password({ message: 'Same passphrase again:', mask: false });
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
export function table(rows: string[][]): string {
  if (!rows.length) return '';
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
