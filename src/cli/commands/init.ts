import type { Command } from 'commander';
import { initVault } from '../../vault/store.js';
import type { Context } from '../context.js';
import { wholeNumber } from '../options.js';

interface InitOptions {
  passphrase?: boolean;
  workFactor: number;
}

export default function init(cmd: Command, ctx: Context): void {
  cmd
    .option('--passphrase', 'protect vault.key with a passphrase (age scrypt); read from a prompt, --passphrase-env or --passphrase-file')
    .option('--work-factor <logN>', 'scrypt work factor for --passphrase (log2 N, 10..22)', wholeNumber(10, 22), 18)
    .action(async (o: InitOptions) => {
      const paths = ctx.paths(cmd);
      const passphrase = o.passphrase ? await ctx.getPassphrase(cmd, true) : undefined;
      const { key, doc } = await initVault(paths, { ...ctx.storeOptions(cmd), ...(passphrase ? { passphrase } : {}), logN: o.workFactor });
      if (ctx.globals(cmd).json) {
        ctx.json({
          vaultFile: paths.vaultFile,
          keyFile: paths.keyFile,
          vaultId: doc.vaultId,
          keyId: key.keyId,
          recipient: key.recipient,
          passphraseProtected: Boolean(passphrase),
        });
        return;
      }
      ctx.out(`created ${paths.keyFile} (key id ${key.keyId}${passphrase ? ', passphrase-protected' : ''})`);
      ctx.out(`created ${paths.vaultFile} (vault id ${doc.vaultId})`);
      ctx.out(`public key: ${key.recipient}`);
      ctx.info('next: keep vault.key apart from secrets.vault, and split it among custodians (escrow split)');
    });
}
