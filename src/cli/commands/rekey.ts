import type { Command } from 'commander';
import { VaultError } from '../../vault/errors.js';
import type { Context } from '../context.js';

export function registerRekey(program: Command, ctx: Context): void {
  program
    .command('rekey')
    .description('replace the vault key in two steps: rekey writes <key>.new, rekey --confirm switches to it')
    .option('--confirm', 'switch to the new key (after it is copied and escrowed); the old key is kept as <key>.old-<id>')
    .option('--abort', 'drop the pending new key')
    .action(async (opts: { confirm?: boolean; abort?: boolean }, cmd: Command) => {
      const { abortRekey, confirmRekey, startRekey } = await import('../../vault/rekey.js');
      const { isProtectedKeyFile } = await import('../../vault/keyfile.js');
      const { readFileOr } = await import('../../vault/fsutil.js');
      if (opts.confirm && opts.abort) throw new VaultError('usage', "can't use both --confirm and --abort");
      const paths = ctx.paths(cmd);
      const so = ctx.storeOptions(cmd);
      const json = ctx.globals(cmd).json;
      if (opts.confirm) {
        const r = await confirmRekey(paths, so);
        if (json) return ctx.json(r);
        ctx.out(`the vault now opens only with key id ${r.newKeyId} (${paths.keyFile})`);
        ctx.info(`the old key (key id ${r.oldKeyId}) is kept as ${r.oldKeyFile}: older copies of the vault open only with it; destroy it when they are gone`);
        ctx.info('old escrow shares open the old key only: split the new key (escrow split or escrow reshare)');
        return;
      }
      if (opts.abort) {
        const r = await abortRekey(paths, so);
        if (json) return ctx.json(r);
        ctx.out(`rekey aborted; key id ${r.abandonedKeyId} dropped, the vault opens with the old key only`);
        return;
      }
      const protectedKey = isProtectedKeyFile(readFileOr(paths.keyFile, 'key file'));
      const passphrase = protectedKey ? await ctx.getPassphrase(cmd, false) : undefined;
      const r = await startRekey(paths, { ...so, ...(passphrase ? { passphrase } : {}) });
      if (json) return ctx.json(r);
      ctx.out(`new key id ${r.newKeyId} written to ${r.newKeyFile}; the vault now opens with either key`);
      ctx.info('next: copy/escrow the new key, then run `vault-tool rekey --confirm` (or `--abort`)');
    });
}
