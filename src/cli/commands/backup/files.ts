import type { Command } from 'commander';
import { files } from '../../../backup/kinds/files.js';
import type { Context } from '../../context.js';
import { componentName, makeOptions, runBackups, type MakeOptions } from './options.js';

export default function backupFiles(cmd: Command, ctx: Context): void {
  makeOptions(cmd)
    .argument('<paths...>')
    .option('-C, --base <dir>', 'the paths are relative to this folder (default: the current one)')
    .option('--name <name>', 'the component name (files/NAME): lowercase letters, digits, . _ -', componentName, 'config')
    .action(async (paths: string[], o: MakeOptions & { base?: string; name: string }) => {
      await runBackups(ctx, cmd, o, async () => [await files.dump({ base: o.base ? ctx.abs(o.base) : ctx.io.cwd, paths, name: o.name }, ctx.io.env)]);
    });
}
