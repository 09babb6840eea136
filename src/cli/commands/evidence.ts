import type { Command } from 'commander';
import { verifyEvidence } from '../../vault/evidence.js';
import { readVault, repairEvidence } from '../../vault/store.js';
import { table, type Context } from '../context.js';

export default function evidence(cmd: Command, ctx: Context): void {
  cmd
    .command('verify', { isDefault: true })
    .description('check the whole log: hash chain, MACs, nothing removed; then list it')
    .action(async (_o: unknown, sub: Command) => {
      const paths = ctx.paths(sub);
      const { doc } = await readVault(paths, ctx.storeOptions(sub));
      const { records, gaps } = verifyEvidence(paths.vaultFile, doc);
      for (const g of gaps)
        ctx.warn(
          `records ${g.from === g.to ? g.from : `${g.from} to ${g.to}`} are missing (the gap is recorded at record ${g.at}, ${g.recordedAt}): the log was lost or cut before it`,
        );
      if (ctx.globals(sub).json) return ctx.json(records);
      if (records.length) ctx.out(table([['SEQ', 'AT', 'EVENT'], ...records.map((r) => [String(r.seq), r.at, r.event])]));
      ctx.info(
        `${records.length} record(s), chain and MACs verified${gaps.length ? `; ${gaps.reduce((n, g) => n + g.to - g.from + 1, 0)} record(s) recorded as missing` : ''}`,
      );
    });
  cmd
    .command('repair')
    .description(
      'write back records the vault holds and the log lacks (a cut log, or an interrupted write), or start a new segment recording records lost for good; the repair itself is recorded',
    )
    .action(async (_o: unknown, sub: Command) => {
      const r = await repairEvidence(ctx.paths(sub), ctx.storeOptions(sub));
      if (ctx.globals(sub).json) return ctx.json(r);
      if (r.gap) {
        const which = r.gap.from === r.gap.to ? `record ${r.gap.from} is` : `records ${r.gap.from} to ${r.gap.to} are`;
        return ctx.out(
          `${which} missing from the log and cannot be written back; a new log segment records the loss${r.droppedPartial ? ' (a partial last line was dropped)' : ''}`,
        );
      }
      if (!r.restored.length && !r.droppedPartial) return ctx.out('the evidence log holds every record the vault recorded: nothing to repair');
      ctx.out(
        `wrote back record${r.restored.length === 1 ? '' : 's'} ${r.restored.join(', ')}${r.droppedPartial ? ' (a partial last line was dropped)' : ''}; the repair is recorded in the log`,
      );
    });
}
