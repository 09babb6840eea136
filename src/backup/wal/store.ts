import { VaultError } from '../../errors/errors.js';
import type { Destination } from '../../dest/dest.js';
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
 * Writes a file that must not exist: a temp name, then moved into place
 * without replacing one (in a folder a hard link that fails if the name
 * was taken meanwhile; remotes have no exclusive create: the caller looks
 * first). A killed write leaves only a temp name (`.NAME.…tmp`), which no
 * reader takes for a file of the archive.
 */
export async function putNew(_repo: Repo, d: Destination, name: string, data: Uint8Array): Promise<string> {
  const f = d.create(name, { sizeEstimate: data.byteLength });
  try {
    await new Promise<void>((res, rej) => {
      f.stream.on('error', rej);
      f.stream.end(data, () => res());
    });
  } catch (e) {
    await f.abort();
    throw await f.explain(e);
  }
  return f.commit();
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
