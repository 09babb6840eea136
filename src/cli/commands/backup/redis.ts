import type { Command } from 'commander';
import { redis } from '../../../backup/kinds/redis.js';
import type { Context } from '../../context.js';
import { componentName, makeOptions, runBackups, type MakeOptions } from './options.js';

export default function backupRedis(cmd: Command, ctx: Context): void {
  makeOptions(cmd)
    .option('-h, --host <host>', 'the Redis server (its password, if any, in REDISCLI_AUTH)', '127.0.0.1')
    .option('-p, --port <port>', 'its port', '6379')
    .option('--name <name>', 'the component name (redis/NAME): lowercase letters, digits, . _ -', componentName, 'default')
    .action(async (o: MakeOptions & { host: string; port: string; name: string }) => {
      await runBackups(ctx, cmd, o, async () => [await redis.dump({ host: o.host, port: o.port, name: o.name }, ctx.io.env)]);
    });
}
