import { basename } from 'node:path';
import type { Command } from 'commander';
import type { BackupManifest } from '../../../backup/manifest.js';
import type { Repo } from '../../../backup/repo.js';
import { parseZonedTime } from '../../../backup/select.js';
import { describePlan, executePitr, planPitr, shellWord, type PitrTarget } from '../../../backup/wal/restore.js';
import { VaultError } from '../../../errors/errors.js';
import { exists } from '../../../fs/dirs.js';
import type { Context } from '../../context.js';
import { readKeysOf } from './wal-options.js';

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
}

/** How the restored server runs vault-tool: VAULT_TOOL_COMMAND, else this very program. */
function vaultToolCommand(ctx: Context): string[] {
  const given = ctx.io.env.VAULT_TOOL_COMMAND;
  if (given) return given.split(' ').filter(Boolean);
  const script = process.argv[1] ?? '';
  // This node and this script, by absolute path: the server's environment may have neither on its PATH.
  if (/^vault-tool(\.js)?$/.test(basename(script))) return [process.execPath, script];
  return ['vault-tool'];
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
  const restoreCommand = [...vaultToolCommand(ctx), 'backup', 'wal-fetch', '%f', '%p', '--cluster', cluster, '-r', repo.dest.spec, ...keyArgs]
    // PostgreSQL replaces %f, %p, %r and %% in restore_command: a % of a path is written %%.
    .map((w) => (w === '%f' || w === '%p' ? w : shellWord(w).replace(/%/g, '%%')))
    .join(' ');
  const owner = typeof o.owner === 'string' ? o.owner : undefined;
  const plan = await planPitr(repo, m, keys, {
    dataDir: ctx.abs(o.toDir),
    target,
    restoreCommand,
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
  const vault = exists(paths.keyFile) && exists(paths.vaultFile) ? { paths, store: ctx.storeOptions(cmd) } : undefined;
  await executePitr(repo, plan, keys, ctx.io.env, ctx.now(), vault);
  if (ctx.globals(cmd).json) return ctx.json({ ...described, restored: true });
  ctx.out(`restored ${described.base} into ${plan.dataDir} (checked in full first); recovery will read WAL ${described.from} … ${described.through}`);
  ctx.info(
    `start PostgreSQL on it (pg_ctl -D ${plan.dataDir} start${plan.owner ? `, as ${plan.owner.user}` : ''}): it fetches the WAL with restore_command and ${
      target.time || target.lsn || target.name
        ? `stops at the target, then ${action === 'pause' ? 'pauses (SELECT pg_wal_replay_resume() promotes it)' : action === 'promote' ? 'promotes' : 'shuts down'}`
        : 'promotes at the end of the archive'
    }`,
  );
}
