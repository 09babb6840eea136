import { VaultError } from '../../errors/errors.js';
import type { BackupManifest } from '../manifest.js';
import type { Repo } from '../repo.js';
import { readArchiveInfo, type ArchiveInfo } from './archive.js';
import { committed, readCatalog, readManifests, type Catalog } from './catalog.js';
import type { ArchiveView } from './continuity.js';
import { readArchived } from './fetch.js';
import { parseHistory, type HistoryEntry } from './history.js';
import type { ReadKeys } from './identity.js';

/** An archive read for a judgment: its description, what it holds, and the timeline histories (decrypted and checked). */
export interface LoadedArchive {
  info: ArchiveInfo;
  catalog: Catalog;
  view: ArchiveView;
  /** History files that could not be used (untrusted, damaged): their timelines cannot be followed. */
  problems: { name: string; message: string }[];
}

export async function loadArchive(repo: Repo, cluster: string, keys: ReadKeys): Promise<LoadedArchive> {
  const info = await readArchiveInfo(repo, cluster);
  if (!info) throw new VaultError('not-found', `the repository holds no WAL archive of cluster ${cluster}`, { code: 'wal-no-archive' });
  const catalog = await readCatalog(repo, cluster, info.segmentSize);
  const names = new Set([...catalog.entries.values()].filter((e) => committed(e)).map((e) => e.wal.name));
  const histories = new Map<number, HistoryEntry[]>();
  const problems: LoadedArchive['problems'] = [];
  for (const e of catalog.entries.values()) {
    if (e.wal.kind !== 'history' || !names.has(e.wal.name)) continue;
    try {
      const r = await readArchived(repo, cluster, e.wal.name, keys);
      if (r.status === 'restored') histories.set(e.wal.timeline, parseHistory(r.plaintext!.toString('utf8'), e.wal.timeline, e.wal.name));
    } catch (err) {
      // Not followed, and said: a history that cannot be trusted never steers a recovery.
      problems.push({ name: e.wal.name, message: (err as Error).message });
    }
  }
  return { info, catalog, view: { segmentSize: info.segmentSize, names, histories }, problems };
}

/** When each of `names` was archived (its manifest's finishedAt), for time targets and the RPO. */
export async function pushedAt(repo: Repo, cluster: string, names: string[]): Promise<Map<string, BackupManifest>> {
  const out = new Map<string, BackupManifest>();
  for (const [n, m] of await readManifests(repo, cluster, names)) if (!(m instanceof Error)) out.set(n, m);
  return out;
}
