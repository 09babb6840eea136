import type { Command } from 'commander';
import { getVersion } from '../../vault/entries.js';
import { parseRef } from '../../vault/types.js';
import { readVault } from '../../vault/store.js';
import { writeFileAtomic } from '../../vault/fsutil.js';
import type { Context } from '../context.js';

export function registerGet(program: Command, ctx: Context): void {
  program
    .command('get <ref>')
    .description('write an entry value (NAME or NAME@VERSION) to a file, a pipe, or with --reveal the terminal')
    .option('-o, --out <file>', 'write the value to this file (mode 0600)')
    .option('--force', 'with --out, replace an existing file')
    .option('--reveal', 'allow printing the value to a terminal')
    .action(async (ref: string, opts: { out?: string; force?: boolean; reveal?: boolean }, cmd: Command) => {
      const { name, version } = parseRef(ref);
      const { doc } = await readVault(ctx.paths(cmd), ctx.storeOptions(cmd));
      const got = getVersion(doc, name, version);
      if (opts.out) {
        writeFileAtomic(ctx.abs(opts.out), got.value, { exclusive: !opts.force });
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
