import type { Command } from 'commander';
import type { Context } from '../../context.js';
import { attachLazy, type CommandSpec } from '../../lazy.js';

/** The k8s subcommands, one file each, loaded only when run. */
export const K8S_COMMANDS: CommandSpec[] = [
  {
    name: 'import',
    args: '[secrets...]',
    summary: 'import Secrets (from the cluster, or from YAML with --from-file) into the vault',
    load: () => import('./import.js'),
  },
  {
    name: 'export',
    args: '[names...]',
    summary: 'write Secret manifests for entries: an age-encrypted bundle by default, plain YAML with --plaintext',
    load: () => import('./export.js'),
  },
  {
    name: 'plan',
    args: '[names...]',
    summary: "write a restore plan recreating the Secrets the vault's entries were imported from",
    load: () => import('./plan.js'),
  },
  {
    name: 'restore',
    summary: 'apply a restore plan to a cluster: server-side apply, never clobbering without being asked; a summary per Secret',
    load: () => import('./restore.js'),
  },
  {
    name: 'diff-vault',
    aliases: ['compare'],
    summary: "which Secrets of a plan hold exactly the vault's values in the cluster (compared by hash, no values shown)",
    load: () => import('./diff-vault.js'),
  },
  { name: 'rbac', summary: 'print the least-privilege Role and RoleBinding a restore or verify job needs for a plan', load: () => import('./rbac.js') },
];

export default async function k8s(cmd: Command, ctx: Context, rest: string[]): Promise<void> {
  await attachLazy(cmd, ctx, K8S_COMMANDS, rest);
}
