import type { Command } from 'commander';
import { execComponent } from '../../../backup/components.js';
import type { Context } from '../../context.js';
import { componentName, makeOptions, runBackups, type MakeOptions } from './options.js';

export default function backupExec(cmd: Command, ctx: Context): void {
  makeOptions(cmd)
    .argument('<command...>', 'the command and its arguments, after --')
    .requiredOption('--name <name>', 'the component name (exec/NAME): lowercase letters, digits, . _ -', componentName)
    .action(async (command: string[], o: MakeOptions & { name: string }) => {
      await runBackups(ctx, cmd, o, async () => [await execComponent(ctx.io.env, { name: o.name, command: command[0]!, args: command.slice(1) })]);
    });
}
