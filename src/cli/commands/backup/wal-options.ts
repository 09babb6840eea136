import { hostname } from 'node:os';
import type { Command } from 'commander';
import { parseRecipient } from '../../../age/x25519.js';
import { ensureBackupKey } from '../../../backup/keys.js';
import { checkCluster } from '../../../backup/wal/store.js';
import { keysFromVault, readIdentityFile, type ReadKeys } from '../../../backup/wal/identity.js';
import { vaultForBackups } from '../../../backup/run.js';
import { VaultError } from '../../../errors/errors.js';
import { exists } from '../../../fs/dirs.js';
import { keyIdOf } from '../../../vault/keyfile.js';
import type { Context } from '../../context.js';

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
  return keysFromVault(await vaultForBackups(paths, ctx.storeOptions(cmd)));
}

/** The backup recipient, as `backup` takes it: --recipient or VAULT_TOOL_BACKUP_RECIPIENT (a host without the vault), else the vault's. */
export async function recipientOf(ctx: Context, cmd: Command, o: { recipient?: string }): Promise<{ recipient: string; keyId: string }> {
  const given = o.recipient ?? ctx.io.env.VAULT_TOOL_BACKUP_RECIPIENT;
  if (given) {
    parseRecipient(given);
    return { recipient: given, keyId: keyIdOf(given) };
  }
  const paths = ctx.paths(cmd);
  if (!exists(paths.keyFile) || !exists(paths.vaultFile))
    throw new VaultError('usage', 'no backup recipient: give --recipient age1… (or VAULT_TOOL_BACKUP_RECIPIENT), or run where the vault and its key are', {
      code: 'backup-no-recipient',
    });
  const k = await ensureBackupKey(paths, ctx.storeOptions(cmd), ctx.now());
  return { recipient: k.recipient, keyId: k.keyId };
}

export const machine = () => hostname();
