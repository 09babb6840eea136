import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import type { Repo } from '../../../backup/repo.js';
import { executeRestore, type RestorePlan } from '../../../backup/restore.js';
import type { Context } from '../../context.js';
import type { GuardOptions } from '../../guard.js';
import type { RepoOptions } from './options.js';
import type { BaseRestoreOptions } from './restore-base.js';
import type { SelectFlags } from './selection.js';

export interface RestoreOptions extends RepoOptions, SelectFlags, Omit<BaseRestoreOptions, 'toDir' | 'owner'>, Omit<GuardOptions, 'confirm'> {
  policy?: string;
  confirmTarget?: string[];
  dbname?: string;
  /** bucket: the prefix to restore into (REMOTE:BUCKET/PREFIX). */
  to?: string;
  create?: boolean;
  toDir?: string;
  owner?: string | boolean;
  out?: string;
  force?: boolean;
  sameOwner?: boolean;
  allowRunning?: boolean;
  dryRun?: boolean;
  all?: boolean;
  set?: string;
  dbnameMap?: string[];
  dbnamePrefix?: string;
}

/**
 * Carries out a planned restore, and records it in the evidence log
 * (what, into where, by whom; complete or not: names and places, never
 * data), with the restore policy's decision when the target is protected.
 * What it restored into.
 */
export async function carryOut(ctx: Context, cmd: Command, repo: Repo, plan: RestorePlan, guard?: Record<string, unknown>): Promise<string> {
  const m = plan.manifest;
  const record = (complete: boolean, into: string, error?: string) =>
    ctx.recordAccess(cmd, 'backup.restore', {
      backup: plan.backup,
      id: m.id,
      kind: m.kind,
      madeAt: m.finishedAt,
      keyId: m.keyId,
      plaintextSha256: m.plaintext.sha256,
      repo: repo.dest.spec,
      into,
      ...plan.target.record,
      ...(guard ? { guard } : {}),
      complete,
      ...(error ? { error } : {}),
    });
  let into: string;
  const progress = ctx.progress(cmd);
  progress.begin('restore', plan.backup);
  try {
    into = await executeRestore(repo, plan, ctx.io.env, progress.mode === 'off' ? {} : { onProgress: progress.callback('restore') });
    progress.end(true);
  } catch (e) {
    // A target refused before anything was written (it appeared meanwhile) is no restore; anything else may have written part of one.
    if (!(e instanceof VaultError && (e.kind === 'exists' || e.kind === 'usage'))) await record(false, plan.target.where, (e as Error).message);
    throw e;
  }
  await record(true, into);
  return into;
}
