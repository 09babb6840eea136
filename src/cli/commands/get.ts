import type { Command } from 'commander';
import { getVersion } from '../../vault/entries.js';
import { readVault } from '../../vault/store.js';
import { parseRef } from '../../vault/types.js';
import type { Context } from '../context.js';

export default function get(cmd: Command, ctx: Context): void {
  cmd
    .argument('<ref>')
    .option('-o, --out <file>', 'write the value to this file (mode 0600)')
    .option('--force', 'with --out, replace an existing file')
    .option('--reveal', 'allow printing the value to a terminal')
    .action(async (ref: string, o: { out?: string; force?: boolean; reveal?: boolean }) => {
      const { name, version } = parseRef(ref);
      if (o.out) ctx.checkOut(o.out, 'secret', Boolean(o.force));
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const got = getVersion(doc, name, version);
      const at = `${name}@${got.version.version}`;
      if (o.out) {
        ctx.writeOut(o.out, got.value, 'secret', Boolean(o.force));
        ctx.info(`wrote ${at} to ${o.out} (mode 0600)`);
        await ctx.recordAccess(cmd, 'entry.get', { entry: at, type: got.entry.type, to: 'file', out: ctx.abs(o.out) });
        return;
      }
      const to = ctx.io.stdoutIsTTY ? 'terminal' : 'stdout';
      if (ctx.globals(cmd).json) {
        ctx.guardTerminal(Boolean(o.reveal));
        ctx.json({
          name,
          type: got.entry.type,
          version: got.version.version,
          createdAt: got.version.createdAt,
          fingerprint: got.version.fingerprint,
          value: got.value.toString('utf8'),
          valueBase64: got.value.toString('base64'),
        });
        await ctx.recordAccess(cmd, 'entry.get', { entry: at, type: got.entry.type, to });
        return;
      }
      ctx.emitSecret(got.value, Boolean(o.reveal));
      await ctx.recordAccess(cmd, 'entry.get', { entry: at, type: got.entry.type, to });
    });
}
