import type { Command } from 'commander';
import { bucket } from '../../../backup/kinds/bucket.js';
import type { Context } from '../../context.js';
import { componentName, makeOptions, runBackups, type MakeOptions } from './options.js';

export default function backupBucket(cmd: Command, ctx: Context): void {
  makeOptions(cmd)
    .argument('<source>', 'REMOTE:BUCKET[/PREFIX]: the objects to back up, through rclone')
    .option('--name <name>', 'the component name (bucket/NAME): lowercase letters, digits, . _ -', componentName, 'default')
    .action(async (source: string, o: MakeOptions & { name: string }) => {
      await runBackups(ctx, cmd, o, async () => [await bucket.dump({ source, name: o.name, env: ctx.io.env }, ctx.io.env)]);
    });
}
