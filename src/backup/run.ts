import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { fdSource, type Source } from '../age/io.js';
import { VaultError } from '../errors/errors.js';
import { counted, counter, type OnProgress } from '../fs/progress.js';
import type { Verdict } from '../errors/verdict.js';
import { recordEvidence } from '../vault/evidence.js';
import { changed, readVault, unchanged, updateVault, type StoreOptions, type VaultPaths } from '../vault/store.js';
import { editSection } from '../vault/document.js';
import { fileStamp, inTheFuture } from '../vault/time.js';
import { checkComponent } from './component.js';
import type { Component } from './kind.js';
import { loadedKind } from './kinds/loaded.js';
import { backupKeys, editBackupState, peekBackupState, signerId, type SigningKey } from './keys.js';
import { checkSignature, signManifest, type BackupManifest } from './manifest.js';
import { judge, produce, type Judged } from './pipeline.js';
import { createFile, openFile, openStored, removeBackup, writeManifest, type Listed, type Repo } from './repo.js';

type Env = Record<string, string | undefined>;

export interface BackupContext {
  repo: Repo;
  signing: SigningKey;
  recipient: { recipient: string; keyId: string };
  /** The environment of the checker processes. */
  env: Env;
  now: () => Date;
  /** Told how the backup goes (`item`: the component): the wait before its first byte, the bytes of the dump, the read-back. */
  onProgress?: OnProgress;
  /** When the vault is open on this host: the backup is recorded in the evidence log, and this host's signing key trusted. */
  vault?: { paths: VaultPaths; store: StoreOptions };
  /**
   * The evidence log refused the backup's record (cut, or one record short
   * after a killed run): the backup is kept and the keys it needs are
   * recorded in the vault, but its record is not written until the log is
   * repaired. Told the reason.
   */
  onUnrecorded?: (reason: VaultError) => void;
  /** The backup has started, with the size of its source when known (asked beside the dump, it comes while the dump runs). */
  onStart?: (estimate: number | undefined) => void;
}

/**
 * A stored file's input with the bytes read counted: a local file's
 * descriptor is still read straight into the run's slots, a stream (an
 * upload's remote) through a counting stage.
 */
async function countedInput(input: number | Readable, onBytes: (n: number) => void): Promise<Source | Readable> {
  if (typeof input !== 'number') return counted(input, onBytes);
  const src = await fdSource(input);
  return {
    ...(src.size !== undefined ? { size: src.size } : {}),
    async fill(buf, off, len) {
      const n = await src.fill(buf, off, len);
      onBytes(n);
      return n;
    },
    fail: (e) => src.fail(e),
    ...(src.end ? { end: () => src.end!() } : {}),
  };
}

async function digestOf(r: Readable, onBytes: (n: number) => void = () => {}): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of r) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
    onBytes((c as Buffer).length);
  }
  return { size, sha256: h.digest('hex') };
}

/**
 * One backup: the dump streamed through the pipeline into the repository,
 * checked in full while it is written (the plaintext also goes to the
 * component's full-read check), the stored file's SHA-256 made sure of,
 * then the signed manifest written last. Anything wrong, and no file and no
 * manifest are left.
 *
 * Made sure of how: a file uploaded through a stream (an rclone remote) is
 * read back in full and its SHA-256 compared. A file in a local folder is
 * written by descriptor at explicit offsets, each batch hashed as it is
 * handed to the kernel, every write's count checked; the commit syncs it,
 * checks that it holds exactly the bytes written, and that its name is the
 * very inode written. Reading it back would only read the same bytes
 * through the same kernel again, so it is not done.
 */
export async function backupComponent(ctx: BackupContext, c: Component): Promise<BackupManifest> {
  checkComponent(c.component);
  // The kind whose dump made the component: loaded already (the other kinds are not loaded for a backup).
  const kind = loadedKind(c.kind) ?? (await import('./kinds/index.js')).kindNamed(c.kind);
  // A dump started early (while the vault was opened) started then.
  const started = c.producer.kind === 'process' && c.producer.early ? c.producer.early.at : ctx.now();
  const file = `${fileStamp(started)}-${randomBytes(4).toString('hex')}.${kind.ext}.age`;
  // What is learnt beside the dump; a remote upload sizes its parts from the estimate, so waits for it (a local file needs none).
  const beside = c.beside?.();
  const estimate = c.estimate ?? (beside && ctx.repo.dest.kind !== 'folder' ? await beside.estimate() : undefined);
  if (estimate !== undefined || !beside) ctx.onStart?.(estimate);
  else if (ctx.onStart) beside.estimate().then(ctx.onStart);
  let tool = c.tool;
  const pending = createFile(ctx.repo, c.component, file, { ...(estimate ? { sizeEstimate: estimate } : {}) });
  const early = c.producer.kind === 'process' ? c.producer.early : undefined;
  const checker = kind.verifier(ctx.env);
  // A checker started beside an early dump is the one the run feeds.
  const verifier = early?.checker && checker.kind === 'process' ? { ...checker, early: early.checker } : checker;
  const say = ctx.onProgress;
  const source = c.producer.kind === 'process' ? c.producer.command : c.producer.name;
  // Before the first byte, what the tool is doing (a server writing its snapshot); then the dump's bytes, then the read-back's.
  say?.({ item: c.component, phase: c.waiting ?? `starting ${source}` });
  const produced = await produce(c.producer, ctx.recipient.recipient, pending, {
    check: kind.shape,
    verifier,
    env: ctx.env,
    ...(c.workers !== undefined ? { workers: c.workers } : {}),
    ...(say ? { onProgress: (n: number) => say({ item: c.component, phase: source, bytes: n }) } : {}),
    ...(beside
      ? {
          settle: async (head: Buffer) => {
            tool = { ...c.tool, version: await beside.settle(head) };
          },
        }
      : {}),
  }).catch(async (e: unknown) => {
    throw beside ? await beside.explain(e) : e;
  });
  if (!produced.positioned) {
    const back = await digestOf(
      openFile(ctx.repo, c.component, file),
      counter(say, { item: c.component, phase: 'reading back the stored file', total: produced.ciphertext.size }),
    );
    if (back.sha256 !== produced.ciphertext.sha256 || back.size !== produced.ciphertext.size) {
      await removeBackup(ctx.repo, c.component, file);
      // The dump was good: the store did not keep it (a write that fails, exit 1 as any other).
      throw new VaultError(
        'io',
        `the stored ${c.component}/${file} differs from what was written (${back.size} bytes read back, ${produced.ciphertext.size} written); nothing was kept`,
      );
    }
  }
  const finished = ctx.now();
  const manifest = signManifest(
    {
      format: 'vault-tool/backup-manifest',
      version: 1,
      id: file.split('-')[1]!.split('.')[0]!,
      component: c.component,
      kind: c.kind,
      file,
      source: c.source,
      tool,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      plaintext: produced.plaintext,
      ciphertext: produced.ciphertext,
      recipient: ctx.recipient.recipient,
      keyId: ctx.recipient.keyId,
      verification: {
        at: finished.toISOString(),
        ok: true,
        check: `${verifier.label} while writing; the stored file ${produced.positioned ? 'hashed as written and synced' : 'read back'}`,
        message: `${produced.plaintext.size} bytes checked, stored SHA-256 matches`,
      },
      ...(c.set ? { set: c.set } : {}),
    },
    ctx.signing,
  );
  try {
    await writeManifest(ctx.repo, manifest);
  } catch (e) {
    await removeBackup(ctx.repo, c.component, file).catch(() => undefined);
    throw e;
  }
  if (ctx.vault) {
    const refused = await recordBackup(ctx.vault, ctx.repo, manifest, ctx.signing, finished);
    if (refused) ctx.onUnrecorded?.(refused);
  }
  return manifest;
}

/**
 * A repository's backups found by a verification (made on hosts without the
 * vault, with only the recipient): the key ids they need are recorded, so
 * that a purge of those key versions is refused as for backups made here.
 */
export async function noteKeysInUse(paths: VaultPaths, store: StoreOptions, repo: Repo, checks: BackupCheck[], now: Date): Promise<void> {
  const needed = [...new Set(checks.filter((c) => c.trusted && c.keyHeld && c.keyId).map((c) => c.keyId!))];
  if (!needed.length) return;
  await updateVault(paths, store, (doc) => {
    const st = editBackupState(doc);
    let added = false;
    for (const k of needed) {
      const use = st.keysInUse[k] ?? { repos: [], lastAt: now.toISOString() };
      if (!use.repos.includes(repo.dest.spec)) {
        use.repos.push(repo.dest.spec);
        added = true;
      }
      st.keysInUse[k] = use;
    }
    if (!added) return unchanged(undefined);
    holdKeys(doc);
    return changed(undefined);
  });
}

/** The backup key cannot be purged while a repository has backups made with one of its versions. */
export function holdKeys(doc: import('../vault/document.js').VaultDocument): void {
  const st = editBackupState(doc);
  const holds = editSection(doc, 'holds');
  const reasons = Object.entries(st.keysInUse)
    .filter(([, u]) => u.repos.length)
    .map(([k, u]) => `backups in ${u.repos.join(', ')} need key ${k}`);
  if (reasons.length) holds['backup/identity'] = reasons;
  else delete holds['backup/identity'];
}

/**
 * In the vault: the evidence record, the key id the repository needs, and
 * this host's signing key trusted. When the evidence log refuses the record
 * (it lacks records the vault holds, or was cut or damaged), the key ids are
 * still recorded (retention and purges depend on them) and the refusal is
 * returned; a new signer is trusted only with its record.
 */
async function recordBackup(
  v: { paths: VaultPaths; store: StoreOptions },
  repo: Repo,
  m: BackupManifest,
  signing: SigningKey,
  now: Date,
): Promise<VaultError | undefined> {
  // A backup that took minutes waits for the vault longer than a quick command would (another command may hold it).
  const store = { ...v.store, lockTimeoutMs: v.store.lockTimeoutMs ?? RECORD_LOCK_WAIT_MS };
  try {
    await updateVault(v.paths, store, (doc) => changed(noteBackup(doc, repo, m, signing, now, true)));
    return undefined;
  } catch (e) {
    if (e instanceof VaultError && e.kind === 'locked') throw await unrecordedWhileLocked(v, repo, m, now, e);
    if (!(e instanceof VaultError && e.code?.startsWith('evidence-'))) throw e;
    await updateVault(v.paths, v.store, (doc) => changed(noteBackup(doc, repo, m, signing, now, false)));
    return e;
  }
}

/** How long a finished backup waits for the vault's lock to record itself. */
const RECORD_LOCK_WAIT_MS = 60_000;

/**
 * The vault stayed locked: the backup is stored, checked and signed, but the
 * vault holds no record of it and no hold on its key. Its evidence record
 * waits in the state folder (appended by the vault's next write here); the
 * error says the backup was kept, so that nobody takes it for a failed one.
 */
async function unrecordedWhileLocked(
  v: { paths: VaultPaths; store: StoreOptions },
  repo: Repo,
  m: BackupManifest,
  now: Date,
  e: VaultError,
): Promise<VaultError> {
  let kept = 'its evidence record is lost (no state folder)';
  if (v.store.stateFile) {
    try {
      const { peekVault } = await import('../vault/container.js');
      const { readVaultFile } = await import('../vault/store.js');
      const { deferEvidence } = await import('../vault/deferred.js');
      const { vaultId } = peekVault(readVaultFile(v.paths.vaultFile));
      await deferEvidence(v.store.stateFile, vaultId, { at: now.toISOString(), event: 'backup', data: backupRecord(m, repo), why: e.message });
      kept = "its evidence record waits in the state folder for the vault's next write";
    } catch (e2) {
      kept = `keeping its evidence record failed too: ${(e2 as Error).message}`;
    }
  }
  return new VaultError('locked', `backup ${m.component}/${m.file} is stored and checked, but not recorded in the vault (${e.message}); ${kept}`, {
    code: 'backup-unrecorded',
    data: { component: m.component },
  });
}

function noteBackup(doc: import('../vault/document.js').VaultDocument, repo: Repo, m: BackupManifest, signing: SigningKey, now: Date, evidence: boolean): void {
  const st = editBackupState(doc);
  if (evidence && !st.signers.some((s) => s.id === signing.id)) {
    st.signers.push({ id: signing.id, publicKey: signing.publicKey, label: m.source.machine ?? 'this host', addedAt: now.toISOString() });
    recordEvidence(doc, 'backup.signer', { id: signing.id, label: m.source.machine ?? 'this host' }, now);
  }
  const use = st.keysInUse[m.keyId] ?? { repos: [], lastAt: m.finishedAt };
  if (!use.repos.includes(repo.dest.spec)) use.repos.push(repo.dest.spec);
  use.lastAt = m.finishedAt;
  st.keysInUse[m.keyId] = use;
  holdKeys(doc);
  if (!evidence) return;
  recordEvidence(doc, 'backup', backupRecord(m, repo), now);
}

/** The evidence record `backup`: which file, where, under which key, and the hashes and signature that pin it. */
function backupRecord(m: BackupManifest, repo: Repo): Record<string, string> {
  return {
    component: m.component,
    file: m.file,
    id: m.id,
    repo: repo.dest.spec,
    keyId: m.keyId,
    plaintextSha256: m.plaintext.sha256,
    ciphertextSha256: m.ciphertext.sha256,
    manifestSignature: m.signature.slice(0, 32),
  };
}

export interface BackupCheck {
  component: string;
  file: string;
  /**
   * ok; failed (the backup is proved bad, or cannot serve: damaged,
   * altered, truncated, its key gone, its manifest untrusted); inconclusive
   * (this host cannot judge it: a checker missing, too old or killed on data
   * whose hashes are intact, a read that failed). Only `failed` counts
   * against a backup.
   */
  verdict: Verdict;
  /** verdict === 'ok'. */
  ok: boolean;
  /** verdict === 'inconclusive': nothing is recorded, and retention does not count it against the backup. */
  inconclusive?: boolean;
  keyId?: string;
  /** Whether the vault holds the key that opens it. */
  keyHeld: boolean;
  /** Whether its manifest is signed by a host the vault trusts (an untrusted one is never re-signed). */
  trusted: boolean;
  message: string;
  manifest?: BackupManifest;
}

type CheckBody = Omit<BackupCheck, 'verdict' | 'ok' | 'inconclusive' | 'message'>;
const verdictOf = (base: CheckBody, verdict: Verdict, message: string): BackupCheck => ({
  ...base,
  verdict,
  ok: verdict === 'ok',
  ...(verdict === 'inconclusive' ? { inconclusive: true } : {}),
  message,
});

/**
 * Verifies a stored backup: its manifest (signed by a host the vault
 * trusts), the key (the vault must hold it: a backup whose key is gone is a
 * failure), then with `readData` the full read: ciphertext SHA-256 (and the
 * SHA-256 of its age header and payload nonce where the manifest records
 * it, which a point-in-time restore holds instead), complete decryption,
 * plaintext SHA-256, and the component's check
 * (`pg_restore -f /dev/null`, `redis-check-rdb`, `tar -t`, YAML).
 *
 * The hashes decide whether the data is bad. The manifest is signed by a
 * trusted host that ran the same check on these very bytes when it wrote
 * them, so a checker that refuses data whose both SHA-256s match (a
 * pg_restore older than the pg_dump that wrote it, a checker killed for
 * memory, one not installed) says something about this host, not about the
 * backup: inconclusive.
 */
export async function verifyBackup(
  repo: Repo,
  b: Listed,
  doc: import('../vault/document.js').VaultDocument,
  o: { readData: boolean; env: Env; now?: Date; onProgress?: OnProgress },
): Promise<BackupCheck> {
  const base = { component: b.component, file: b.file };
  // A manifest this host cannot read (a newer format, one it could not fetch) says nothing about the backup.
  if (b.problem && b.undecided) return verdictOf({ ...base, keyHeld: false, trusted: false }, 'inconclusive', `could not be checked here: ${b.problem}`);
  // A file whose size is not its manifest's is read in full when asked (the read's verdict is recorded); otherwise it fails as it is.
  if ((b.problem && !(b.resized && o.readData)) || !b.manifest)
    return verdictOf({ ...base, keyHeld: false, trusted: false }, 'failed', b.problem ?? 'no manifest');
  const m = b.manifest;
  const sig = checkSignature(m, peekBackupState(doc).signers);
  const key = backupKeys(doc).find((k) => k.keyId === m.keyId);
  const common = { ...base, keyId: m.keyId, keyHeld: Boolean(key), trusted: sig.ok, manifest: m };
  if (inTheFuture(m.finishedAt, o.now ?? new Date()))
    return verdictOf(
      { ...common, trusted: false },
      'failed',
      `it says it was made at ${m.finishedAt}, in the future: the clock of the host that made it is wrong; it does not count until that is explained`,
    );
  if (!sig.ok) return verdictOf(common, 'failed', sig.message);
  if (!key)
    return verdictOf(
      common,
      'failed',
      `the vault no longer holds backup key ${m.keyId}: this backup cannot be decrypted (was a version of backup/identity purged?)`,
    );
  if (!o.readData && !m.verification?.ok)
    return verdictOf(common, 'failed', `its last verification failed${m.verification ? `: ${m.verification.message}` : ''}`);
  if (!o.readData) return verdictOf(common, 'ok', `manifest ${sig.message}; key ${m.keyId} held (v${key.version}); verified ${m.verification?.at}`);
  const kind = (await import('./kinds/index.js')).findKind(m.kind);
  // A kind this vault-tool does not know (a newer one made it) cannot be judged here.
  if (!kind) return verdictOf(common, 'inconclusive', `could not be checked here: it is a ${m.kind} backup, a kind this vault-tool does not know`);
  const checker = kind.verifier(o.env);
  let r: Judged;
  let stored: ReturnType<typeof openStored> | undefined;
  try {
    stored = openStored(repo, b.component, b.file);
    const count = counter(o.onProgress, { item: `${b.component}/${b.file}`, phase: `reading in full (${checker.label})`, total: m.ciphertext.size });
    r = await judge(await countedInput(stored.input, count), [key.identity], checker);
  } catch (e) {
    const err = e as VaultError;
    if (err instanceof VaultError && err.kind === 'integrity')
      return verdictOf(common, 'failed', `decryption failed: ${err.message} (the file was truncated or altered)`);
    // A read that failed (the repository out of reach, an I/O error) says nothing about the backup itself.
    return verdictOf(common, 'inconclusive', `could not be checked here: ${err.message}`);
  } finally {
    stored?.close();
  }
  if (r.ciphertext.sha256 !== m.ciphertext.sha256 || r.ciphertext.size !== m.ciphertext.size)
    return verdictOf(common, 'failed', 'the stored file is not the one the manifest describes (SHA-256 differs): it was altered or replaced');
  // What a point-in-time restore holds the file to instead of its SHA-256: a manifest whose digest a restore would refuse fails here too.
  if (m.ciphertext.headerSha256 && r.ciphertext.headerSha256 !== m.ciphertext.headerSha256)
    return verdictOf(common, 'failed', "the stored file is not the one the manifest describes (its header's SHA-256 differs): it was altered or replaced");
  if (r.plaintext.sha256 !== m.plaintext.sha256) return verdictOf(common, 'failed', 'the decrypted data differs from what was backed up (SHA-256)');
  if (r.refused)
    return verdictOf(
      common,
      'inconclusive',
      `could not be checked here: ${r.refused}; the data is intact (both SHA-256s match the signed manifest, whose host checked these bytes with ${checker.label}): this host's checker cannot judge it (missing, older than the tool that wrote it, or killed)`,
    );
  return verdictOf(
    common,
    'ok',
    `read in full: decrypted with key ${m.keyId} (v${key.version}) and passed ${checker.label}; ${r.plaintext.size} bytes, both SHA-256s match`,
  );
}

/**
 * A verification's verdict written back into the manifest (re-signed by this
 * host), so retention and status see it; only for a manifest the vault
 * trusts, a conclusive verdict, and a signing key the vault trusts (anything
 * else is left as it was).
 */
export function mayRecordVerdict(check: BackupCheck, signing: SigningKey, doc: import('../vault/document.js').VaultDocument): boolean {
  return Boolean(
    check.manifest &&
      check.trusted &&
      check.keyHeld &&
      check.verdict !== 'inconclusive' &&
      peekBackupState(doc).signers.some((s) => s.publicKey === signing.publicKey),
  );
}

export async function recordVerdict(repo: Repo, m: BackupManifest, check: BackupCheck, signing: SigningKey, now: Date): Promise<BackupManifest> {
  const { signature: _s, signer: _g, ...body } = m;
  const { findKind } = await import('./kinds/index.js');
  const updated = signManifest(
    {
      ...body,
      verification: { at: now.toISOString(), ok: check.ok, check: `full read (${findKind(m.kind)?.verifier({}).label ?? 'decrypt'})`, message: check.message },
    },
    signing,
  );
  await writeManifest(repo, updated, true);
  return updated;
}

/** Opens the vault (when its key is here) to check or to record; the documents a backup check needs. */
export async function vaultForBackups(paths: VaultPaths, store: StoreOptions) {
  return (await readVault(paths, store)).doc;
}

export { signerId };
// For the backup command, which loads this module alone when it runs.
export { ensureBackupKey, loadSigningKey } from './keys.js';
