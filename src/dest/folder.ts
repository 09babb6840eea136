import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, rmdirSync, rmSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { VaultError } from '../errors/errors.js';
import { pidAlive, removeQuietly, writeFileAtomic } from '../fs/atomic.js';
import { makeDirs } from '../fs/dirs.js';
import { fsError } from '../fs/errors.js';
import { createPendingFile, type PendingFile } from '../fs/pending.js';
import { readFileCapped } from '../fs/read.js';
import type { Destination, Listed } from './dest.js';
import { DAY, HOST_TAG, TEMP, tempName } from './temp.js';

/**
 * A local folder (or a mounted one) as a destination: whole files through
 * the fs module's atomic writes, streamed ones through its deferred-commit
 * writer, committed with a link so that nothing is ever replaced.
 */
export class FolderDestination implements Destination {
  readonly kind = 'folder';
  readonly spec: string;
  readonly place: string;
  constructor(readonly path: string) {
    this.spec = path;
    this.place = path;
  }

  locate(name: string): string {
    return join(this.path, name);
  }

  child(sub: string): FolderDestination {
    return new FolderDestination(join(this.path, sub));
  }

  parent(): { dest: Destination; name: string } {
    return { dest: new FolderDestination(dirname(this.path)), name: basename(this.path) };
  }

  samePlace(other: Destination): boolean {
    return other instanceof FolderDestination && resolve(other.path) === resolve(this.path);
  }

  async present(): Promise<boolean> {
    try {
      return statSync(this.path).isDirectory();
    } catch {
      return false;
    }
  }

  /**
   * The regular files directly in the folder. An entry that is gone by the
   * time it is looked at (removed meanwhile by a concurrent prune) or that is
   * a link to nothing is not a file there: it is left out, never an error.
   */
  async list(): Promise<Listed[]> {
    let names: string[];
    try {
      names = readdirSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fsError(e, 'list', this.path);
    }
    return names.flatMap((name) => {
      let st: Stats;
      try {
        st = statSync(join(this.path, name));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') return [];
        throw fsError(e, 'read', join(this.path, name));
      }
      return st.isFile() ? [{ name, size: st.size, modTime: st.mtime.toISOString() }] : [];
    });
  }

  async folders(): Promise<string[]> {
    try {
      return readdirSync(this.path, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => e.name);
    } catch {
      return [];
    }
  }

  /** Only "no such file" is a no: a folder that cannot be read (permissions, an I/O error) fails, never taken for an absent file. */
  async has(name: string): Promise<boolean> {
    try {
      lstatSync(join(this.path, name));
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return false;
      throw fsError(e, 'read', join(this.path, name));
    }
  }

  async mode(name: string): Promise<number | undefined> {
    try {
      return statSync(join(this.path, name)).mode & 0o7777;
    } catch {
      return undefined;
    }
  }

  async read(name: string, limit: number, what = 'file'): Promise<Buffer> {
    return readFileCapped(join(this.path, name), what, limit);
  }

  async write(name: string, data: Uint8Array, o: { exclusive?: boolean } = {}): Promise<{ location: string; sha256: string }> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (o.exclusive && (await this.has(name))) throw new VaultError('exists', `${this.locate(name)} already exists; refusing to overwrite it`);
    makeDirs(this.path);
    // Names inside a repository are the tool's own: a link planted there is refused, never written through.
    writeFileAtomic(join(this.path, name), data, { exclusive: Boolean(o.exclusive), ownFile: 'the repository file' });
    return { location: join(this.path, name), sha256 };
  }

  async remove(name: string): Promise<void> {
    try {
      rmSync(join(this.path, name), { force: true });
    } catch (e) {
      throw fsError(e, 'remove', join(this.path, name));
    }
  }

  async readMany(names: string[], limit: number, what = 'file'): Promise<Map<string, Buffer | Error>> {
    const out = new Map<string, Buffer | Error>();
    for (const n of names) {
      try {
        out.set(n, readFileCapped(join(this.path, n), what, limit));
      } catch (e) {
        out.set(n, e as Error);
      }
    }
    return out;
  }

  async removeMany(names: string[]): Promise<void> {
    for (const n of names) await this.remove(n);
  }

  open(name: string): Readable {
    return createReadStream(join(this.path, name), { highWaterMark: 1 << 20 });
  }

  /** Into the folder (made if need be, and removed again by an abort that leaves it empty), never replacing a file; this host's dead temp files swept first. */
  create(name: string): PendingFile {
    const made = makeDirs(this.path);
    sweepFolder(this.path);
    const f = createPendingFile(join(this.path, name), { exclusive: true, temp: (p) => join(dirname(p), tempName(basename(p))) });
    return {
      ...f,
      abort: async () => {
        await f.abort();
        removeEmptyDirs(made);
      },
    };
  }

  localPath(name: string): string {
    return join(this.path, name);
  }
}

/**
 * Removes the temp files that writes killed on this host (SIGKILL, power
 * loss) left in a folder: every one whose process is gone, whatever file it
 * was for. Another host's are never judged; one without a host only once it
 * is a day old. Best effort: a folder it cannot read or change is left.
 */
export function sweepFolder(dir: string, now = Date.now()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || pidAlive(pid)) continue;
    if (m[3] !== HOST_TAG) {
      if (m[3] !== undefined) continue;
      try {
        if (now - statSync(join(dir, name)).mtimeMs < DAY) continue;
      } catch {
        continue;
      }
    }
    removeQuietly(join(dir, name));
    removed.push(name);
  }
  return removed;
}

function removeEmptyDirs(dirs: string[]): void {
  for (const d of [...dirs].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
  }
}
