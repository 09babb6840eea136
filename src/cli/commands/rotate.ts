import type { Command } from 'commander';
import type { Context } from '../context.js';

export function registerRotate(program: Command, ctx: Context): void {
  program
    .command('rotate <name>')
    .description('store a newly generated value as the next version (the old version is kept)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { rotateEntry } = await import('../../vault/entries.js');
      const { checkEntryName } = await import('../../vault/types.js');
      const { updateVault } = await import('../../vault/store.js');
      checkEntryName(name);
      const r = await updateVault(ctx.paths(cmd), ctx.storeOptions(cmd), (doc) => rotateEntry(doc, name, ctx.now()));
      if (ctx.globals(cmd).json) return ctx.json(r);
      ctx.out(`rotated ${name}: now version ${r.version} (${r.fingerprint}); version ${r.version - 1} is kept`);
    });
}
