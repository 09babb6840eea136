import { Command, CommanderError } from 'commander';
import { VaultError } from '../vault/errors.js';
import { Context } from './context.js';
import { EXIT_CODES, exitCodeFor } from './exit-codes.js';
import { processIo, type Io } from './io.js';
import { registerInit } from './commands/init.js';
import { registerAdd } from './commands/add.js';
import { registerGet } from './commands/get.js';
import { registerList } from './commands/list.js';
import { registerHistory } from './commands/history.js';
import { registerRotate } from './commands/rotate.js';
import { registerRm } from './commands/rm.js';
import { registerRekey } from './commands/rekey.js';
import { registerRecipients } from './commands/recipients.js';
import { registerImport } from './commands/import.js';
import { registerExport } from './commands/export.js';
import { registerFingerprint } from './commands/fingerprint.js';
import { registerDemo } from './commands/demo.js';
import { registerTypes } from './commands/types.js';
import { registerEscrow } from './commands/escrow.js';
import { registerEvidence } from './commands/evidence.js';

export const VERSION = '0.1.0';

export const K8S_SUMMARY = 'Kubernetes Secrets: import, export, restore by plan, compare, RBAC';
type Register = (program: Command, ctx: Context) => void;

/** Stands in for the k8s commands in the top-level help; their code loads only when `k8s` is on the command line. */
const registerK8sStub: Register = (program) => {
  program.command('k8s').description(K8S_SUMMARY).allowUnknownOption().allowExcessArguments();
};

/** The command tree; `registerK8s` is given when the k8s commands are wanted (run() loads them lazily). */
export function buildProgram(ctx: Context, registerK8s: Register = registerK8sStub): Command {
  const program = new Command('vault-tool')
    .description('Encrypted secrets vault and key escrow: an age-format vault, custodian shares, verified backups.')
    .version(VERSION, '-V, --version')
    .option('--vault-file <path>', 'vault file (env VAULT_TOOL_VAULT_FILE, default ./secrets.vault)')
    .option('--key-file <path>', 'key file (env VAULT_TOOL_KEY_FILE, default ./vault.key)')
    .option('--json', 'machine-readable output on stdout')
    .option('--strict', 'refuse to read a vault copy older than (or forked from) one seen before on this machine')
    .option('--allow-rollback', 'write to a vault copy older than (or forked from) one seen before: a deliberate rollback')
    .option('--passphrase-env <VAR>', 'read the key file passphrase from this environment variable')
    .option('--passphrase-file <file>', 'read the key file passphrase from this file (- for stdin)')
    .showHelpAfterError('(run vault-tool --help for usage)')
    .addHelpText('after', `\nExit codes:\n${Object.values(EXIT_CODES).filter((v, i, a) => a.findIndex((x) => x.code === v.code) === i).map((v) => `  ${String(v.code).padStart(3)}  ${v.meaning}`).join('\n')}\n`)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
      outputError: (s, write) => write(`vault-tool: ${s}`),
    });
  for (const register of [registerInit, registerAdd, registerGet, registerList, registerHistory, registerRotate, registerRm, registerRekey, registerRecipients, registerImport, registerExport, registerFingerprint, registerTypes, registerEscrow, registerEvidence, registerK8s, registerDemo]) {
    register(program, ctx);
  }
  for (const c of program.commands) c.exitOverride().configureOutput(program.configureOutput());
  return program;
}

/** Runs the CLI on `args` (without node and script) and returns the exit code; never calls process.exit. */
export async function run(args: string[], io: Io = processIo()): Promise<number> {
  const ctx = new Context(io);
  try {
    const k8s = args.includes('k8s') ? (await import('./commands/k8s.js')).registerK8s : undefined;
    const program = buildProgram(ctx, k8s);
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (e) {
    return reportError(e, io);
  }
}

export function reportError(e: unknown, io: Io): number {
  if (e instanceof CommanderError) {
    // Help and version exit through here with code 0; usage errors were already printed by commander.
    return e.exitCode === 0 ? 0 : EXIT_CODES.usage.code;
  }
  if (e instanceof VaultError) {
    io.stderr.write(`vault-tool: error: ${e.message}\n`);
    if (e.hint) io.stderr.write(`vault-tool: hint: ${e.hint}\n`);
    if (io.env.VAULT_TOOL_DEBUG === '1') io.stderr.write(`${e.stack}\n`);
    return exitCodeFor(e.kind);
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOSPC' || err?.code === 'EACCES' || err?.code === 'EROFS' || err?.code === 'EPERM') {
    io.stderr.write(`vault-tool: error: ${err.code}: ${err.message}\n`);
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
