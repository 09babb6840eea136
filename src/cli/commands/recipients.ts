import type { Command } from 'commander';
import { addRecipient, listRecipients, removeRecipient } from '../../vault/recipients.js';
import { changed, readVault, updateVault } from '../../vault/store.js';
import { table, type Context } from '../context.js';

export default function recipients(cmd: Command, ctx: Context): void {
  cmd
    .command('list', { isDefault: true })
    .description('list the vault key and extra recipients')
    .action(async (_o: unknown, sub: Command) => {
      const { doc } = await readVault(ctx.paths(sub), ctx.storeOptions(sub));
      const rs = listRecipients(doc);
      if (ctx.globals(sub).json) return ctx.json(rs);
      ctx.out(table([['KEY ID', 'ROLE', 'LABEL', 'RECIPIENT'], ...rs.map((r) => [r.keyId, r.role, r.label, r.recipient])]));
    });
  cmd
    .command('add <recipient>')
    .description('also encrypt the vault to an age1… public key (the vault is re-encrypted)')
    .option('--label <text>', 'who or what holds the matching identity', '')
    .action(async (recipient: string, o: { label: string }, sub: Command) => {
      const r = await updateVault(ctx.paths(sub), ctx.storeOptions(sub), (doc) => changed(addRecipient(doc, recipient, o.label, ctx.now())));
      if (ctx.globals(sub).json) return ctx.json(r);
      ctx.out(`added recipient ${r.keyId}; the vault was re-encrypted`);
    });
  cmd
    .command('rm <keyIdOrRecipient>')
    .description('stop encrypting the vault to a recipient (the vault is re-encrypted; copies made before still open with it)')
    .action(async (ref: string, _o: unknown, sub: Command) => {
      const r = await updateVault(ctx.paths(sub), ctx.storeOptions(sub), (doc) => changed(removeRecipient(doc, ref, ctx.now())));
      if (ctx.globals(sub).json) return ctx.json(r);
      ctx.out(`removed recipient ${r.keyId}; the vault was re-encrypted`);
      ctx.info('copies of the vault made before this still open with that identity');
    });
}
