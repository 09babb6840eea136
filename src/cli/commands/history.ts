import type { Command } from 'commander';
import { historyOf, requireEntry } from '../../vault/entries.js';
import { readVault } from '../../vault/store.js';
import { checkEntryName } from '../../vault/types.js';
import { table, type Context } from '../context.js';

export default function history(cmd: Command, ctx: Context): void {
  cmd.argument('<name>').action(async (name: string) => {
    checkEntryName(name);
    const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
    const e = requireEntry(doc, name, { includeDeleted: true });
    const versions = historyOf(e);
    if (ctx.globals(cmd).json) return ctx.json({ name, type: e.type, description: e.description, labels: e.labels, deletedAt: e.deletedAt ?? null, versions });
    const cur = versions[versions.length - 1]!.version;
    ctx.out(
      table([
        ['VERSION', 'CREATED', 'SOURCE', 'FINGERPRINT'],
        ...versions.map((v) => [`${v.version}${v.version === cur && !e.deletedAt ? ' (current)' : ''}`, v.createdAt, v.source, v.fingerprint]),
      ]),
    );
    if (e.deletedAt) ctx.info(`${name} was removed on ${e.deletedAt}; its versions remain readable with ${name}@N`);
  });
}
