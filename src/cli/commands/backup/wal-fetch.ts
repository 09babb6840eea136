import type { Command } from 'commander';
import { walFetch } from '../../../backup/wal/fetch.js';
import { VaultError } from '../../../errors/errors.js';
import type { Context } from '../../context.js';
import { openRepo, repoOption, type RepoOptions } from './options.js';
import { clusterOf, clusterOption, identityOption, readKeysOf } from './wal-options.js';

/**
 * restore_command: `vault-tool backup wal-fetch %f %p --cluster NAME`. A
 * file the archive does not hold exits 1 without a word (PostgreSQL asks
 * for files that may not exist, such as the next timeline's history); any
 * other failure says why, with its own exit code.
 */
export default function backupWalFetch(cmd: Command, ctx: Context): void {
  identityOption(clusterOption(repoOption(cmd)))
    .argument('<file>', "the archived file's name: restore_command's %f")
    .argument('<path>', "where to write it: restore_command's %p")
    .action(async (file: string, path: string, o: RepoOptions & { cluster?: string; identity?: string }) => {
      const repo = openRepo(ctx, o);
      const cluster = clusterOf(ctx, o);
      const keys = await readKeysOf(ctx, cmd, o);
      // PostgreSQL takes any failure for "not in the archive", and a recovery without a target then ends there:
      // a read that fails (a network hiccup on a remote) is tried again before it is reported.
      let r: Awaited<ReturnType<typeof walFetch>> | undefined;
      for (let attempt = 0; !r; attempt++) {
        try {
          r = await walFetch(repo, cluster, file, ctx.abs(path), keys);
        } catch (e) {
          if (!(e instanceof VaultError && e.kind === 'io') || attempt >= 2) throw e;
          ctx.warn(`${e.message}; trying again`);
          await new Promise((res) => setTimeout(res, 1000 * 2 ** attempt));
        }
      }
      if (r.status === 'absent') {
        if (r.note) ctx.warn(r.note);
        throw new VaultError('io', `${file} is not in the archive`, { code: 'wal-absent' });
      }
      if (ctx.globals(cmd).json) ctx.json({ name: r.name, bytes: r.bytes, keyId: r.manifest.keyId, signer: r.manifest.signer.id });
    });
}
