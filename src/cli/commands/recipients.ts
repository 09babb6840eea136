import type { Command } from 'commander';
import { table, type Context } from '../context.js';

export function registerRecipients(program: Command, ctx: Context): void {
  const rec = program.command('recipients').description('extra age recipients the vault is also encrypted to (escrow copies)');
  rec
    .command('list', { isDefault: true })
    .description('list the vault key and extra recipients')
    .action(async (_o: unknown, cmd: Command) => {
      const { addRecipient, listRecipients, removeRecipient } = await import('../../vault/recipients.js');
      const { readVault, updateVault } = await import('../../vault/store.js');
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const rs = listRecipients(doc);
      if (ctx.globals(cmd).json) return ctx.json(rs);
      ctx.out(table([['KEY ID', 'ROLE', 'LABEL', 'RECIPIENT'], ...rs.map((r) => [r.keyId, r.role, r.label, r.recipient])]));
    });
  rec
    .command('add <recipient>')
    .description('also encrypt the vault to an age1… public key (the vault is re-encrypted)')
    .option('--label <text>', 'who or what holds the matching identity', '')
    .action(async (recipient: string, opts: { label: string }, cmd: Command) => {
      const { addRecipient, listRecipients, removeRecipient } = await import('../../vault/recipients.js');
      const { readVault, updateVault } = await import('../../vault/store.js');
      const r = await updateVault(ctx.paths(cmd), ctx.storeOptions(cmd), (doc) => addRecipient(doc, recipient, opts.label, ctx.now()));
      if (ctx.globals(cmd).json) return ctx.json(r);
      ctx.out(`added recipient ${r.keyId}; the vault was re-encrypted`);
    });
  rec
    .command('rm <keyIdOrRecipient>')
    .description('stop encrypting the vault to a recipient (the vault is re-encrypted; copies made before still open with it)')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const { addRecipient, listRecipients, removeRecipient } = await import('../../vault/recipients.js');
      const { readVault, updateVault } = await import('../../vault/store.js');
      const r = await updateVault(ctx.paths(cmd), ctx.storeOptions(cmd), (doc) => removeRecipient(doc, ref));
      if (ctx.globals(cmd).json) return ctx.json(r);
      ctx.out(`removed recipient ${r.keyId}; the vault was re-encrypted`);
      ctx.info('copies of the vault made before this still open with that identity');
    });
}
