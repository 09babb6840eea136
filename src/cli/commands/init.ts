import type { Command } from 'commander';
import { VaultError } from '../../vault/errors.js';
import type { Context } from '../context.js';

export function registerInit(program: Command, ctx: Context): void {
  program
    .command('init')
    .description('create a new vault key (vault.key) and an empty vault (secrets.vault)')
    .option('--passphrase', 'protect vault.key with a passphrase (age scrypt); read from a prompt, --passphrase-env or --passphrase-file')
    .option('--work-factor <logN>', 'scrypt work factor for --passphrase (log2 N, 10..22)', '18')
    .action(async (opts: { passphrase?: boolean; workFactor: string }, cmd: Command) => {
      const { initVault } = await import('../../vault/store.js');
      const paths = ctx.paths(cmd);
      const logN = Number(opts.workFactor);
      if (!Number.isInteger(logN) || logN < 10 || logN > 22) throw new VaultError('usage', '--work-factor must be a whole number from 10 to 22');
      const passphrase = opts.passphrase ? await ctx.getPassphrase(cmd, true) : undefined;
      const { key, doc } = await initVault(paths, { ...ctx.storeOptions(cmd), ...(passphrase ? { passphrase } : {}), logN });
      if (ctx.globals(cmd).json) {
        ctx.json({ vaultFile: paths.vaultFile, keyFile: paths.keyFile, vaultId: doc.vaultId, keyId: key.keyId, recipient: key.recipient, passphraseProtected: Boolean(passphrase) });
        return;
      }
      ctx.out(`created ${paths.keyFile} (key id ${key.keyId}${passphrase ? ', passphrase-protected' : ''})`);
      ctx.out(`created ${paths.vaultFile} (vault id ${doc.vaultId})`);
      ctx.out(`public key: ${key.recipient}`);
      ctx.info('next: keep vault.key apart from secrets.vault, and split it among custodians (escrow split)');
    });
}
