import type { VaultDocument } from '../vault/document.js';
import type { SigningKey } from './keys.js';
import { requireRepo } from './status.js';
import { listRepo, type Listed, type Repo } from './repo.js';
import { mayRecordVerdict, recordVerdict, verifyBackup, type BackupCheck } from './run.js';

type Env = Record<string, string | undefined>;

/**
 * Which backups a verification reads in full: all (`true`), none (`false`),
 * or a fraction, as restic's --read-data-subset: the least recently verified
 * first, so that successive runs rotate through the whole repository. The
 * newest backup of each component is always among them: it is the one a
 * restore would use.
 */
export function chooseForReading(all: Listed[], readData: boolean | number): Set<Listed> {
  if (readData === true) return new Set(all);
  if (readData === false) return new Set();
  const sound = all.filter((b) => b.manifest && !b.problem);
  const newest = new Map<string, Listed>();
  for (const b of sound) {
    const cur = newest.get(b.component);
    if (!cur || cur.manifest!.finishedAt < b.manifest!.finishedAt) newest.set(b.component, b);
  }
  const chosen = new Set(newest.values());
  const want = Math.ceil(sound.length * readData);
  const lastRead = (b: Listed) => b.manifest!.verification?.at ?? '';
  for (const b of [...sound].sort((x, y) => lastRead(x).localeCompare(lastRead(y)) || x.file.localeCompare(y.file))) {
    if (chosen.size >= Math.max(want, newest.size)) break;
    chosen.add(b);
  }
  return chosen;
}

/**
 * Every backup in the repository, for the quarterly verification: each
 * manifest must be signed by a host the vault trusts and name a key the vault
 * still holds; the chosen ones are read in full (decrypted and checked by
 * their component's tool), and with a signing key the verdict is recorded in
 * their manifests.
 */
export async function auditBackups(
  repo: Repo,
  doc: VaultDocument,
  o: { readData: boolean | number; env: Env; signing?: SigningKey; now: Date },
): Promise<BackupCheck[]> {
  await requireRepo(repo);
  const all = await listRepo(repo);
  const read = chooseForReading(all, o.readData);
  const out: BackupCheck[] = [];
  for (const b of all) {
    const r = await verifyBackup(repo, b, doc, { readData: read.has(b), env: o.env, now: o.now });
    if (read.has(b) && o.signing && mayRecordVerdict(r, o.signing, doc)) await recordVerdict(repo, r.manifest!, r, o.signing, o.now);
    out.push(r);
  }
  return out;
}
