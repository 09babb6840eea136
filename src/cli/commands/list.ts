import type { Command } from 'commander';
import { collect, parseKeyValues, table, type Context } from '../context.js';

export function registerList(program: Command, ctx: Context): void {
  program
    .command('list')
    .alias('ls')
    .description('open and fully authenticate the vault, then list entries (names, types, versions, fingerprints, dates; never values)')
    .option('--versions', 'show every version of each entry')
    .option('--deleted', 'include removed entries')
    .option('-l, --label <key=value>', 'only entries with this label (repeatable)', collect)
    .action(async (opts: { versions?: boolean; deleted?: boolean; label?: string[] }, cmd: Command) => {
      const { listEntries } = await import('../../vault/entries.js');
      const { listRecipients } = await import('../../vault/recipients.js');
      const { readVault } = await import('../../vault/store.js');
      const { doc, key } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const entries = listEntries(doc, { versions: Boolean(opts.versions), includeDeleted: Boolean(opts.deleted), ...(opts.label ? { label: parseKeyValues(opts.label, '--label') } : {}) });
      if (ctx.globals(cmd).json) {
        ctx.json({
          vault: { vaultId: doc.vaultId, generation: doc.generation, keyId: key.keyId, updatedAt: doc.updatedAt, recipients: listRecipients(doc).map(({ keyId, label, role }) => ({ keyId, label, role })), pendingRekey: Boolean(doc.pendingKey) },
          entries,
        });
        return;
      }
      const rows = [['NAME', 'TYPE', 'VERSION', 'UPDATED', 'FINGERPRINT']];
      for (const e of entries) {
        rows.push([e.name + (e.deletedAt ? ' (removed)' : ''), e.type, String(e.version), e.updatedAt.slice(0, 19) + 'Z', e.fingerprint]);
        for (const h of opts.versions ? e.history!.slice(0, -1).reverse() : []) rows.push(['  @' + h.version, '', String(h.version), h.createdAt.slice(0, 19) + 'Z', h.fingerprint]);
      }
      if (entries.length) ctx.out(table(rows));
      ctx.info(`vault ${doc.vaultId.slice(0, 12)} generation ${doc.generation}, key id ${key.keyId}: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, opened and authenticated`);
      if (doc.pendingKey) ctx.warn(`a rekey to key id ${doc.pendingKey.keyId} is pending: run \`vault-tool rekey --confirm\` or \`--abort\``);
    });
}
