import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, linkSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writevSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { VaultError } from '../../errors/errors.js';
import { fsyncDir, removeQuietly } from '../../fs/atomic.js';
import { registerCleanup } from '../../fs/cleanup.js';
import { makeDirs } from '../../fs/dirs.js';
import { fsError } from '../../fs/errors.js';
import { list, locate, readFile, remove, runRclone, writeFile, type Destination } from '../../dest/dest.js';
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
export async function readIfThere(repo: Repo, d: Destination, name: string, limit: number, what: string): Promise<Buffer | null> {
  if (d.kind === 'folder') {
    const p = join(d.path, name);
    try {
      if (statSync(p).size > limit) throw new VaultError('invalid', `${p} is larger than ${limit} bytes: not a ${what}`);
      return readFileSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      if (e instanceof VaultError) throw e;
      throw new VaultError('io', `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  try {
    return await readFile(d, name, repo.io, limit, what);
  } catch (e) {
    if (e instanceof VaultError && e.kind === 'not-found') return null;
    throw e;
  }
}

/**
 * Whether a file is there (a remote is asked for that one file, not listed
 * whole). Only "no such file" is a no: a folder that cannot be read is an
 * error, never taken for an absent file.
 */
export async function isThere(repo: Repo, d: Destination, name: string): Promise<boolean> {
  if (d.kind === 'folder') {
    const p = join(d.path, name);
    try {
      statSync(p);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return false;
      throw new VaultError('io', `cannot look for ${p}: ${code ?? (e as Error).message}`);
    }
  }
  const r = await runRclone(repo.io, ['lsjson', '--files-only', locate(d, name)]);
  if (r.code === 3 || r.code === 4) return false;
  if (r.code !== 0)
    throw new VaultError('io', `cannot look for ${locate(d, name)}: ${r.stderr.split('\n').filter(Boolean).slice(-1)[0] ?? `rclone exit ${r.code}`}`);
  return (JSON.parse(r.stdout.toString('utf8')) as unknown[]).length > 0;
}

/**
 * Writes a file that must not exist, from its pieces: in a folder a temp
 * file (0600) written in one go, fsync, then a hard link that fails if the
 * name was taken meanwhile, and the folder synced; on a remote an upload
 * under a temp name moved into place (remotes have no exclusive create: the
 * caller looks first). A killed write leaves only a temp name
 * (`.NAME.<pid>.<hex>.h<host>.tmp`, the repository's), which no reader takes
 * for a file of the archive and `wal-prune` removes once a day old: a push
 * does not list the folder (thousands of segments) to sweep them.
 */
export async function putNew(repo: Repo, d: Destination, name: string, data: Uint8Array | Uint8Array[]): Promise<string> {
  const parts = Array.isArray(data) ? data : [data];
  if (d.kind === 'folder') return putNewLocal(d.path, name, parts);
  return (await writeFile(d, name, parts.length === 1 ? parts[0]! : Buffer.concat(parts), { ...repo.io, exclusive: false })).location;
}

const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

function putNewLocal(dir: string, name: string, parts: Uint8Array[]): string {
  makeDirs(dir);
  const final = join(dir, name);
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.h${HOST_TAG}.tmp`);
  const unregister = registerCleanup(() => removeQuietly(tmp));
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      const left = parts.filter((p) => p.byteLength > 0);
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

/** Reads a whole file. */
export async function readWhole(repo: Repo, d: Destination, name: string, limit: number, what: string): Promise<Buffer> {
  const b = await readIfThere(repo, d, name, limit, what);
  if (!b) throw new VaultError('not-found', `${what} not found: ${locate(d, name)}`);
  return b;
}

export interface ArchiveFile {
  name: string;
  size: number;
  modTime: string;
}

/** The files of a folder of the archive (temp names and folders left out); none when it does not exist. */
export async function listFiles(repo: Repo, d: Destination): Promise<ArchiveFile[]> {
  if (d.kind === 'folder') {
    let names: string[];
    try {
      names = readdirSync(d.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new VaultError('io', `cannot list ${d.path}: ${(e as NodeJS.ErrnoException).code}`);
    }
    return names.flatMap((name) => {
      if (name.startsWith('.')) return [];
      try {
        const st = statSync(join(d.path, name));
        return st.isFile() ? [{ name, size: st.size, modTime: st.mtime.toISOString() }] : [];
      } catch {
        return [];
      }
    });
  }
  return (await list(d, repo.io)).filter((f) => !f.name.startsWith('.'));
}

/** Temp names a killed write left (`.NAME.<pid>.<hex>….tmp`), with their age. */
export async function listTemp(repo: Repo, d: Destination): Promise<ArchiveFile[]> {
  if (d.kind === 'folder') {
    try {
      return readdirSync(d.path)
        .filter((n) => n.startsWith('.') && n.endsWith('.tmp'))
        .map((name) => {
          const st = statSync(join(d.path, name));
          return { name, size: st.size, modTime: st.mtime.toISOString() };
        });
    } catch {
      return [];
    }
  }
  return (await list(d, repo.io)).filter((f) => f.name.startsWith('.') && f.name.endsWith('.tmp'));
}

export async function removeFile(repo: Repo, d: Destination, name: string): Promise<void> {
  await remove(d, name, repo.io);
}
