import type { Command } from 'commander';
import { loadSigningKey } from '../../../backup/keys.js';
import { walPush } from '../../../backup/wal/push.js';
import type { Context } from '../../context.js';
import { makeOptions, openRepo, signingKeyPath, type MakeOptions } from './options.js';
import { clusterOf, clusterOption, machine, recipientOf } from './wal-options.js';

/**
 * archive_command: `vault-tool backup wal-push %p --cluster NAME`. Quiet on
 * success (PostgreSQL's log gets a line only when something needs a look);
 * any failure exits non-zero, so PostgreSQL keeps the file and retries.
 */
export default function backupWalPush(cmd: Command, ctx: Context): void {
  clusterOption(makeOptions(cmd))
    .argument('<path>', "the file to archive: archive_command's %p")
    .action(async (path: string, o: MakeOptions & { cluster?: string }) => {
      const repo = openRepo(ctx, o);
      const cluster = clusterOf(ctx, o);
      const recipient = await recipientOf(ctx, cmd, o);
      const signing = loadSigningKey(signingKeyPath(ctx, o));
      const r = await walPush({ repo, cluster, recipient, signing, machine: machine(), now: () => ctx.now() }, ctx.abs(path));
      if (ctx.globals(cmd).json) return ctx.json(r);
      if (r.status === 'already-archived') ctx.info(`vault-tool: ${r.name} was already archived with the same content in ${r.location}: nothing to do`);
      if (r.status === 'completed') ctx.info(`vault-tool: ${r.name}: completed the archiving a stopped push had begun (${r.location})`);
    });
}
