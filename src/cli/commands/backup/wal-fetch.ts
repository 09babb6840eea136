import type { Command } from 'commander';
import { walFetch } from '../../../backup/wal/fetch.js';
import { VaultError } from '../../../errors/errors.js';
import type { Context } from '../../context.js';
import { clusterOf, clusterOption, identityOption, openRepo, readKeysOf, repoOption, type RepoOptions } from './wal-options.js';

/** What wal-fetch adds to the usual exit code of a failure: PostgreSQL aborts recovery on a status above 125. */
export const FETCH_FAILED = 200;

/**
 * restore_command's exit status. PostgreSQL reads every status from 1 to
 * 125 as "this file is not in the archive" and ends recovery there (with a
 * target it then refuses to start; without one it promotes, early, without
 * a word); above 125 (or killed by a signal) it aborts recovery. So: 1 only
 * when the archive answered that it does not hold the file; every other
 * failure, command-line errors included, 200 + its usual code (201 I/O or
 * an unreachable repository, 202 usage, 203 wrong key, 204 integrity…);
 * 130 when interrupted.
 */
export function fetchExitStatus(code: number, error?: unknown): number {
  if (code === 0) return 0;
  if (error instanceof VaultError && error.code === 'wal-absent') return 1;
  return code > 125 ? code : FETCH_FAILED + code;
}

/**
 * restore_command: `vault-tool backup wal-fetch %f %p --cluster NAME`. A
 * file the archive does not hold exits 1 without a word (PostgreSQL asks
 * for files that may not exist, such as the next timeline's history); any
 * other failure says why in one line (the server's log) and exits above 125,
 * so that recovery stops rather than ends early.
 */
export default function backupWalFetch(cmd: Command, ctx: Context): void {
  ctx.exitStatus = fetchExitStatus;
  identityOption(clusterOption(repoOption(cmd)))
    .argument('<file>', "the archived file's name: restore_command's %f")
    .argument('<path>', "where to write it: restore_command's %p")
    .action(async (file: string, path: string, o: RepoOptions & { cluster?: string; identity?: string }) => {
      try {
        const repo = openRepo(ctx, o);
        const cluster = clusterOf(ctx, o);
        const keys = await readKeysOf(ctx, cmd, o);
        // A read that fails (a network hiccup on a remote) is tried again before recovery is stopped for it.
        let r: Awaited<ReturnType<typeof walFetch>> | undefined;
        for (let attempt = 0; !r; attempt++) {
          try {
            r = await walFetch(repo, cluster, file, ctx.abs(path), keys);
          } catch (e) {
            if (!(e instanceof VaultError && e.kind === 'io') || attempt >= 2) throw e;
            ctx.warn(`${file}: ${e.message}; trying again`);
            await new Promise((res) => setTimeout(res, 1000 * 2 ** attempt));
          }
        }
        if (r.status === 'absent') {
          if (r.note) ctx.warn(r.note);
          throw new VaultError('io', `${file} is not in the archive`, { code: 'wal-absent' });
        }
        if (ctx.globals(cmd).json) ctx.json({ name: r.name, bytes: r.bytes, keyId: r.manifest.keyId, signer: r.manifest.signer.id });
      } catch (e) {
        // The server's log shows this line beside "could not restore file": it names the file.
        if (e instanceof VaultError && e.code !== 'wal-absent' && !e.message.includes(file))
          throw new VaultError(e.kind, `${file}: ${e.message}`, {
            ...(e.code ? { code: e.code } : {}),
            ...(e.hint ? { hint: e.hint } : {}),
            ...(e.data ? { data: e.data } : {}),
          });
        throw e;
      }
    });
}
