import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { fileStamp } from '../../../vault/time.js';
import type { Component } from '../../../backup/kind.js';
import { postgresGlobals } from '../../../backup/kinds/postgres-globals.js';
import { checkDbname, listDatabases, postgres } from '../../../backup/kinds/postgres.js';
import { VaultError } from '../../../errors/errors.js';
import type { Context } from '../../context.js';
import type { BaseFlags } from './base.js';
import { makeOptions, runBackups, type MakeOptions } from './options.js';

export default function backupPostgres(cmd: Command, ctx: Context): void {
  makeOptions(cmd)
    .option('-d, --dbname <name>', "the database (or a connection string without a password); default: libpq's PGDATABASE, else the user's")
    .option('--all', 'every database of the cluster, one backup each, and the globals (roles, tablespaces) with pg_dumpall --globals-only')
    .option('-Z, --compress <level>', "pg_dump's compression level, 0 (none: for storage that compresses or deduplicates) to 9; default: pg_dump's", (v) => {
      if (!/^[0-9]$/.test(v)) throw new VaultError('usage', `--compress ${JSON.stringify(v)}: expected 0 to 9`);
      return Number(v);
    })
    .option('--base', 'a base backup of the whole cluster for point-in-time recovery (pg_basebackup, tar, -X none): its WAL must be archived by wal-push')
    .option('--cluster <name>', '--base: the cluster, as wal-push names its archive (postgres-base/NAME; env VAULT_TOOL_WAL_CLUSTER)')
    .option('--wal-timeout <duration>', '--base: how long to wait for the WAL the backup needs to be archived', '10m')
    .option('--fast-checkpoint', '--base: start with an immediate checkpoint (default: a spread one, gentler on the server)')
    .action(async (o: MakeOptions & BaseFlags & { dbname?: string; all?: boolean; compress?: number }) => {
      // A base backup's code (pg_basebackup, the WAL archive) is loaded only for one.
      if (o.base) return (await import('./base.js')).runBase(ctx, cmd, o);
      await runBackups(ctx, cmd, o, async () => {
        const env = ctx.io.env;
        const opts = o.compress !== undefined ? { compress: o.compress } : {};
        if (!o.all) return [await postgres.dump({ ...(o.dbname !== undefined ? { dbname: o.dbname } : {}), ...opts }, env)];
        if (o.dbname) checkDbname(o.dbname);
        const out: Component[] = [];
        for (const db of await listDatabases(env, o.dbname)) out.push(await postgres.dump({ dbname: db, ...opts, literal: true }, env));
        out.push(await postgresGlobals.dump({}, env));
        // One set: every database, then the globals, made last, naming them all (a restore of the set takes it whole or not at all).
        const id = `${fileStamp(ctx.now())}-${randomBytes(4).toString('hex')}`;
        const members = out.map((c) => c.component);
        return out.map((c, i) => ({ ...c, set: i === out.length - 1 ? { id, members } : { id } }));
      });
    });
}
