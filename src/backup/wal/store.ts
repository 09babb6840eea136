import { closeSync, constants, fsyncSync, linkSync, openSync, unlinkSync, writevSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { VaultError } from '../../errors/errors.js';
import type { Destination } from '../../dest/dest.js';
import { sweepFolder } from '../../dest/folder.js';
import { tempName } from '../../dest/temp.js';
import { fsyncDir, removeQuietly } from '../../fs/atomic.js';
import { registerCleanup } from '../../fs/cleanup.js';
import { makeDirs } from '../../fs/dirs.js';
import { fsError } from '../../fs/errors.js';
import { componentDest, isComponentName, type Repo } from '../repo.js';

/**
 * Where a cluster's WAL archive lives in a repository, and the few file
 * operations the archive needs on a folder or an rclone remote:
 *
 *   <repo>/postgres-wal/<cluster>/archive.json                the cluster it holds (signed)
 *   <repo>/postgres-wal/<cluster>/segments/<WAL name>.age      each file PostgreSQL archived
 *   <repo>/postgres-wal/<cluster>/segments/<WAL name>.age.manifest.json
 *
 * The segments sit one folder deeper than backups, so listing the
 * repository's backups never takes them for backups.
 */
export const WAL_KIND = 'postgres-wal';
export const BASE_KIND = 'postgres-base';

export function checkCluster(cluster: string): string {
  if (!isComponentName(cluster))
    throw new VaultError(
      'usage',
      `invalid cluster name ${JSON.stringify(cluster)}: lowercase letters, digits, . _ - (at most 100), starting with a letter or a digit`,
      { code: 'wal-cluster-name' },
    );
  return cluster;
}

export const archiveDest = (repo: Repo, cluster: string): Destination => componentDest(repo, `${WAL_KIND}/${checkCluster(cluster)}`);
export const segmentsDest = (repo: Repo, cluster: string): Destination => componentDest(repo, `${WAL_KIND}/${checkCluster(cluster)}/segments`);

/** A whole small file, or null when there is none. */
export async function readIfThere(_repo: Repo, d: Destination, name: string, limit: number, what: string): Promise<Buffer | null> {
  try {
    return await d.read(name, limit, what);
  } catch (e) {
    if (e instanceof VaultError && e.kind === 'not-found') return null;
    throw e;
  }
}

/** Whether a file is there (a remote is asked for that one file, not listed whole). */
export async function isThere(_repo: Repo, d: Destination, name: string): Promise<boolean> {
  return d.has(name);
}

/**
 * Writes a file that must not exist, from its pieces (an age file's header
 * and payload, never joined into one 16 MiB buffer): a temp name, then
 * moved into place without replacing one. In a local folder a temp file
 * (0600) written in one go, fsync, then a hard link that fails if the name
 * was taken meanwhile, and the folder synced; the folder is not listed (a
 * push is one of thousands into the same folder): temp names killed writes
 * left are swept by `wal-prune`. A remote has no exclusive create: the
 * caller looks first. A killed write leaves only a temp name
 * (`.NAME.<pid>.<hex>.h<host>.tmp`), which no reader takes for a file of
 * the archive.
 */
export async function putNew(_repo: Repo, d: Destination, name: string, data: Uint8Array | Uint8Array[]): Promise<string> {
  const parts = (Array.isArray(data) ? data : [data]).filter((p) => p.byteLength > 0);
  const local = d.localPath(name);
  if (local !== undefined) return putNewLocal(local, parts);
  const f = d.create(name, { sizeEstimate: parts.reduce((n, p) => n + p.byteLength, 0) });
  try {
    await new Promise<void>((res, rej) => {
      f.stream.on('error', rej);
      for (const p of parts) f.stream.write(p);
      f.stream.end(() => res());
    });
  } catch (e) {
    await f.abort();
    throw await f.explain(e);
  }
  return f.commit();
}

function putNewLocal(final: string, parts: Uint8Array[]): string {
  const dir = dirname(final);
  makeDirs(dir);
  const tmp = join(dir, tempName(basename(final)));
  const unregister = registerCleanup(() => removeQuietly(tmp));
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      const left = [...parts];
      while (left.length) {
        let n = writevSync(fd, left);
        // A short write: drop what went, go on with the rest.
        while (left.length && n >= left[0]!.byteLength) n -= left.shift()!.byteLength;
        if (n > 0) left[0] = left[0]!.subarray(n);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, final);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new VaultError('exists', `${final} already exists; refusing to overwrite it`);
      throw e;
    }
    unlinkSync(tmp);
    fsyncDir(dir);
    return final;
  } catch (e) {
    removeQuietly(tmp);
    if (e instanceof VaultError) throw e;
    throw fsError(e, 'write', final);
  } finally {
    unregister();
  }
}

/** In a local folder, the temp files writes killed on this host left (their process gone) removed; a remote's are left to `wal-prune`. */
export function sweepKilledWrites(d: Destination): void {
  const one = d.localPath('x');
  if (one !== undefined) sweepFolder(dirname(one));
}

/** Reads a whole file. */
export async function readWhole(repo: Repo, d: Destination, name: string, limit: number, what: string): Promise<Buffer> {
  const b = await readIfThere(repo, d, name, limit, what);
  if (!b) throw new VaultError('not-found', `${what} not found: ${d.locate(name)}`);
  return b;
}

export interface ArchiveFile {
  name: string;
  size: number;
  modTime: string;
}

/** The files of a folder of the archive (temp names and folders left out); none when it does not exist. */
export async function listFiles(_repo: Repo, d: Destination): Promise<ArchiveFile[]> {
  return (await d.list()).filter((f) => !f.name.startsWith('.'));
}

/** Temp names a killed write left (`.NAME.<pid>.<hex>….tmp`), with their age. */
export async function listTemp(_repo: Repo, d: Destination): Promise<ArchiveFile[]> {
  return (await d.list()).filter((f) => f.name.startsWith('.') && f.name.endsWith('.tmp'));
}

export async function removeFile(_repo: Repo, d: Destination, name: string): Promise<void> {
  await d.remove(name);
}
