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
      const r = await walFetch(repo, cluster, file, ctx.abs(path), keys);
      if (r.status === 'absent') {
        if (r.note) ctx.warn(r.note);
        throw new VaultError('io', `${file} is not in the archive`, { code: 'wal-absent' });
      }
      if (ctx.globals(cmd).json) ctx.json({ name: r.name, bytes: r.bytes, keyId: r.manifest.keyId, signer: r.manifest.signer.id });
    });
}
