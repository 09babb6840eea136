import type { Command } from 'commander';
import type { Repo } from '../../../backup/repo.js';
import { parseDestination } from '../../../dest/index.js';
import { VaultError } from '../../../errors/errors.js';
import type { Context } from '../../context.js';

export interface RepoOptions {
  repo?: string;
}

/**
 * -r/--repo DEST (env VAULT_TOOL_BACKUP_REPO), as every backup command reads
 * it, the archive's (which PostgreSQL runs once a segment) included: its own
 * module, so that either loads nothing of the other.
 */
export function repoOption(c: Command): Command {
  return c.option('-r, --repo <dest>', 'the backup repository: a folder or an rclone remote (env VAULT_TOOL_BACKUP_REPO)');
}

export function openRepo(ctx: Context, o: RepoOptions): Repo {
  const spec = o.repo ?? ctx.io.env.VAULT_TOOL_BACKUP_REPO;
  if (!spec) throw new VaultError('usage', 'which repository? give --repo DEST or set VAULT_TOOL_BACKUP_REPO');
  return { dest: parseDestination(spec, ctx.io.cwd, { env: ctx.io.env }) };
}
