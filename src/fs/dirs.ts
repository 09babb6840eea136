import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { fsError } from './errors.js';

/** The first part of `path` that exists but is not a folder (for ENOTDIR messages). */
export function firstNonFolder(path: string): string {
  const parts: string[] = [];
  for (let p = dirname(path); p !== dirname(p); p = dirname(p)) parts.unshift(p);
  for (const p of parts) {
    try {
      if (!statSync(p).isDirectory()) return p;
    } catch {
      break;
    }
  }
  return dirname(path);
}

/**
 * mkdir -p without fs.mkdirSync's recursive mode (which loops forever on
 * some paths, e.g. under /proc): walks up to the first folder that exists,
 * then creates each missing one (mode 0700 by default).
 */
/** Creates `path` and any missing parents (mode 0700); returns the folders it created, outermost first. */
export function makeDirs(path: string, mode = 0o700): string[] {
  const missing: string[] = [];
  let p = path;
  for (let depth = 0; depth < 256; depth++) {
    try {
      if (!statSync(p).isDirectory()) throw new VaultError('usage', `cannot create folder ${path}: ${p} is not a folder`);
      break;
    } catch (e) {
      if (e instanceof VaultError) throw e;
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw new VaultError('usage', `cannot create folder ${path}: ${firstNonFolder(p)} is not a folder`);
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(e, 'create folder', path);
      missing.push(p);
      const up = dirname(p);
      if (up === p) break;
      p = up;
    }
  }
  missing.reverse();
  for (const d of missing) makeDir(d, mode, true);
  return missing;
}

/** mkdir of one folder whose parent exists, with a classified error. */
export function makeDir(d: string, mode = 0o700, existOk = false): void {
  try {
    mkdirSync(d, { mode });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && existOk && statSync(d).isDirectory()) return;
    // ENOENT here means the parent exists but refuses new entries (a virtual file system such as /proc).
    if (code === 'ENOENT') throw new VaultError('io', `cannot create folder ${d}: the file system does not allow it`);
    throw fsError(e, 'create folder', d);
  }
}

export function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
