import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from './fsutil.js';

/**
 * The highest generation of each vault seen on this machine, to notice a
 * stale copy restored by mistake (rollback). Holds no secrets.
 */
interface SeenState {
  vaults: Record<string, { generation: number; seenAt: string; path: string }>;
}

function load(file: string): SeenState {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as SeenState;
    return s && typeof s.vaults === 'object' ? s : { vaults: {} };
  } catch {
    return { vaults: {} };
  }
}

export function lastSeen(file: string, vaultId: string): { generation: number; seenAt: string; path: string } | undefined {
  const v = load(file).vaults;
  return Object.hasOwn(v, vaultId) ? v[vaultId] : undefined;
}

/** Returns an error message when the state could not be written (the caller warns; the command goes on). */
export function recordSeen(file: string, vaultId: string, generation: number, path: string, now: Date): string | null {
  const s = load(file);
  const prev = Object.hasOwn(s.vaults, vaultId) ? s.vaults[vaultId] : undefined;
  if (prev && prev.generation >= generation) return null;
  s.vaults[vaultId] = { generation, seenAt: now.toISOString(), path };
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileAtomic(file, JSON.stringify(s, null, 1) + '\n');
    return null;
  } catch (e) {
    return `cannot record the vault generation in ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
}
