import type { Command } from 'commander';
import { listRepo, requireRepo } from '../../../backup/repo.js';
import { table, type Context } from '../../context.js';
import { openRepo, repoOption, type RepoOptions } from './options.js';

export default function backupList(cmd: Command, ctx: Context): void {
  repoOption(cmd).action(async (o: RepoOptions) => {
    const repo = openRepo(ctx, o);
    await requireRepo(repo);
    const all = await listRepo(repo);
    if (ctx.globals(cmd).json)
      return ctx.json(
        all.map((b) => ({
          component: b.component,
          file: b.file,
          ...(b.manifest
            ? {
                at: b.manifest.finishedAt,
                bytes: b.manifest.plaintext.size,
                keyId: b.manifest.keyId,
                verification: b.manifest.verification,
                signer: b.manifest.signer.id,
              }
            : {}),
          ...(b.problem ? { problem: b.problem } : {}),
        })),
      );
    ctx.out(
      table([
        ['COMPONENT', 'FILE', 'DATE', 'SIZE', 'KEY', 'CHECKED'],
        ...all.map((b) => [
          b.component,
          b.file,
          b.manifest?.finishedAt ?? '-',
          b.manifest ? `${(b.manifest.plaintext.size / 2 ** 20).toFixed(1)} MiB` : '-',
          b.manifest?.keyId ?? '-',
          b.problem ? `PROBLEM: ${b.problem}` : b.manifest?.verification?.ok ? 'ok' : 'FAILED',
        ]),
      ]),
    );
  });
}
