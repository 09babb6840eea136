import type { Command } from 'commander';
import { postgresBaseComponent } from '../../../backup/wal/base.js';
import { durationSeconds, parseDuration } from '../../../vault/duration.js';
import { VaultError } from '../../../errors/errors.js';
import type { Context } from '../../context.js';
import { openRepo, runBackups, type MakeOptions } from './options.js';
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
  await runBackups(ctx, cmd, o, async () => [
    await postgresBaseComponent(ctx.io.env, { cluster, repo: openRepo(ctx, o), walTimeoutMs, fastCheckpoint: Boolean(o.fastCheckpoint) }),
  ]);
}
