import { Argument, Option, type Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { exists } from '../../fs/dirs.js';
import { listEntries } from '../../vault/entries.js';
import { keyFileIsProtected, readVault } from '../../vault/store.js';
import { bashScript, fishScript, zshScript } from '../completion/scripts.js';
import { tablesOf } from '../completion/tables.js';
import { completionTree } from '../completion/tree.js';
import type { Context } from '../context.js';

const SCRIPTS = { bash: bashScript, zsh: zshScript, fish: fishScript };

export default function completion(cmd: Command, ctx: Context): void {
  cmd
    .addArgument(new Argument('[shell]', 'bash, zsh or fish').choices(Object.keys(SCRIPTS)))
    .addOption(new Option('--entries', 'print the entry names (for the completion scripts)').hideHelp())
    .addHelpText(
      'after',
      '\nLoad it:\n  bash  source <(vault-tool completion bash)     (~/.bashrc; or save it in ~/.local/share/bash-completion/completions/vault-tool)\n  zsh   source <(vault-tool completion zsh)      (~/.zshrc, after compinit; or save it as _vault_tool in $fpath)\n  fish  vault-tool completion fish | source      (or save it as ~/.config/fish/completions/vault-tool.fish)\n',
    )
    .action(async (shell: string | undefined, o: { entries?: boolean }) => {
      if (o.entries) return printEntries(cmd, ctx);
      if (!shell) throw new VaultError('usage', 'completion for which shell? bash, zsh or fish');
      if (!ctx.build) throw new VaultError('internal', 'no command tree to complete');
      const tables = tablesOf(await completionTree(ctx.build));
      ctx.io.stdout.write(SCRIPTS[shell as keyof typeof SCRIPTS](tables));
    });
}

/**
 * The names of the vault's entries, one a line, for completing them: never
 * a value, never a question (a passphrase-protected key gives nothing), and
 * nothing written (no state file: a completion is not a read to remember).
 */
async function printEntries(cmd: Command, ctx: Context): Promise<void> {
  const paths = ctx.paths(cmd);
  if (!exists(paths.vaultFile) || !exists(paths.keyFile) || keyFileIsProtected(paths.keyFile)) return;
  const { doc } = await readVault(paths, { now: () => ctx.now() });
  for (const e of listEntries(doc)) ctx.out(e.name);
}
