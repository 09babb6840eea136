import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { BackupManifest } from '../../../backup/manifest.js';
import type { Repo } from '../../../backup/repo.js';
import { parseZonedTime } from '../../../backup/select.js';
import { describePlan, executePitr, planPitr, SCRIPT, SPOOL, type PitrTarget } from '../../../backup/wal/restore.js';
import { asyncRestoreScript, scriptCommand } from '../../../backup/wal/restore-script.js';
import { VaultError } from '../../../errors/errors.js';
import { exists } from '../../../fs/dirs.js';
import { pathTarget } from '../../../backup/protect.js';
import type { Context } from '../../context.js';
import { guardDataRestore } from '../../guard.js';
import { readKeysOf, vaultToolCommand } from './wal-options.js';

export interface BaseRestoreOptions {
  toDir?: string;
  targetTime?: string;
  targetLsn?: string;
  targetName?: string;
  targetAction?: string;
  targetExclusive?: boolean;
  owner?: string | boolean;
  identity?: string;
  archive?: boolean;
  dryRun?: boolean;
  /** The restore policy's options (a data directory is a folder it may protect). */
  policy?: string;
  confirmTarget?: string[];
  totpEnv?: string;
  breakGlass?: boolean;
  reason?: string;
}

/** ISO 8601 with a zone, or PostgreSQL's "YYYY-MM-DD HH:MM:SS+00". */
const parseTime = (s: string): Date => parseZonedTime(s, '--target-time');

/** `backup restore postgres-base/NAME/FILE --to-dir DATADIR [--target-…]`: a plan, then (unless --dry-run) the data directory. */
export async function restoreBase(ctx: Context, cmd: Command, repo: Repo, m: BackupManifest, o: BaseRestoreOptions): Promise<void> {
  if (!o.toDir) throw new VaultError('usage', 'where to? give --to-dir DATADIR: an empty (or new) data directory');
  const action = o.targetAction ?? 'pause';
  if (!['promote', 'pause', 'shutdown'].includes(action))
    throw new VaultError('usage', `--target-action ${JSON.stringify(action)}: promote, pause or shutdown`);
  const target: PitrTarget = {
    action: action as PitrTarget['action'],
    ...(o.targetTime ? { time: parseTime(o.targetTime) } : {}),
    ...(o.targetLsn ? { lsn: o.targetLsn } : {}),
    ...(o.targetName ? { name: o.targetName } : {}),
    ...(o.targetExclusive ? { exclusive: true } : {}),
  };
  const keys = await readKeysOf(ctx, cmd, o);
  const cluster = m.component.split('/')[1]!;
  const paths = ctx.paths(cmd);
  const keyArgs = o.identity
    ? ['--identity', ctx.abs(o.identity)]
    : ctx.io.env.VAULT_TOOL_BACKUP_IDENTITY
      ? ['--identity', ctx.abs(ctx.io.env.VAULT_TOOL_BACKUP_IDENTITY)]
      : ['--vault-file', paths.vaultFile, '--key-file', paths.keyFile];
  // restore_command runs the spool's script (restore-script.ts): a segment the prefetcher checked moved into place by the shell,
  // anything else fetched by vault-tool, which keeps a prefetcher ahead (docs/CLI.md, "Asynchronous restores").
  // The data directory in its one form (`DIR/` is DIR): the spool's path, and restore_command's, are spelled from it.
  const dataDir = resolve(ctx.abs(o.toDir));
  const spool = join(dataDir, SPOOL);
  const script = asyncRestoreScript(
    spool,
    [...vaultToolCommand(ctx), 'backup', 'wal-fetch'],
    ['--cluster', cluster, '-r', repo.dest.spec, ...keyArgs, '--async', '--spool'],
    ['--drain'],
  );
  const restoreCommand = scriptCommand(join(spool, SCRIPT));
  const owner = typeof o.owner === 'string' ? o.owner : undefined;
  const plan = await planPitr(repo, m, keys, {
    dataDir,
    target,
    restoreCommand,
    spool: { dir: spool, script },
    ...(owner ? { owner } : {}),
    ...(o.archive === false ? { noArchive: true } : {}),
  });
  for (const w of plan.warnings) ctx.warn(w);
  const described = describePlan(plan);
  if (o.dryRun) {
    if (ctx.globals(cmd).json) return ctx.json({ dryRun: true, ...described, settings: plan.settings });
    ctx.out(
      `would restore ${described.base} into ${plan.dataDir}, then recovery reads WAL ${described.from} … ${described.through} (timeline ${described.chain})`,
    );
    for (const [k, v] of plan.settings) ctx.out(`  ${k} = ${v}`);
    return;
  }
  // A data directory in a folder the restore policy protects: its confirmation and hours, or a break-glass (recorded).
  await guardDataRestore(ctx, cmd, { ...o, confirm: o.confirmTarget }, () => pathTarget('folders', plan.dataDir), `${m.component}/${m.file}`);
  const vault = exists(paths.keyFile) && exists(paths.vaultFile) ? { paths, store: ctx.storeOptions(cmd) } : undefined;
  const progress = ctx.progress(cmd);
  await executePitr(repo, plan, keys, ctx.io.env, ctx.now(), vault, progress.mode === 'off' ? undefined : progress.callback('restore'));
  progress.end(true);
  if (ctx.globals(cmd).json) return ctx.json({ ...described, restored: true });
  ctx.out(
    `restored ${described.base} into ${plan.dataDir} (checked in full as it was written); recovery will read WAL ${described.from} … ${described.through}`,
  );
  ctx.info(
    `start PostgreSQL on it (pg_ctl -D ${plan.dataDir} start${plan.owner ? `, as ${plan.owner.user}` : ''}): it fetches the WAL with restore_command and ${
      target.time || target.lsn || target.name
        ? `stops at the target, then ${action === 'pause' ? 'pauses (SELECT pg_wal_replay_resume() promotes it)' : action === 'promote' ? 'promotes' : 'shuts down'}`
        : 'promotes at the end of the archive'
    }`,
  );
  if (plan.spool) {
    ctx.info(
      `a prefetcher runs in the background meanwhile, fetching and checking the next WAL files into ${plan.spool.dir} for restore_command; it leaves, taking its files, after a minute in which the server takes none`,
    );
  }
}
