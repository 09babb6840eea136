import { Option, type Command } from 'commander';
import type { Context } from '../context.js';

export function registerRekey(program: Command, ctx: Context): void {
  program
    .command('rekey')
    .description('replace the vault key in two steps: rekey writes <key>.new, rekey --confirm switches to it')
    .addOption(new Option('--confirm', 'switch to the new key (after it is copied and escrowed); the old key is kept as <key>.old-<id>').conflicts('abort'))
    .option('--abort', 'drop the pending new key')
    .action(async (opts: { confirm?: boolean; abort?: boolean }, cmd: Command) => {
      const { abortRekey, confirmRekey, startRekey } = await import('../../vault/rekey.js');
      const paths = ctx.paths(cmd);
      const so = ctx.storeOptions(cmd);
      const json = ctx.globals(cmd).json;
      if (opts.confirm) {
        const r = await confirmRekey(paths, so);
        if (json) return ctx.json(r);
        ctx.out(`the vault now opens only with key id ${r.newKeyId} (${paths.keyFile})${r.resumed ? '; an interrupted confirm was finished' : ''}`);
        if (r.oldKeyFile) ctx.info(`the old key (key id ${r.oldKeyId}) is kept as ${r.oldKeyFile}: older copies of the vault open only with it; destroy it when they are gone`);
        ctx.info('old escrow shares open the old key only: split the new key (escrow split or escrow reshare)');
        return;
      }
      if (opts.abort) {
        const r = await abortRekey(paths, so);
        if (json) return ctx.json(r);
        if (r.leftover) ctx.out(`removed ${paths.keyFile}.new, left by a rekey interrupted before it changed the vault; the vault opens with the old key only`);
        else ctx.out(`rekey aborted; key id ${r.abandonedKeyId} dropped, the vault opens with the old key only`);
        return;
      }
      const r = await startRekey(paths, so);
      if (json) return ctx.json(r);
      ctx.out(`new key id ${r.newKeyId} written to ${r.newKeyFile}${r.protected ? ' (passphrase-protected, as the old key)' : ''}; the vault now opens with either key`);
      ctx.info('next: copy/escrow the new key, then run `vault-tool rekey --confirm` (or `--abort`)');
    });
}
