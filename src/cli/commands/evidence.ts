import type { Command } from 'commander';
import { table, type Context } from '../context.js';

export function registerEvidence(program: Command, ctx: Context): void {
  const ev = program.command('evidence').description('the evidence log kept next to the vault (ceremonies, restores, verifications)');
  ev.command('verify', { isDefault: true })
    .description('check the whole log: hash chain, MACs, nothing removed; then list it')
    .action(async (_o: unknown, cmd: Command) => {
      const { readVault } = await import('../../vault/store.js');
      const { verifyEvidence } = await import('../../vault/evidence.js');
      const paths = ctx.paths(cmd);
      const { doc } = await readVault(paths, ctx.storeOptions(cmd));
      const { records } = verifyEvidence(paths.vaultFile, doc);
      if (ctx.globals(cmd).json) return ctx.json(records);
      if (records.length) ctx.out(table([['SEQ', 'AT', 'EVENT'], ...records.map((r) => [String(r.seq), r.at, r.event])]));
      ctx.info(`${records.length} record(s), chain and MACs verified`);
    });
  ev.command('repair')
    .description('write back records the vault holds and the log lacks (a cut log, or an interrupted write); the repair itself is recorded')
    .action(async (_o: unknown, cmd: Command) => {
      const { repairEvidence } = await import('../../vault/store.js');
      const r = await repairEvidence(ctx.paths(cmd), ctx.storeOptions(cmd));
      if (ctx.globals(cmd).json) return ctx.json(r);
      if (!r.restored.length && !r.droppedPartial) return ctx.out('the evidence log holds every record the vault recorded: nothing to repair');
      ctx.out(`wrote back record${r.restored.length === 1 ? '' : 's'} ${r.restored.join(', ')}${r.droppedPartial ? ' (a partial last line was dropped)' : ''}; the repair is recorded in the log`);
    });
}
