import { Option, type Command } from 'commander';
import { abortRekey, confirmRekey, startRekey } from '../../vault/rekey.js';
import { readVault } from '../../vault/store.js';
import { checkEscrow } from '../../verify/escrow.js';
import { peekVerifyState } from '../../verify/state.js';
import type { Context } from '../context.js';

export default function rekey(cmd: Command, ctx: Context): void {
  cmd
    .addOption(new Option('--confirm', 'switch to the new key (after it is copied and escrowed); the old key is kept as <key>.old-<id>').conflicts('abort'))
    .option('--abort', 'drop the pending new key')
    .action(async (o: { confirm?: boolean; abort?: boolean }) => {
      const paths = ctx.paths(cmd);
      const so = ctx.storeOptions(cmd);
      const json = ctx.globals(cmd).json;
      if (o.confirm) {
        const r = await confirmRekey(paths, so);
        // What the switch left behind: the escrow and the registered copies open only the old key now.
        const { doc } = await readVault(paths, so);
        const escrow = checkEscrow(doc);
        const behind = peekVerifyState(doc).copies;
        if (json) return ctx.json({ ...r, escrow, copiesBehind: behind.map((c) => c.id) });
        ctx.out(`the vault now opens only with key id ${r.newKeyId} (${paths.keyFile})${r.resumed ? '; an interrupted confirm was finished' : ''}`);
        if (r.oldKeyFile)
          ctx.info(`the old key (key id ${r.oldKeyId}) is kept as ${r.oldKeyFile}: older copies of the vault open only with it; destroy it when they are gone`);
        if (escrow && escrow.verdict !== 'ok')
          ctx.warn(
            `${escrow.message}. Until the new key is split, losing ${paths.keyFile} loses every secret: run \`vault-tool escrow reshare\` (or \`vault-tool escrow split\`) now; \`vault-tool verify\` and \`vault-tool status\` fail until then`,
          );
        else if (!escrow) ctx.info('the vault key was never split among custodians: `vault-tool escrow split` escrows the new one');
        if (behind.length)
          ctx.warn(
            `the registered copies now open only with the old key: ${behind.map((c) => `${c.kind} copy ${c.id} (${c.dest})`).join(', ')}; replace each with \`vault-tool copy --replace ID\``,
          );
        return;
      }
      if (o.abort) {
        const r = await abortRekey(paths, so);
        if (json) return ctx.json(r);
        if (r.leftover) ctx.out(`removed ${paths.keyFile}.new, left by a rekey interrupted before it changed the vault; the vault opens with the old key only`);
        else ctx.out(`rekey aborted; key id ${r.abandonedKeyId} dropped, the vault opens with the old key only`);
        return;
      }
      const r = await startRekey(paths, so);
      if (json) return ctx.json(r);
      ctx.out(
        `new key id ${r.newKeyId} written to ${r.newKeyFile}${r.protected ? ' (passphrase-protected, as the old key)' : ''}; the vault now opens with either key`,
      );
      ctx.info('next: copy/escrow the new key, then run `vault-tool rekey --confirm` (or `--abort`)');
    });
}
