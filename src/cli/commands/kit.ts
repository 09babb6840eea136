import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { writeKit } from '../../escrow/kit-file.js';
import type { Context } from '../context.js';

export default function kit(cmd: Command, ctx: Context): void {
  cmd
    .option('-o, --out <file>', 'where to write the recovery kit (an HTML file)')
    .option('--force', 'replace an existing file')
    .action(async (o: { out?: string; force?: boolean }) => {
      if (!o.out) throw new VaultError('usage', 'say where to write the kit: --out recovery-kit.html');
      const out = ctx.checkOut(o.out, 'kit', Boolean(o.force));
      const r = writeKit(out, Boolean(o.force));
      if (ctx.globals(cmd).json) return ctx.json({ out, bytes: r.bytes, sha256: r.sha256 });
      ctx.out(`wrote ${o.out} (${r.bytes} bytes): open it in any browser, offline, to rebuild the vault key from shares and open the vault`);
      ctx.out(`recovery kit sha256: ${r.sha256}`);
    });
}
