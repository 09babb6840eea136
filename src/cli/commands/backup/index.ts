import type { Command } from 'commander';
import type { Context } from '../../context.js';
import { attachLazy, type CommandSpec } from '../../lazy.js';

/** The backup subcommands, one file each, loaded only when run. */
export const BACKUP_COMMANDS: CommandSpec[] = [
  {
    name: 'postgres',
    summary: 'back up a PostgreSQL database (pg_dump -Fc), or every database and the globals with --all',
    load: () => import('./postgres.js'),
  },
  { name: 'redis', summary: 'back up a Redis server (an RDB snapshot through redis-cli --rdb)', load: () => import('./redis.js') },
  {
    name: 'files',
    args: '<paths...>',
    summary: 'back up files and folders (a tar stream): .env, compose files, certs/, config/',
    load: () => import('./files.js'),
  },
  { name: 'k8s', summary: 'back up the Secrets and ConfigMaps of namespaces (YAML)', load: () => import('./k8s.js') },
  {
    name: 'bucket',
    args: '<source>',
    summary: 'back up the objects of a bucket through rclone (REMOTE:BUCKET[/PREFIX]): keys, sizes, hashes, times and bytes in one archive',
    load: () => import('./bucket.js'),
  },
  {
    name: 'exec',
    args: '<command...>',
    summary: 'back up what any command writes to stdout (mongodump --archive, kc.sh export…)',
    load: () => import('./exec.js'),
  },
  {
    name: 'verify',
    args: '[backups...]',
    summary: "verify backups: signed manifest, key held by the vault, and a full read (decrypt and the component's check)",
    load: () => import('./verify.js'),
  },
  {
    name: 'restore',
    args: '[backup]',
    summary: 'restore a backup (a component: its newest verified) into its native tool, after a full check; --all: every database of a set, the roles first',
    load: () => import('./restore.js'),
  },
  {
    name: 'prune',
    summary: "remove old backups by restic's --keep rules (a dry run unless --confirm); never the newest verified",
    load: () => import('./prune.js'),
  },
  {
    name: 'status',
    summary: 'per component: the newest verified backup, its age against the RPO, and whether the vault holds its key',
    load: () => import('./status.js'),
  },
  {
    name: 'list',
    args: '[backups...]',
    summary: 'the backups in the repository (or of the components named), the newest verified of each marked latest',
    load: () => import('./list.js'),
  },
  {
    name: 'wal-push',
    args: '<path>',
    summary: "PostgreSQL's archive_command: archive one WAL file (%p), encrypted to the backup recipient; never overwrites",
    load: () => import('./wal-push.js'),
  },
  {
    name: 'wal-fetch',
    args: '<file> <path>',
    summary: "PostgreSQL's restore_command: one archived WAL file (%f) back to %p, after every check; exit 1 when absent",
    load: () => import('./wal-fetch.js'),
  },
  {
    name: 'wal-verify',
    summary: 'the WAL archive of a cluster: continuous from each base backup to the newest segment (a gap named), each file read in full with --read-data',
    load: () => import('./wal-verify.js'),
  },
  {
    name: 'wal-prune',
    summary: 'remove the WAL no base backup still needs (a dry run unless --confirm); never after the oldest base backup',
    load: () => import('./wal-prune.js'),
  },
  {
    name: 'wal-status',
    summary: "a cluster's archive: the newest archived segment's age against the RPO, and pg_stat_archiver with --archiver",
    load: () => import('./wal-status.js'),
  },
  {
    name: 'key',
    summary: 'the backup key: its recipient (for backup hosts), rotation, and the hosts whose manifests are trusted',
    load: () => import('./key.js'),
  },
];

export default async function backup(cmd: Command, ctx: Context, rest: string[]): Promise<void> {
  await attachLazy(cmd, ctx, BACKUP_COMMANDS, rest);
}
