import type { Command } from 'commander';
import { rotateEntry } from '../../vault/entries.js';
import { changed, updateVault } from '../../vault/store.js';
import { checkEntryName } from '../../vault/types.js';
import type { Context } from '../context.js';

export default function rotate(cmd: Command, ctx: Context): void {
  cmd.argument('<name>').action(async (name: string) => {
    checkEntryName(name);
    const r = await updateVault(ctx.paths(cmd), ctx.storeOptions(cmd), (doc) => changed(rotateEntry(doc, name, ctx.now())));
    if (ctx.globals(cmd).json) return ctx.json(r);
    ctx.out(`rotated ${name}: now version ${r.version} (${r.fingerprint}); version ${r.version - 1} is kept`);
  });
}
