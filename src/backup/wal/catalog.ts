import { VaultError } from '../../errors/errors.js';
import { LIMITS } from '../../fs/read.js';
import type { TrustedSigner } from '../keys.js';
import { checkSignature, manifestName, parseManifest, type BackupManifest } from '../manifest.js';
import type { Repo } from '../repo.js';
import { parseWalName, type WalFile } from './names.js';
import { listFiles, segmentsDest, WAL_KIND, type ArchiveFile } from './store.js';

/** A segment's manifest: a backup manifest of kind postgres-wal that names the file it sits beside. */
export function parseWalManifest(text: string, where: string): BackupManifest {
  const m = parseManifest(text, where);
  if (m.kind !== 'postgres-wal' || !m.component.startsWith(`${WAL_KIND}/`) || typeof m.source.wal !== 'string' || m.file !== `${m.source.wal}.age`)
    throw new VaultError('integrity', `${where}: not the manifest of a WAL file`);
  return m;
}

/** Why a reader does not take a WAL file under this manifest (docs/FORMAT.md, "WAL archive"). */
export interface WalRefusal {
  /**
   * unread: it could not be read (the repository did not answer: not judged); unreadable: it is not there, or not a WAL
   * manifest; moved: it describes another file or cluster; altered: its signature does not verify; untrusted: a key not
   * among the signers signed it.
   */
  why: 'unread' | 'unreadable' | 'moved' | 'altered' | 'untrusted';
  message: string;
}

/** That `m`, read as the manifest of `name` in the archive of `cluster`, describes another file or cluster; or null. */
function movedFrom(name: string, cluster: string, m: BackupManifest): string | null {
  return m.source.wal === name && m.component === `${WAL_KIND}/${cluster}`
    ? null
    : `its manifest describes ${m.component}/${String(m.source.wal)}: it was moved`;
}

/**
 * Why every reader of the archive (fetch, a restore's plan, wal-verify, status, a base backup's wait, a push's retry) refuses
 * the WAL file under `m`, its manifest as read (an Error: it could not be; undefined: there is none); null when `signers`
 * vouch for it. `at`: the name and cluster it was read under, which it must describe (readManifests checks that as it reads).
 */
export function walManifestRefusal(m: BackupManifest | Error | undefined, signers: TrustedSigner[], at?: { name: string; cluster: string }): WalRefusal | null {
  if (m === undefined) return { why: 'unreadable', message: 'no manifest' };
  if (m instanceof Error) {
    if (m instanceof VaultError && m.kind === 'io') return { why: 'unread', message: `its manifest could not be read: ${m.message}` };
    return { why: m instanceof VaultError && m.data?.why === 'moved' ? 'moved' : 'unreadable', message: m.message };
  }
  const moved = at && movedFrom(at.name, at.cluster, m);
  if (moved) return { why: 'moved', message: moved };
  const sig = checkSignature(m, signers);
  return sig.ok ? null : { why: sig.why, message: sig.message };
}

/** The suffix of the mark a completing push leaves beside a file it completed, until a full read passes it. */
export const COMPLETED_MARK = '.age.completed';
export const completedMarkName = (name: string): string => `${name}${COMPLETED_MARK}`;

/** One name of the archive: its file, its manifest, or both (committed). */
export interface CatalogEntry {
  wal: WalFile;
  file?: ArchiveFile;
  manifestFile?: ArchiveFile;
}

export interface Catalog {
  entries: Map<string, CatalogEntry>;
  /**
   * The names whose `<name>.age.completed` is there: a push completed the file (its manifest marked `completed`) and no full
   * read has passed it since (docs/FORMAT.md, "WAL archive"). Listed only; what readers hold to is the signed manifest.
   */
  completedMarks: Set<string>;
  /** Names in the folder that are not the archive's (left out of every judgment, and named). */
  strangers: string[];
}

/** What the segments folder holds, by WAL name (names only: no manifest is read). */
export async function readCatalog(repo: Repo, cluster: string, segSize: number): Promise<Catalog> {
  const entries = new Map<string, CatalogEntry>();
  const strangers: string[] = [];
  const completedMarks = new Set<string>();
  for (const f of await listFiles(repo, segmentsDest(repo, cluster))) {
    if (f.name.endsWith(COMPLETED_MARK)) {
      const wal = parseWalName(f.name.slice(0, -COMPLETED_MARK.length), segSize);
      if (wal) completedMarks.add(wal.name);
      else strangers.push(f.name);
      continue;
    }
    const isManifest = f.name.endsWith('.age.manifest.json');
    const base = isManifest ? f.name.slice(0, -'.age.manifest.json'.length) : f.name.endsWith('.age') ? f.name.slice(0, -4) : null;
    const wal = base ? parseWalName(base, segSize) : null;
    if (!wal) {
      strangers.push(f.name);
      continue;
    }
    const e = entries.get(wal.name) ?? { wal };
    if (isManifest) e.manifestFile = f;
    else e.file = f;
    entries.set(wal.name, e);
  }
  return { entries, strangers, completedMarks };
}

export const committed = (e: CatalogEntry | undefined): boolean => Boolean(e?.file && e.manifestFile);

/**
 * The manifests of `names`, read in one go (a remote: one rclone copy into
 * a private temp folder, not one process per file). A manifest that does
 * not parse, or describes another file than the one it is beside (moved),
 * is reported by name as an Error, not thrown; one the repository did not
 * give is a VaultError of kind `io`.
 */
export async function readManifests(repo: Repo, cluster: string, names: string[]): Promise<Map<string, BackupManifest | Error>> {
  const d = segmentsDest(repo, cluster);
  const out = new Map<string, BackupManifest | Error>();
  const parse = (name: string, text: string) => {
    try {
      const m = parseWalManifest(text, `${d.spec}/${manifestName(`${name}.age`)}`);
      const moved = movedFrom(name, cluster, m);
      out.set(name, moved ? new VaultError('integrity', moved, { data: { why: 'moved' } }) : m);
    } catch (e) {
      out.set(name, e as Error);
    }
  };
  if (!names.length) return out;
  const read = await d.readMany(
    names.map((n) => manifestName(`${n}.age`)),
    LIMITS.text,
    'manifest',
  );
  for (const n of names) {
    const got = read.get(manifestName(`${n}.age`));
    if (got === undefined || got instanceof Error)
      out.set(n, got instanceof VaultError ? got : new VaultError('io', `cannot read the manifest of ${n}: ${got?.message ?? 'no answer'}`));
    else parse(n, got.toString('utf8'));
  }
  return out;
}
