import type { Command } from 'commander';
import type { Context } from '../context.js';

export function registerGet(program: Command, ctx: Context): void {
  program
    .command('get <ref>')
    .description('write an entry value (NAME or NAME@VERSION) to a file, a pipe, or with --reveal the terminal')
    .option('-o, --out <file>', 'write the value to this file (mode 0600)')
    .option('--force', 'with --out, replace an existing file')
    .option('--reveal', 'allow printing the value to a terminal')
    .action(async (ref: string, opts: { out?: string; force?: boolean; reveal?: boolean }, cmd: Command) => {
      const { getVersion } = await import('../../vault/entries.js');
      const { parseRef } = await import('../../vault/types.js');
      const { readVault } = await import('../../vault/store.js');
      const { name, version } = parseRef(ref);
      if (opts.out) ctx.checkOut(opts.out, Boolean(opts.force));
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const got = getVersion(doc, name, version);
      if (opts.out) {
        ctx.writeOut(opts.out, got.value, Boolean(opts.force));
        ctx.info(`wrote ${name}@${got.version.version} to ${opts.out} (mode 0600)`);
        return;
      }
      if (ctx.globals(cmd).json) {
        ctx.guardTerminal(Boolean(opts.reveal));
        ctx.json({ name, type: got.entry.type, version: got.version.version, createdAt: got.version.createdAt, fingerprint: got.version.fingerprint, value: got.value.toString('utf8'), valueBase64: got.value.toString('base64') });
        return;
      }
      ctx.emitSecret(got.value, Boolean(opts.reveal));
    });
}
