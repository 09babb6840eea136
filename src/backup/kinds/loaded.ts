import type { BackupKind } from '../kind.js';

/**
 * The kinds whose module is loaded, by name. A backup is made by a kind's
 * own `dump`, so its module is loaded already: the backup finds it here
 * without loading every other kind (the registry, `index.ts`, loads them
 * all: bucket, redis, the WAL archive…). Any other name is looked up in the
 * registry, loaded then by the caller.
 */
const loaded = new Map<string, BackupKind>();

/** A kind, known by name once its module is loaded (each kind's module defines itself through this). */
export function defineKind<O>(kind: BackupKind<O>): BackupKind<O> {
  loaded.set(kind.name, kind as unknown as BackupKind);
  return kind;
}

/** The kind named, when its module is loaded (else the registry's `kindNamed`, which loads them all, is the one to ask). */
export function loadedKind(name: string): BackupKind | undefined {
  return loaded.get(name);
}
