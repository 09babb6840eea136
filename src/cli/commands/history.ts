import type { Command } from 'commander';
import { table, type Context } from '../context.js';

export function registerHistory(program: Command, ctx: Context): void {
  program
    .command('history <name>')
    .description('list every version of an entry (values are kept for old backups)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { historyOf, requireEntry } = await import('../../vault/entries.js');
      const { checkEntryName } = await import('../../vault/types.js');
      const { readVault } = await import('../../vault/store.js');
      checkEntryName(name);
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const e = requireEntry(doc, name, { includeDeleted: true });
      const versions = historyOf(e);
      if (ctx.globals(cmd).json) return ctx.json({ name, type: e.type, description: e.description, labels: e.labels, deletedAt: e.deletedAt ?? null, versions });
      const cur = versions[versions.length - 1]!.version;
      ctx.out(table([['VERSION', 'CREATED', 'SOURCE', 'FINGERPRINT'], ...versions.map((v) => [`${v.version}${v.version === cur && !e.deletedAt ? ' (current)' : ''}`, v.createdAt, v.source, v.fingerprint])]));
      if (e.deletedAt) ctx.info(`${name} was removed on ${e.deletedAt}; its versions remain readable with ${name}@N`);
    });
}
