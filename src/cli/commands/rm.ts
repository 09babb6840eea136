import type { Command } from 'commander';
import type { Context } from '../context.js';

export function registerRm(program: Command, ctx: Context): void {
  program
    .command('rm <name>')
    .description('remove an entry; its history is kept unless --purge')
    .option('--force', 'needed to remove key material (every type but password and generic)')
    .option('--purge', 'erase the entry and all its versions from the vault')
    .action(async (name: string, opts: { force?: boolean; purge?: boolean }, cmd: Command) => {
      const { removeEntry } = await import('../../vault/entries.js');
      const { checkEntryName } = await import('../../vault/types.js');
      const { updateVault } = await import('../../vault/store.js');
      checkEntryName(name);
      const r = await updateVault(ctx.paths(cmd), ctx.storeOptions(cmd), (doc) => removeEntry(doc, name, { force: Boolean(opts.force), purge: Boolean(opts.purge), now: ctx.now() }));
      if (ctx.globals(cmd).json) return ctx.json(r);
      ctx.out(r.purged ? `purged ${name} and all its versions` : `removed ${name}; its versions are kept (history ${name})`);
    });
}
