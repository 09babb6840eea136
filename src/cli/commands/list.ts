import type { Command } from 'commander';
import { listEntries } from '../../vault/entries.js';
import { listRecipients } from '../../vault/recipients.js';
import { readVault } from '../../vault/store.js';
import { parseKeyValues, table, type Context } from '../context.js';
import { collect } from '../options.js';

export default function list(cmd: Command, ctx: Context): void {
  cmd
    .option('--versions', 'show every version of each entry')
    .option('--deleted', 'include removed entries')
    .option('-l, --label <key=value>', 'only entries with this label (repeatable)', collect)
    .action(async (o: { versions?: boolean; deleted?: boolean; label?: string[] }) => {
      const { doc, key } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const entries = listEntries(doc, {
        versions: Boolean(o.versions),
        includeDeleted: Boolean(o.deleted),
        ...(o.label ? { label: parseKeyValues(o.label, '--label') } : {}),
      });
      if (ctx.globals(cmd).json) {
        ctx.json({
          vault: {
            vaultId: doc.vaultId,
            generation: doc.generation,
            keyId: key.keyId,
            updatedAt: doc.updatedAt,
            recipients: listRecipients(doc).map(({ keyId, label, role }) => ({ keyId, label, role })),
            pendingRekey: Boolean(doc.pendingKey),
          },
          entries,
        });
        return;
      }
      const rows = [['NAME', 'TYPE', 'VERSION', 'UPDATED', 'FINGERPRINT']];
      for (const e of entries) {
        rows.push([e.name + (e.deletedAt ? ' (removed)' : ''), e.type, String(e.version), e.updatedAt.slice(0, 19) + 'Z', e.fingerprint]);
        for (const h of o.versions ? e.history!.slice(0, -1).reverse() : [])
          rows.push(['  @' + h.version, '', String(h.version), h.createdAt.slice(0, 19) + 'Z', h.fingerprint]);
      }
      if (entries.length) ctx.out(table(rows));
      ctx.info(
        `vault ${doc.vaultId.slice(0, 12)} generation ${doc.generation}, key id ${key.keyId}: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, opened and authenticated`,
      );
      if (doc.pendingKey) ctx.warn(`a rekey to key id ${doc.pendingKey.keyId} is pending: run \`vault-tool rekey --confirm\` or \`--abort\``);
    });
}
