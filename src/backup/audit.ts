import type { OnProgress } from '../fs/progress.js';
import type { VaultDocument } from '../vault/document.js';
import type { StoreOptions, VaultPaths } from '../vault/store.js';
import { trustSigner, type SigningKey } from './keys.js';
import { listRepo, requireRepo, type Listed, type Repo } from './repo.js';
import { selectBackup, type SelectOptions, type Selected } from './select.js';
import { mayRecordVerdict, noteKeysInUse, recordVerdict, vaultForBackups, verifyBackup, type BackupCheck } from './run.js';

type Env = Record<string, string | undefined>;

/**
 * Verification of a repository's backups, planned then carried out:
 * `planVerify` lists the repository and chooses which backups to check and
 * which of them to read in full; `executeVerify` checks each one (signed
 * manifest, key held, and for the chosen a full read) and, with a signing
 * key the vault trusts, records each conclusive verdict in its manifest.
 * `backup verify`, the quarterly verification and the drill all run this.
 */
export interface VerifyPlan {
  /** The repository, as written. */
  repo: string;
  backups: Listed[];
  /** Those read in full. */
  read: Set<Listed>;
  /** The backups chosen by their component (its newest verified), with why. */
  chosen: Selected[];
  stats: { backups: number; read: number; components: number };
}

/**
 * Which backups a verification reads in full: all (`true`), none (`false`),
 * or a fraction, as restic's --read-data-subset: the least recently verified
 * first, so that successive runs rotate through the whole repository. The
 * newest backup of each component is always among them: it is the one a
 * restore would use; so is every backup whose listed size is not its
 * manifest's (`resized`), or whose recorded full read failed: the fate of
 * both waits on a full read.
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
  // A file whose listed size is not its manifest's is read whenever data is read: its judgment is pending (it does not count,
  // and prune leaves it in place, until a full read has judged it or its listing shows the manifest's size again).
  for (const b of all) if (b.resized && b.manifest) chosen.add(b);
  // So is one whose recorded full read failed: it stays excluded until a full read passes it (its file put back whole does not
  // make it count), and a rotation that reads the least recently verified first would come back to it last.
  for (const b of sound) if (b.manifest!.verification && !b.manifest!.verification.ok) chosen.add(b);
  return chosen;
}

/**
 * Which backups to check (those named, in the selection grammar of
 * `select.ts`, or every one) and which to read in full. The repository must
 * exist.
 */
export async function planVerify(repo: Repo, o: { names?: string[]; select?: SelectOptions; readData: boolean | number }): Promise<VerifyPlan> {
  await requireRepo(repo);
  const all = await listRepo(repo);
  const chosen = o.names ? o.names.map((n) => selectBackup(all, n, o.select ?? { now: new Date() })) : [];
  const backups = o.names ? [...new Set(chosen.map((c) => c.backup))] : all;
  const read = chooseForReading(backups, o.readData);
  return {
    repo: repo.dest.spec,
    backups,
    read,
    chosen: chosen.filter((c) => c.by === 'latest'),
    stats: { backups: backups.length, read: read.size, components: new Set(backups.map((b) => b.component)).size },
  };
}

/** Checks each planned backup; with a signing key, each conclusive verdict the vault may count is recorded in its manifest. */
export async function executeVerify(
  repo: Repo,
  plan: VerifyPlan,
  doc: VaultDocument,
  o: { env: Env; signing?: SigningKey; now: Date; onProgress?: OnProgress },
): Promise<BackupCheck[]> {
  const out: BackupCheck[] = [];
  for (const b of plan.backups) {
    const readData = plan.read.has(b);
    if (!readData) o.onProgress?.({ item: `${b.component}/${b.file}`, phase: 'checking its manifest and key' });
    const r = await verifyBackup(repo, b, doc, { readData, env: o.env, now: o.now, ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
    if (readData && o.signing && mayRecordVerdict(r, o.signing, doc)) await recordVerdict(repo, r.manifest!, r, o.signing, o.now);
    if (r.verdict === 'failed') o.onProgress?.({ item: `${b.component}/${b.file}`, failed: true });
    out.push(r);
  }
  return out;
}

/**
 * `backup verify` where the vault is: this host's signing key is trusted
 * first (so the verdicts it records count), the plan carried out, and the
 * backup keys the repository's trusted backups need are noted in the vault
 * (a purge of one of them is then refused).
 */
export async function verifyWithVault(
  repo: Repo,
  plan: VerifyPlan,
  vault: { paths: VaultPaths; store: StoreOptions },
  o: { env: Env; signing: SigningKey; now: Date; onProgress?: OnProgress },
): Promise<BackupCheck[]> {
  await trustSigner(vault.paths, vault.store, o.signing.publicKey, 'verifying host', o.now);
  const doc = await vaultForBackups(vault.paths, vault.store);
  const results = await executeVerify(repo, plan, doc, o);
  await noteKeysInUse(vault.paths, vault.store, repo, results, o.now);
  return results;
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
  o: { readData: boolean | number; env: Env; signing?: SigningKey; now: Date; onProgress?: OnProgress },
): Promise<BackupCheck[]> {
  const plan = await planVerify(repo, { readData: o.readData });
  return executeVerify(repo, plan, doc, {
    env: o.env,
    now: o.now,
    ...(o.signing ? { signing: o.signing } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
}
