import { VaultError } from '../../errors/errors.js';
import { recordEvidence } from '../../vault/evidence.js';
import { changed, updateVault, type StoreOptions, type VaultPaths } from '../../vault/store.js';
import { manifestName } from '../manifest.js';
import type { Listed, Repo } from '../repo.js';
import { readArchiveInfo } from './archive.js';
import { completedMarkName, readCatalog } from './catalog.js';
import { formatLsn, parseLsn, segnoOf } from './names.js';
import { listTemp, segmentsDest } from './store.js';
import { baseRefOf } from './verify.js';

/**
 * Retention of the WAL archive, planned then carried out. Base backups are
 * kept or removed by the usual keep rules (`backup prune`); the WAL follows
 * them: a file goes only when no base backup still in the repository needs
 * it, i.e. it lies wholly before the start of the oldest one (on every
 * timeline). History files always stay (they are tiny, and recovery needs
 * them to follow a timeline). Nothing goes when the repository holds no
 * base backup of the cluster, or one whose start cannot be read, and so
 * never the WAL after the newest base backup. Temp files of pushes killed a
 * day or more ago go too.
 */
export interface WalPrunePlan {
  cluster: string;
  /** The oldest base backup still in the repository, and the first segment it needs. */
  oldestBase?: string;
  keepFrom?: string;
  remove: string[];
  /** The completed marks (`<name>.age.completed`) of files removed: they go with them. */
  marks?: string[];
  keep: number;
  temp: string[];
  /** Why nothing can go, if so. */
  refused?: string;
}

const DAY = 86_400_000;

export async function planWalPrune(repo: Repo, cluster: string, bases: Listed[], now: Date): Promise<WalPrunePlan> {
  const info = await readArchiveInfo(repo, cluster);
  if (!info) throw new VaultError('not-found', `the repository holds no WAL archive of cluster ${cluster}`, { code: 'wal-no-archive' });
  const cat = await readCatalog(repo, cluster, info.segmentSize);
  const d = segmentsDest(repo, cluster);
  const temp = (await listTemp(repo, d)).filter((f) => now.getTime() - Date.parse(f.modTime) >= DAY).map((f) => f.name);
  const base = { cluster, remove: [] as string[], marks: [] as string[], keep: cat.entries.size, temp };
  if (!bases.length) return { ...base, refused: `the repository holds no base backup of ${cluster}: the WAL is kept whole` };
  let oldest: { name: string; start: bigint } | undefined;
  for (const b of bases) {
    const ref = b.manifest ? baseRefOf(b.manifest) : null;
    if (!ref)
      return {
        ...base,
        refused: `${b.component}/${b.file}: ${b.problem ?? 'its manifest does not say where its WAL starts'}; nothing is removed until a person decides`,
      };
    const start = parseLsn(ref.startLsn);
    if (!oldest || start < oldest.start) oldest = { name: `${b.component}/${b.file}`, start };
  }
  const cut = segnoOf(oldest!.start, info.segmentSize);
  const remove: string[] = [];
  for (const e of cat.entries.values()) {
    if (e.wal.kind === 'history') continue;
    if (e.wal.segno < cut) remove.push(e.wal.name);
  }
  remove.sort();
  const marks = remove.filter((n) => cat.completedMarks.has(n)).map(completedMarkName);
  return { ...base, oldestBase: oldest!.name, keepFrom: formatLsn(oldest!.start), remove, marks, keep: cat.entries.size - remove.length };
}

/**
 * Removes what the plan names: each manifest first (an interrupted prune
 * leaves a file that no longer counts, never a manifest without its file);
 * recorded in the evidence log where the vault is open.
 */
export async function executeWalPrune(repo: Repo, plan: WalPrunePlan, now: Date, vault?: { paths: VaultPaths; store: StoreOptions }): Promise<number> {
  const d = segmentsDest(repo, plan.cluster);
  if (vault && plan.remove.length)
    await updateVault(vault.paths, vault.store, (doc) =>
      changed(
        recordEvidence(
          doc,
          'backup.wal.prune',
          {
            repo: repo.dest.spec,
            cluster: plan.cluster,
            removed: plan.remove.length,
            first: plan.remove[0] ?? null,
            last: plan.remove[plan.remove.length - 1] ?? null,
            keepFrom: plan.keepFrom ?? null,
          },
          now,
        ),
      ),
    );
  // The manifests first (a file left without its manifest is an incomplete one, never taken for a segment), then the files and the temp names.
  await d.removeMany(plan.remove.map((n) => manifestName(`${n}.age`)));
  await d.removeMany([...plan.remove.map((n) => `${n}.age`), ...(plan.marks ?? []), ...plan.temp]);
  return plan.remove.length;
}
