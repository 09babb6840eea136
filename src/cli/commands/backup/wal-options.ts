import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { checkCluster } from '../../../backup/wal/store.js';
import type { ReadKeys } from '../../../backup/wal/identity.js';
import { VaultError } from '../../../errors/errors.js';
import { exists } from '../../../fs/dirs.js';
import type { Context } from '../../context.js';

// The keys, the vault and the age recipient load only when a command needs them: archive_command runs once a segment.

export { openRepo, repoOption, type RepoOptions } from './repo-option.js';

/** This host's manifest signing key: --signing-key, else signing.key in the state folder. */
export function signingKeyPath(ctx: Context, o: { signingKey?: string }): string {
  return o.signingKey ? ctx.abs(o.signingKey) : join(dirname(ctx.stateFile()), 'signing.key');
}

/** --cluster NAME (env VAULT_TOOL_WAL_CLUSTER): which cluster's archive, postgres-wal/NAME in the repository. */
export function clusterOption(c: Command): Command {
  return c.option('--cluster <name>', 'the cluster whose WAL archive this is: postgres-wal/NAME in the repository (env VAULT_TOOL_WAL_CLUSTER)');
}

export function clusterOf(ctx: Context, o: { cluster?: string }): string {
  const c = o.cluster ?? ctx.io.env.VAULT_TOOL_WAL_CLUSTER;
  if (!c) throw new VaultError('usage', 'which cluster? give --cluster NAME or set VAULT_TOOL_WAL_CLUSTER');
  return checkCluster(c);
}

/** --identity FILE (env VAULT_TOOL_BACKUP_IDENTITY): an identity file from `backup key export-identity`, for a host without the vault. */
export function identityOption(c: Command): Command {
  return c.option(
    '--identity <file>',
    'the backup identity file written by `backup key export-identity` (env VAULT_TOOL_BACKUP_IDENTITY); default: the vault and its key',
  );
}

/** The keys that read the archive: the identity file given, else the vault. */
export async function readKeysOf(ctx: Context, cmd: Command, o: { identity?: string }): Promise<ReadKeys> {
  const file = o.identity ?? ctx.io.env.VAULT_TOOL_BACKUP_IDENTITY;
  const { keysFromVault, readIdentityFile } = await import('../../../backup/wal/identity.js');
  if (file) {
    const keys = readIdentityFile(ctx.abs(file));
    if (!keys.signers.length)
      throw new VaultError('usage', `${file} names no trusted signer, so no manifest could be trusted`, {
        hint: 'write the file with `vault-tool backup key export-identity` where the vault is',
      });
    return keys;
  }
  const paths = ctx.paths(cmd);
  if (!exists(paths.keyFile) || !exists(paths.vaultFile))
    throw new VaultError('usage', 'no backup identity: give --identity FILE (from `backup key export-identity`), or run where the vault and its key are');
  const { vaultForBackups } = await import('../../../backup/run.js');
  return keysFromVault(await vaultForBackups(paths, ctx.storeOptions(cmd)));
}

/** The backup recipient, as `backup` takes it: --recipient or VAULT_TOOL_BACKUP_RECIPIENT (a host without the vault), else the vault's. */
export async function recipientOf(ctx: Context, cmd: Command, o: { recipient?: string }): Promise<{ recipient: string; keyId: string }> {
  const given = o.recipient ?? ctx.io.env.VAULT_TOOL_BACKUP_RECIPIENT;
  if (given) {
    const [{ parseRecipient }, { keyIdOf }] = await Promise.all([import('../../../age/x25519.js'), import('../../../vault/keyfile.js')]);
    parseRecipient(given);
    return { recipient: given, keyId: keyIdOf(given) };
  }
  const paths = ctx.paths(cmd);
  if (!exists(paths.keyFile) || !exists(paths.vaultFile))
    throw new VaultError('usage', 'no backup recipient: give --recipient age1… (or VAULT_TOOL_BACKUP_RECIPIENT), or run where the vault and its key are', {
      code: 'backup-no-recipient',
    });
  const { ensureBackupKey } = await import('../../../backup/keys.js');
  const k = await ensureBackupKey(paths, ctx.storeOptions(cmd), ctx.now());
  return { recipient: k.recipient, keyId: k.keyId };
}

export const machine = () => hostname();

/**
 * How PostgreSQL (or a background pusher) runs vault-tool: VAULT_TOOL_COMMAND
 * (words split at spaces), else this very program, by absolute paths (the
 * server's environment may have neither node nor vault-tool on its PATH).
 */
export function vaultToolCommand(ctx: Context): string[] {
  const given = ctx.io.env.VAULT_TOOL_COMMAND;
  if (given) return given.split(' ').filter(Boolean);
  const script = process.argv[1] ?? '';
  if (isVaultTool(script)) return [process.execPath, script];
  // Run through a link of another name (`vt`): the program it names.
  const real = realOrNull(script);
  if (real && isVaultTool(real)) return [process.execPath, real];
  return ['vault-tool'];
}

const isVaultTool = (path: string) => /^vault-tool(\.js)?$/.test(basename(path));

function realOrNull(path: string): string | null {
  try {
    return path ? realpathSync(path) : null;
  } catch {
    return null;
  }
}

/**
 * Starts a vault-tool process that outlives this one (the archive's pusher,
 * the restore's prefetcher): in its own session, its output appended to
 * nothing but `logFile` (0600, replaced), never waited for.
 */
export function startInBackground(ctx: Context, args: string[], logFile: string): ChildProcess {
  const log = openSync(logFile, 'w', 0o600);
  try {
    const child = spawn(args[0]!, args.slice(1), { cwd: ctx.io.cwd, env: ctx.io.env as NodeJS.ProcessEnv, detached: true, stdio: ['ignore', log, log] });
    child.on('error', () => undefined);
    child.unref();
    return child;
  } finally {
    closeSync(log);
  }
}
