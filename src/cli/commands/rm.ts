import type { Command } from 'commander';
import { removeEntry } from '../../vault/entries.js';
import { changed, updateVault } from '../../vault/store.js';
import { checkEntryName } from '../../vault/types.js';
import type { Context } from '../context.js';

export default function rm(cmd: Command, ctx: Context): void {
  cmd
    .argument('<name>')
    .option('--force', 'needed to remove key material (every type but password and generic)')
    .option('--purge', 'erase the entry and all its versions from the vault')
    .action(async (name: string, o: { force?: boolean; purge?: boolean }) => {
      checkEntryName(name);
      const r = await updateVault(ctx.paths(cmd), ctx.storeOptions(cmd), (doc) =>
        changed(removeEntry(doc, name, { force: Boolean(o.force), purge: Boolean(o.purge), now: ctx.now() })),
      );
      if (ctx.globals(cmd).json) return ctx.json(r);
      ctx.out(r.purged ? `purged ${name} and all its versions` : `removed ${name}; its versions are kept (history ${name})`);
    });
}
