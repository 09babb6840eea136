import { realpathSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { exists } from '../../../fs/dirs.js';
import { peekBackupState } from '../../../backup/keys.js';
import { checkSignature, type BackupManifest } from '../../../backup/manifest.js';
import { listRepo, requireRepo, type Listed, type Repo } from '../../../backup/repo.js';
import { vaultForBackups } from '../../../backup/run.js';
import { parseBefore, pathInRepo, selectBackup, type Selected } from '../../../backup/select.js';
import type { VaultDocument } from '../../../vault/document.js';
import type { Context } from '../../context.js';
import { openRepo, type RepoOptions } from './options.js';

export interface SelectFlags extends RepoOptions {
  before?: string;
}

/** --before TIME, on every command that chooses backups. */
export function beforeOption(c: Command): Command {
  return c.option(
    '--before <time>',
    'a component names its newest verified backup finished before this time: an ISO date or date-time with its zone (2026-12-01, 2026-12-01T10:00:00Z), or a duration ago (36h, 7d)',
  );
}

/** What --before says, as a time (relative to the run's clock). */
export function beforeOf(ctx: Context, o: SelectFlags): Date | undefined {
  return o.before === undefined ? undefined : parseBefore(o.before, ctx.now(), '--before');
}

/** A manifest counts when the vault trusts its signer (a backup someone else encrypted to the recipient never does). */
export const trustedBy =
  (doc: VaultDocument) =>
  (m: BackupManifest): boolean =>
    checkSignature(m, peekBackupState(doc).signers).ok;

/** The vault's document when its files are here (never asking for anything that is not), to judge signers. */
export async function vaultIfHere(ctx: Context, cmd: Command): Promise<VaultDocument | undefined> {
  const paths = ctx.paths(cmd);
  if (!exists(paths.keyFile) || !exists(paths.vaultFile)) return undefined;
  return vaultForBackups(paths, ctx.storeOptions(cmd));
}

const isFile = (p: string) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

/**
 * The repository, and the arguments as names the repository knows: a path
 * to a backup file (or its manifest) on this host is `COMPONENT/FILE` of the
 * repository holding it, which must be the one given (without one, it is
 * that folder).
 */
export function repoFor(ctx: Context, o: RepoOptions, specs: string[]): { repo: Repo; names: string[] } {
  const found = specs.map((s) => {
    if (!/\.age(\.manifest\.json)?$/.test(s) || !isFile(ctx.abs(s))) return null;
    const f = pathInRepo(s, ctx.io.cwd);
    // A path to a file outside any repository's layout names no backup (a bare FILE is a repository's file by name).
    if (!f && s.includes('/'))
      throw new VaultError(
        'usage',
        `${s} is not in a backup repository: a backup is REPO/KIND/NAME/FILE beside its manifest (as out/files/config/FILE.tar.age); name it there, or as COMPONENT/FILE with --repo`,
      );
    return f;
  });
  const given = o.repo ?? ctx.io.env.VAULT_TOOL_BACKUP_REPO;
  const dirs = [...new Set(found.filter((f) => f !== null).map((f) => f.repoDir))];
  if (!given && dirs.length > 1) throw new VaultError('usage', `the paths are in ${dirs.length} repositories (${dirs.join(', ')}): name one with --repo`);
  const repo = openRepo(ctx, given || !dirs.length ? o : { repo: dirs[0]! });
  const root = repo.dest.localPath('');
  const names = specs.map((s, i) => {
    const f = found[i];
    if (!f) return s;
    let real: string | undefined;
    try {
      real = root === undefined ? undefined : realpathSync(root);
    } catch {
      real = undefined;
    }
    if (real !== f.repoDir)
      throw new VaultError('usage', `${s} is a backup of the repository ${f.repoDir}, not of ${repo.dest.spec}: give --repo ${f.repoDir}`);
    return f.name;
  });
  return { repo, names };
}

/** Each argument's backup, in order; components by their newest verified backup (before --before), each said with why. */
export async function selectBackups(
  ctx: Context,
  o: SelectFlags,
  specs: string[],
  trusted?: (m: BackupManifest) => boolean,
): Promise<{ repo: Repo; listed: Listed[]; picks: Selected[] }> {
  const { repo, names } = repoFor(ctx, o, specs);
  await requireRepo(repo);
  const listed = await listRepo(repo);
  const before = beforeOf(ctx, o);
  const picks = names.map((n) => selectBackup(listed, n, { now: ctx.now(), ...(before ? { before } : {}), ...(trusted ? { trusted } : {}) }));
  return { repo, listed, picks };
}

/** "using postgres/app/FILE: the newest verified backup of postgres/app, made …" for each backup chosen by its component. */
export function sayChosen(ctx: Context, picks: Selected[]): void {
  for (const p of picks) if (p.by === 'latest') ctx.info(`using ${p.backup.component}/${p.backup.file}: ${p.why}`);
}
