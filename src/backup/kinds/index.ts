import { VaultError } from '../../errors/errors.js';
import type { BackupKind, DrillMethod } from '../kind.js';
import { bucket } from './bucket.js';
import { exec } from './exec.js';
import { files } from './files.js';
import { k8s } from './k8s.js';
import { postgresBase } from './postgres-base.js';
import { postgresGlobals } from './postgres-globals.js';
import { postgresWal } from './postgres-wal.js';
import { postgres } from './postgres.js';
import { redis } from './redis.js';

/**
 * The registry of backup kinds (`backup/kind.ts`): one line each. The
 * order is the one messages list them in.
 */
export const KINDS: readonly BackupKind[] = [postgres, postgresGlobals, postgresBase, postgresWal, redis, files, k8s, exec, bucket];

/** The folders components are named under (`postgres`, `redis`…), each once: `folders.ts`, held to the kinds here. */
export { FOLDERS } from './folders.js';

/** The kind a manifest names, or undefined when this vault-tool does not know it (a newer one wrote it). */
export function findKind(name: string): BackupKind | undefined {
  return KINDS.find((k) => k.name === name);
}

/** The kind a manifest names; one this vault-tool does not know is an error saying so. */
export function kindNamed(name: string): BackupKind {
  const k = findKind(name);
  if (!k) throw new VaultError('invalid', `a backup of kind ${JSON.stringify(name)}, which this vault-tool does not know`, 'upgrade vault-tool');
  return k;
}

/** The kind of a component's backups, by its name (`postgres/globals` is a postgres-globals one, any other `postgres/…` a postgres one). */
export function kindOfComponent(component: string): BackupKind | undefined {
  const folder = component.split('/')[0];
  return KINDS.find((k) => k.only === component) ?? KINDS.find((k) => k.folder === folder && !k.only);
}

/** A kind a drill restores into a scratch target and checks there. */
export type DrilledKind = BackupKind & { drill: DrillMethod };

/** The kinds a drill restores and checks (a base backup and its WAL are rehearsed by a point-in-time restore instead). */
export const DRILLED: readonly DrilledKind[] = KINDS.filter((k): k is DrilledKind => k.drill !== undefined);

/** The kind of a backup a drill restores; one it does not restore on its own is an error saying so. */
export function drilledKind(name: string): DrilledKind {
  const k = kindNamed(name);
  if (!k.drill) throw new VaultError('usage', `a ${k.label} is not restored by a drill on its own`, { code: 'drill-kind' });
  return k as DrilledKind;
}
