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
      const recs = verifyEvidence(paths.vaultFile, doc);
      if (ctx.globals(cmd).json) return ctx.json(recs);
      if (recs.length) ctx.out(table([['SEQ', 'AT', 'EVENT'], ...recs.map((r) => [String(r.seq), r.at, r.event])]));
      ctx.info(`${recs.length} record(s), chain and MACs verified`);
    });
}
