import type { Command } from 'commander';
import { ENTRY_TYPES } from '../../vault/types.js';
import { table, type Context } from '../context.js';

export default function types(cmd: Command, ctx: Context): void {
  cmd.action(async () => {
    const ts = Object.values(ENTRY_TYPES).map((t) => ({ type: t.name, generate: Boolean(t.generate), keyMaterial: t.key, summary: t.summary }));
    if (ctx.globals(cmd).json) return ctx.json(ts);
    ctx.out(table([['TYPE', 'GENERATE', 'DESCRIPTION'], ...ts.map((t) => [t.type, t.generate ? 'yes' : 'no', t.summary])]));
  });
}
