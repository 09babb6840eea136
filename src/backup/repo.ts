import { closeSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { VaultError } from '../errors/errors.js';
import type { PendingFile } from '../fs/pending.js';
import { LIMITS } from '../fs/read.js';
import type { Destination } from '../dest/dest.js';
import { checkComponentPath } from './names.js';
import { manifestName, parseManifest, type BackupManifest } from './manifest.js';

export { isComponentName } from './names.js';

/**
 * A backup repository: a destination (a folder or an rclone remote, as
 * restic's `-r`), one folder per component, each backup an age file beside
 * its manifest:
 *
 *   <repo>/<component>/<YYYYMMDDTHHMMSSZ>-<id>.<ext>.age
 *   <repo>/<component>/<YYYYMMDDTHHMMSSZ>-<id>.<ext>.age.manifest.json
 *
 * Files are written under a temp name and moved into place only when whole;
 * the manifest goes last.
 */
export interface Repo {
  dest: Destination;
}

/** The repository folder of a component, as a destination. */
export function componentDest(repo: Repo, component: string): Destination {
  return repo.dest.child(component);
}

/**
 * A repository that is read (status, verify, prune, list) must exist: a
 * missing one is an error, never an empty and therefore passing list; one
 * that cannot be reached says so (io).
 */
export async function requireRepo(repo: Repo): Promise<void> {
  if (!(await repo.dest.present())) throw new VaultError('not-found', `there is no backup repository at ${repo.dest.spec}`, { code: 'backup-no-repo' });
}

/** Opens a streaming write of `name` into the component's folder, never visible under its name until committed. */
export function createFile(repo: Repo, component: string, name: string, opts: { sizeEstimate?: number } = {}): PendingFile {
  checkComponentPath(component);
  return componentDest(repo, component).create(name, opts);
}

/**
 * A backup file to read once in full: in a local folder, an open
 * descriptor (read straight into a bulk run's buffers, its size known);
 * elsewhere the destination's stream. `close` releases the descriptor.
 */
export function openStored(repo: Repo, component: string, name: string): { input: number | Readable; close: () => void } {
  const path = componentDest(repo, component).localPath(name);
  if (path === undefined) return { input: openFile(repo, component, name), close: () => undefined };
  const fd = openSync(path, 'r');
  return { input: fd, close: () => closeSync(fd) };
}

/** Streams a backup file out of the repository (bounded by progress). */
export function openFile(repo: Repo, component: string, name: string): Readable {
  return componentDest(repo, component).open(name);
}

export async function writeManifest(repo: Repo, m: BackupManifest, replace = false): Promise<string> {
  checkComponentPath(m.component);
  return (await componentDest(repo, m.component).write(manifestName(m.file), Buffer.from(JSON.stringify(m, null, 2) + '\n'), { exclusive: !replace })).location;
}

export interface Listed {
  component: string;
  file: string;
  manifest?: BackupManifest;
  /** Why the backup cannot be used: no manifest (incomplete), an unreadable one, a manifest without its file, a file whose size is not its manifest's. */
  problem?: string;
  /** The problem is the stored file's size: its manifest is sound, and a full read judges it (and records the verdict). */
  resized?: boolean;
  /** The problem is this host's, not the backup's: a manifest format newer than this vault-tool, or a manifest that could not be fetched. */
  undecided?: boolean;
}

/** Every backup in the repository (components are one or two folder levels deep). */
export async function listRepo(repo: Repo): Promise<Listed[]> {
  const components: string[] = [];
  const walk = async (d: Destination, prefix: string, depth: number) => {
    const files = await d.list();
    if (files.some((f) => f.name.endsWith('.age') || f.name.endsWith('.manifest.json'))) components.push(prefix);
    if (depth >= 2) return;
    for (const sub of await d.folders()) await walk(d.child(sub), prefix ? `${prefix}/${sub}` : sub, depth + 1);
  };
  await walk(repo.dest, '', 0);
  const out: Listed[] = [];
  for (const component of components.filter(Boolean).sort()) {
    const d = componentDest(repo, component);
    const files = await d.list();
    const names = new Set(files.map((f) => f.name));
    for (const f of files) {
      if (f.name.endsWith('.age')) {
        if (!names.has(manifestName(f.name))) {
          out.push({ component, file: f.name, problem: 'no manifest: an incomplete backup (interrupted, or its verification failed)' });
          continue;
        }
        try {
          const m = parseManifest((await d.read(manifestName(f.name), LIMITS.text, 'manifest')).toString('utf8'), `${component}/${manifestName(f.name)}`);
          if (m.file !== f.name || m.component !== component)
            out.push({ component, file: f.name, manifest: m, problem: `the manifest names ${m.component}/${m.file}: it was moved or edited` });
          // The listing's size costs nothing: a file cut short or grown since it was written counts for nothing (a backend that
          // knows no size says -1). A full read, which records its verdict, decides what becomes of it (the quarterly
          // verification's sample always takes it: audit.ts). The flag is this listing's, never stored: a listing that shows the
          // manifest's size again (the file put back whole) clears it; a read that passed while the listing disagrees does not
          // override the listing (the file changed since, or the backend lists it otherwise than it serves it).
          else if (f.size >= 0 && f.size !== m.ciphertext.size && m.verification?.ok !== false)
            out.push({
              component,
              file: f.name,
              manifest: m,
              problem: `the stored file is ${f.size} bytes, its manifest says ${m.ciphertext.size}: it was cut short or changed after it was written`,
              resized: true,
            });
          else out.push({ component, file: f.name, manifest: m });
        } catch (e) {
          const undecided = e instanceof VaultError && (e.kind === 'invalid' || e.kind === 'io');
          out.push({ component, file: f.name, problem: (e as Error).message, ...(undecided ? { undecided } : {}) });
        }
      } else if (f.name.endsWith('.manifest.json') && !names.has(f.name.slice(0, -'.manifest.json'.length))) {
        out.push({ component, file: f.name.slice(0, -'.manifest.json'.length), problem: 'the backup file is missing (its manifest is there)' });
      }
    }
  }
  return out.sort((a, b) => (a.component === b.component ? a.file.localeCompare(b.file) : a.component.localeCompare(b.component)));
}

/** Deletes a backup: the manifest first (so an interrupted delete leaves an incomplete backup, never a manifest without its file). */
export async function removeBackup(repo: Repo, component: string, file: string): Promise<void> {
  const d = componentDest(repo, component);
  await d.remove(manifestName(file));
  await d.remove(file);
}
