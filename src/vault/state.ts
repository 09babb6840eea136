import { LIMITS, readFileCapped } from '../fs/read.js';
import { dirname } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { acquireLock } from '../fs/lock.js';
import { makeDirs } from '../fs/dirs.js';
import { sweepTempFiles, writeFileAtomic } from '../fs/atomic.js';
import { isRecord } from './shape.js';

/**
 * What this machine has seen of each vault, to notice a stale copy restored
 * by mistake (rollback) or two copies that were both written after they
 * parted (a fork): per vault id, the newest generation seen and the SHA-256
 * of that copy's age header (unique to each write). Holds no secrets.
 */
export interface SeenCopy {
  generation: number;
  /** SHA-256 (hex) of the age header of the copy seen; absent in state written by older releases. */
  header?: string;
  seenAt: string;
  path: string;
}

interface SeenState {
  version: 2;
  vaults: Record<string, SeenCopy>;
}

/** The header hashes of a vault's previous generations, kept in its payload to tell a descendant from a fork. */
export interface LineageEntry {
  generation: number;
  header: string;
}
export const LINEAGE_LENGTH = 64;

function validCopy(v: unknown): v is SeenCopy {
  return (
    isRecord(v) &&
    Number.isSafeInteger(v.generation) &&
    typeof v.seenAt === 'string' &&
    typeof v.path === 'string' &&
    (v.header === undefined || (typeof v.header === 'string' && /^[0-9a-f]{64}$/.test(v.header)))
  );
}

/** Reads the state file; a missing one is empty, an unreadable or malformed one an error (the caller decides how loud). */
export function loadSeen(file: string): SeenState {
  let text: string;
  try {
    text = readFileCapped(file, 'state file', LIMITS.state).toString('utf8');
  } catch (e) {
    if (e instanceof VaultError && e.kind === 'not-found') return { version: 2, vaults: Object.create(null) };
    throw new VaultError(
      'rollback',
      `cannot read the state file ${file} (${(e as Error).message}): the rollback check cannot run`,
      'fix its permissions, or move it away to start afresh',
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  const vaults = isRecord(raw) ? raw.vaults : undefined;
  if (!isRecord(vaults) || !Object.values(vaults).every(validCopy)) {
    throw new VaultError(
      'rollback',
      `the state file ${file} is damaged: the rollback check cannot run`,
      `move it away to start afresh (what it remembered is lost): mv ${file} ${file}.damaged`,
    );
  }
  const out: Record<string, SeenCopy> = Object.create(null);
  for (const [id, v] of Object.entries(vaults)) out[id] = v as SeenCopy;
  return { version: 2, vaults: out };
}

export type CopyCheck = { status: 'new' | 'same' | 'newer' } | { status: 'stale' | 'fork' | 'undetermined'; seen: SeenCopy; message: string };

/**
 * How a copy (vault id, generation, header hash, lineage) relates to what
 * was seen: the same copy, a newer one descending from it, an older one
 * (stale), or one that parted from it (fork: same generation with other
 * content, or a newer generation whose lineage holds another header).
 */
export function checkCopy(seen: SeenCopy | undefined, copy: { vaultId: string; generation: number; header: string; lineage?: LineageEntry[] }): CopyCheck {
  if (!seen) return { status: 'new' };
  const id = copy.vaultId.slice(0, 12);
  const when = `on this machine on ${seen.seenAt} (${seen.path})`;
  if (copy.generation < seen.generation) {
    return {
      status: 'stale',
      seen,
      message: `this copy of vault ${id} is at generation ${copy.generation}, but generation ${seen.generation} was seen ${when}: it is an older copy`,
    };
  }
  if (!seen.header) return { status: copy.generation === seen.generation ? 'same' : 'newer' };
  if (copy.generation === seen.generation) {
    if (copy.header === seen.header) return { status: 'same' };
    return {
      status: 'fork',
      seen,
      message: `this copy of vault ${id} is at generation ${copy.generation}, as the copy seen ${when}, but its content differs: the copies parted (one was written after being restored from an older copy)`,
    };
  }
  const ancestor = copy.lineage?.find((l) => l.generation === seen.generation);
  if (!ancestor) {
    // The lineage keeps the last LINEAGE_LENGTH generations: a copy further ahead may descend from the one seen, or be a fork that moved on.
    return {
      status: 'undetermined',
      seen,
      message: `this copy of vault ${id} (generation ${copy.generation}) has moved on more than ${LINEAGE_LENGTH} generations since generation ${seen.generation} seen ${when}: cannot tell if this copy descends from the one seen`,
    };
  }
  if (ancestor.header !== seen.header) {
    return {
      status: 'fork',
      seen,
      message: `this copy of vault ${id} (generation ${copy.generation}) does not descend from generation ${seen.generation} seen ${when}: the copies parted (one was written after being restored from an older copy)`,
    };
  }
  return { status: 'newer' };
}

/**
 * Records the copy as the newest seen of its vault (under a lock: several
 * vault-tool processes may run at once). Unless `replace`, only a newer
 * generation replaces what is recorded. Returns an error message when the
 * state could not be written (the caller warns; the command goes on).
 */
export async function recordSeen(file: string, vaultId: string, copy: Omit<SeenCopy, 'seenAt'>, now: Date, replace = false): Promise<string | null> {
  try {
    makeDirs(dirname(file));
    // Temp files of killed runs (the state file being written, a lock being published) go first.
    sweepTempFiles(file);
    const release = await acquireLock(file, 5_000);
    try {
      const s = loadSeen(file);
      const prev = s.vaults[vaultId];
      // A newer generation replaces what is recorded; the same one only fills in a header older releases did not record.
      if (!replace && prev && (prev.generation > copy.generation || (prev.generation === copy.generation && prev.header !== undefined))) return null;
      s.vaults[vaultId] = { ...copy, seenAt: now.toISOString() };
      writeFileAtomic(file, JSON.stringify(s, null, 1) + '\n', { ownFile: 'the record of the vaults seen' });
      return null;
    } finally {
      release();
    }
  } catch (e) {
    return `cannot record the vault generation in ${file}: ${(e as Error).message}`;
  }
}
