import type { Command } from 'commander';
import { rotateEntry } from '../../vault/entries.js';
import { checkEntryName } from '../../vault/types.js';
import { updateVault } from '../../vault/store.js';
import type { Context } from '../context.js';

export function registerRotate(program: Command, ctx: Context): void {
  program
    .command('rotate <name>')
    .description('store a newly generated value as the next version (the old version is kept)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      checkEntryName(name);
      const r = await updateVault(ctx.paths(cmd), ctx.storeOptions(cmd), (doc) => rotateEntry(doc, name, new Date()));
      if (ctx.globals(cmd).json) return ctx.json(r);
      ctx.out(`rotated ${name}: now version ${r.version} (${r.fingerprint}); version ${r.version - 1} is kept`);
    });
}
