import type { Command } from 'commander';
import { postgresBaseComponent } from '../../../backup/wal/base.js';
import { durationSeconds, parseDuration } from '../../../vault/duration.js';
import { VaultError } from '../../../errors/errors.js';
import type { Context } from '../../context.js';
import { openRepo, runBackups, signingKeyPath, type MakeOptions } from './options.js';
import { exists } from '../../../fs/dirs.js';
import { clusterOf } from './wal-options.js';

export interface BaseFlags {
  base?: boolean;
  cluster?: string;
  walTimeout: string;
  fastCheckpoint?: boolean;
  dbname?: string;
  all?: boolean;
  compress?: number;
}

/** `backup postgres --base`: the usual backup run, with pg_basebackup as the component. */
export async function runBase(ctx: Context, cmd: Command, o: MakeOptions & BaseFlags): Promise<void> {
  if (o.all || o.dbname || o.compress !== undefined)
    throw new VaultError('usage', '--base backs up the whole cluster: it takes neither --all, --dbname nor --compress');
  const cluster = clusterOf(ctx, o);
  const walTimeoutMs = durationSeconds(parseDuration(o.walTimeout, { what: '--wal-timeout' })) * 1000;
  // Whose WAL manifests prove a segment archived: this host's signing key (the one a push here signs with), and where the vault
  // is, every signer it trusts. Asked once the WAL is there (the signing key is made by then).
  const trusted = async () => {
    const [{ loadSigningKey, peekBackupState }, { vaultForBackups }] = await Promise.all([import('../../../backup/keys.js'), import('../../../backup/run.js')]);
    const own = loadSigningKey(signingKeyPath(ctx, o));
    const paths = ctx.paths(cmd);
    const vault = exists(paths.keyFile) && exists(paths.vaultFile) ? peekBackupState(await vaultForBackups(paths, ctx.storeOptions(cmd))).signers : [];
    return [{ id: own.id, publicKey: own.publicKey, label: 'this host', addedAt: '' }, ...vault];
  };
  await runBackups(ctx, cmd, o, async () => [
    await postgresBaseComponent(ctx.io.env, { cluster, repo: openRepo(ctx, o), walTimeoutMs, fastCheckpoint: Boolean(o.fastCheckpoint), trusted }),
  ]);
}
