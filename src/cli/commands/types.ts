import type { Command } from 'commander';
import { table, type Context } from '../context.js';

export function registerTypes(program: Command, ctx: Context): void {
  program
    .command('types')
    .description('list the entry types, their rules and whether they can be generated')
    .action(async (_o: unknown, cmd: Command) => {
      const { ENTRY_TYPES } = await import('../../vault/types.js');
      const ts = Object.values(ENTRY_TYPES).map((t) => ({ type: t.name, generate: Boolean(t.generate), keyMaterial: t.key, summary: t.summary }));
      if (ctx.globals(cmd).json) return ctx.json(ts);
      ctx.out(table([['TYPE', 'GENERATE', 'DESCRIPTION'], ...ts.map((t) => [t.type, t.generate ? 'yes' : 'no', t.summary])]));
    });
}
