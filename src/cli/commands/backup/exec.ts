import type { Command } from 'commander';
import { exec } from '../../../backup/kinds/exec.js';
import { VaultError } from '../../../errors/errors.js';
import { exists } from '../../../fs/dirs.js';
import { handOver } from '../../../vault/handover.js';
import type { Context } from '../../context.js';
import { parseEnvSpecs, warnSecretArgs } from '../../handover.js';
import { collect } from '../../options.js';
import { componentName, makeOptions, runBackups, type MakeOptions } from './options.js';

export default function backupExec(cmd: Command, ctx: Context): void {
  makeOptions(cmd)
    .argument('<command...>', 'the command and its arguments, after --')
    .requiredOption('--name <name>', 'the component name (exec/NAME): lowercase letters, digits, . _ -', componentName)
    .option('-e, --env <NAME=ENTRY[@N]>', "set NAME in the command's environment to the entry's value (repeatable; the vault must be here)", collect)
    .action(async (command: string[], o: MakeOptions & { name: string; env?: string[] }) => {
      const requests = parseEnvSpecs(o.env);
      const paths = ctx.paths(cmd);
      if (requests.length && !(exists(paths.keyFile) && exists(paths.vaultFile)))
        throw new VaultError('usage', '--env reads entries from the vault: run where the vault and its key are (--vault-file, --key-file)');
      // Said once, with the way out; the manifest records the command line redacted.
      warnSecretArgs(ctx, command);
      await runBackups(ctx, cmd, o, async () => {
        const env: Record<string, string | undefined> = { ...ctx.io.env };
        if (requests.length) {
          const handed = await handOver(paths, ctx.storeOptions(cmd), requests, { command: command[0]!, component: `exec/${o.name}`, now: ctx.now() });
          ctx.conceal(handed.map((h) => h.value));
          // The vault key's passphrase is for vault-tool, not for the dump command.
          const g = ctx.globals(cmd);
          if (g.passphraseEnv) delete env[g.passphraseEnv];
          for (const h of handed) if ('env' in h.to) env[h.to.env] = h.value.toString('utf8');
        }
        const c = await exec.dump({ name: o.name, command: command[0]!, args: command.slice(1) }, env);
        return [{ ...c, warnings: [] }];
      });
    });
}
