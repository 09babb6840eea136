import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';
import { closeSync, constants, openSync, readSync, rmSync } from 'node:fs';
import { decrypt } from '../../age/index.js';
import { readHeader, unwrapFileKey } from '../../age/file-key.js';
import { parseHeader } from '../../age/header.js';
import { openChunks } from '../../age/kernel.js';
import { release } from '../../age/release.js';
import { NONCE_SIZE, openFailure, payloadKey } from '../../age/stream.js';
import { AgeError, VaultError } from '../../errors/errors.js';
import { checkOutput, writeOutput } from '../../fs/output.js';
import { LIMITS } from '../../fs/read.js';
import { manifestName, type BackupManifest } from '../manifest.js';
import type { Repo } from '../repo.js';
import { ARCHIVE_FILE, readArchiveInfo } from './archive.js';
import { parseWalManifest, walManifestRefusal } from './catalog.js';
import type { X25519Identity } from '../../age/x25519.js';
import type { ReadKeys } from './identity.js';
import { looksLikeWalName, MAX_SEGMENT_SIZE, parseWalName, segmentName } from './names.js';
import { checkSegment } from './page.js';
import type { OpenJob, OpenPool, OpenResult } from './open-pool.js';
import { archiveDest, isThere, readIfThere, readWhole, segmentsDest } from './store.js';

/**
 * `wal-fetch`: one archived file back, for restore_command. A file counts
 * only with its manifest, signed by a host the keys trust, and only after
 * every check: the stored bytes held to the manifest (their SHA-256; on a
 * restore, the SHA-256 of the age header and payload nonce where the
 * manifest records it, see ReadOptions), complete decryption, the
 * plaintext's size (and SHA-256, when verifying), and for a segment its
 * page headers against its name and the cluster. Only then is it written
 * to the path PostgreSQL gave (a temp file renamed into place: a killed
 * fetch leaves no partial file under that name).
 */
export type FetchResult =
  | { status: 'restored'; name: string; bytes: number; manifest: BackupManifest }
  /** Not in the archive (PostgreSQL asks for files that may not exist); `note` when a killed push left its file without a manifest. */
  | { status: 'absent'; name: string; note?: string };

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface ReadOptions {
  /**
   * Hash the plaintext and hold it to the manifest's SHA-256 too (the
   * default: verification). A restore reads without it: the stored bytes
   * are held to the signed manifest's SHA-256 before decryption, and
   * authenticated decryption of those bytes with the key has one plaintext
   * only, whose size and page headers are checked besides.
   */
  plaintextSha256?: boolean;
  /**
   * Hold the whole stored file to the manifest's SHA-256 (the default:
   * verification). A restore reads without it where the manifest records
   * `ciphertext.headerSha256` (docs/FORMAT.md, "WAL archive"): the age
   * header and payload nonce are held to that digest before the file key is
   * unwrapped, which fixes the file key and the payload key; every chunk of
   * the payload then authenticates under that key (its counter and
   * last-chunk flag in the nonce, nothing after the last chunk), so the
   * plaintext is the one pushed without hashing the stored bytes
   * (docs/THREAT-MODEL.md, "The WAL archive", says what this rests on). A
   * manifest without the field (a file pushed before it) gets the full hash.
   * Verification holds both: the whole file, and the header's digest where
   * recorded.
   */
  storedSha256?: boolean;
}

/** How a restore reads a file: the header's digest where recorded, else the stored SHA-256; not the plaintext's (ReadOptions). */
export const RESTORE_READ: ReadOptions = { plaintextSha256: false, storedSha256: false };

/** The digest a read holds the stored file's header and payload nonce to instead of its whole SHA-256, when it may (ReadOptions). */
const headerCheck = (m: BackupManifest, o: ReadOptions): string | undefined => (o.storedSha256 === false ? m.ciphertext.headerSha256 : undefined);

/** The identities a read tries on a file's header: the one its manifest names, or for a completed file every one held. */
type Ids = X25519Identity[];

/**
 * The identities to open a file with. A file's manifest names its key, and
 * that key alone is tried. A completed file's does not (`keyId` empty: the
 * completing push cannot tell which key the file it found is encrypted to,
 * and a rotation may lie between the killed push and it; manifests completed
 * before this was known name the completing push's key, which may be wrong):
 * every identity held is tried, the named one first. That is safe: whatever
 * opens it, its plaintext is held to the manifest's SHA-256 (plaintextHeld).
 */
function idsFor(name: string, m: BackupManifest, keys: ReadKeys): Ids {
  const named = keys.identities.find((k) => k.keyId === m.keyId);
  if (m.completed) return [...(named ? [named] : []), ...keys.identities.filter((k) => k !== named)].map((k) => k.identity);
  if (!named) throw new VaultError('wrong-key', `${name} needs backup key ${m.keyId}, which the given keys do not hold`, { code: 'backup-key-gone' });
  return [named.identity];
}

/** The message of a failure to open a file's header with `ids`: for a completed file, that no key held opens it. */
function noKey(name: string, m: BackupManifest, e: Error): string {
  return m.completed
    ? `${name}: decryption failed: no backup key held opens it (its manifest, completed by a later push from a file found without one, records no key): ${e.message}`
    : `${name}: decryption failed: ${e.message}`;
}

/** An archived file's signed manifest, trusted, and the identities to open it with; or its absence. */
async function trusted(
  repo: Repo,
  cluster: string,
  name: string,
  keys: ReadKeys,
): Promise<{ status: 'absent'; result: FetchResult } | { status: 'trusted'; m: BackupManifest; ids: Ids }> {
  if (!looksLikeWalName(name))
    throw new VaultError('usage', `${JSON.stringify(name)} is not a name PostgreSQL archives (a segment, a .history, .backup or .partial file)`, {
      code: 'wal-name',
    });
  const d = segmentsDest(repo, cluster);
  const file = `${name}.age`;
  const raw = await readIfThere(repo, d, manifestName(file), LIMITS.text, 'manifest');
  if (!raw) return { status: 'absent', result: await absence(repo, cluster, name) };
  const where = `${d.spec}/${manifestName(file)}`;
  const m = parseWalManifest(raw.toString('utf8'), where);
  const no = walManifestRefusal(m, keys.signers, { name, cluster });
  if (no?.why === 'moved') throw new VaultError('integrity', `${where}: ${no.message}`);
  if (no) throw new VaultError('integrity', `${name}: ${no.message}: it is not used`, { code: 'backup-untrusted' });
  return { status: 'trusted', m, ids: idsFor(name, m, keys) };
}

/** An archived file's trusted manifest and its stored bytes (not yet held to it); or its absence. */
async function storedOf(
  repo: Repo,
  cluster: string,
  name: string,
  keys: ReadKeys,
): Promise<{ status: 'absent'; result: FetchResult } | { status: 'stored'; m: BackupManifest; ids: Ids; stored: Buffer }> {
  const t = await trusted(repo, cluster, name, keys);
  if (t.status === 'absent') return t;
  const stored = await readWhole(repo, segmentsDest(repo, cluster), `${name}.age`, MAX_SEGMENT_SIZE + (8 << 20), 'WAL file');
  return { status: 'stored', m: t.m, ids: t.ids, stored };
}

const altered = (name: string, why = 'SHA-256 differs') =>
  new VaultError('integrity', `${name}: the stored file is not the one its manifest describes (${why}): it was altered or replaced`);

const HEADER_DIFFERS = "its header's SHA-256 differs";

/** `head` (the stored file's start, its header parsed) held to the manifest's headerSha256: the header and payload nonce. */
function headerHeld(name: string, head: Uint8Array, headerLength: number, want: string): void {
  const end = headerLength + NONCE_SIZE;
  if (head.length < end || sha256(head.subarray(0, end)) !== want) throw altered(name, HEADER_DIFFERS);
}

/**
 * The plaintext held to the manifest's SHA-256: when the read asks for it (verification), and on every read of a file whose
 * manifest a later push completed (`completed`: written from the stored file's stanza, which authenticates nothing of who
 * wrote the file, so the stored bytes and header the manifest names are only what was found, not what was pushed).
 */
function plaintextHeld(name: string, m: BackupManifest, plaintext: Uint8Array, o: ReadOptions): void {
  if (o.plaintextSha256 === false && m.completed === undefined) return;
  if (sha256(plaintext) !== m.plaintext.sha256)
    throw new VaultError(
      'integrity',
      m.completed === undefined
        ? `${name}: the decrypted data differs from what was archived (SHA-256)`
        : `${name}: the decrypted data differs from what was archived (SHA-256): its stored file, found without a manifest and completed by a later push, is not the one pushed`,
    );
}

/** The page headers of a segment (or .partial file) against its name and the cluster. */
function checkPages(name: string, m: BackupManifest, plaintext: Uint8Array): void {
  const f = parseWalName(name, m.plaintext.size >= 1 << 20 ? m.plaintext.size : 16 << 20);
  if (f && (f.kind === 'segment' || f.kind === 'partial')) {
    const c = checkSegment(name, plaintext, { systemId: m.source.systemId, segmentSize: plaintext.length });
    if (typeof c === 'string') throw new VaultError('integrity', `${name}: not the segment its name says: ${c}`);
  }
}

/**
 * The plaintext of a stored file, opened in the stored file's own buffer:
 * each chunk's plaintext is written over ciphertext already read (it starts
 * no later than its chunk) once its tag verified, and node:crypto's output
 * for it released at once (release.ts). No second 16 MiB buffer, nor 256
 * chunk buffers left to the garbage collector, per segment. `stored` is
 * overwritten.
 */
function openInPlace(name: string, stored: Buffer, ids: Ids, headerSha256: string | undefined): Buffer {
  let parsed: ReturnType<typeof readHeader>;
  try {
    parsed = readHeader(stored);
  } catch (e) {
    if (headerSha256) throw altered(name, HEADER_DIFFERS);
    throw e;
  }
  const { header, binary } = parsed;
  if (headerSha256) {
    // Before the header is used at all: the one pushed (an armored file, never what a push writes, is not).
    if (binary.buffer !== stored.buffer) throw altered(name, HEADER_DIFFERS);
    headerHeld(name, binary, header.length, headerSha256);
  }
  // An armored file (never what a push writes) is opened the ordinary way.
  if (binary.buffer !== stored.buffer) return decrypt(stored, { identities: ids }).plaintext;
  const fileKey = unwrapFileKey(header, { identities: ids });
  const start = header.length + NONCE_SIZE;
  if (binary.length < start) throw new AgeError('header', 'missing payload nonce');
  const payload = payloadKey(fileKey, binary.subarray(header.length, start));
  const opened = openChunks(crypto, payload, 0, binary.subarray(start), true, binary, release);
  const failure = openFailure(opened);
  // Under the header its manifest names, a payload that does not open in full was altered.
  if (failure && headerSha256) throw altered(name, `its payload does not authenticate: ${failure.message}`);
  if (failure) throw failure;
  return binary.subarray(0, opened.len);
}

/** An archived file read and checked in full (no output written). */
export async function readArchived(
  repo: Repo,
  cluster: string,
  name: string,
  keys: ReadKeys,
  o: ReadOptions = {},
): Promise<FetchResult & { plaintext?: Buffer }> {
  const s = await storedOf(repo, cluster, name, keys);
  if (s.status === 'absent') return s.result;
  const { m, ids, stored } = s;
  // The header's digest is held wherever the manifest records it: instead of the whole file's SHA-256 on a restore, besides it
  // when verifying (a manifest whose digest a restore would refuse never passes verification).
  const head = m.ciphertext.headerSha256;
  if (stored.length !== m.ciphertext.size) throw altered(name, 'its size differs');
  if (!headerCheck(m, o) && sha256(stored) !== m.ciphertext.sha256) throw altered(name);
  let plaintext: Buffer;
  try {
    plaintext = openInPlace(name, stored, ids, head);
  } catch (e) {
    if (e instanceof VaultError && !(e instanceof AgeError)) throw e;
    throw new VaultError('integrity', noKey(name, m, e as Error));
  }
  if (plaintext.length !== m.plaintext.size) throw new VaultError('integrity', `${name}: the decrypted data differs from what was archived (size)`);
  plaintextHeld(name, m, plaintext, o);
  checkPages(name, m, plaintext);
  return { status: 'restored', name, bytes: plaintext.length, manifest: m, plaintext };
}

/**
 * The prefetcher's read: the same checks as a restore's readArchived
 * (RESTORE_READ), the stored file's SHA-256 (a file pushed without
 * headerSha256) and its opening done by a worker of `pool`, which
 * writes the plaintext to `tmp` (made new) once every chunk verified; the
 * file at `tmp` is left only when every check passed (the page headers
 * last, here), for the caller to rename into place.
 */
export async function fetchToFile(repo: Repo, cluster: string, name: string, keys: ReadKeys, pool: OpenPool, tmp: string): Promise<FetchResult> {
  const local = await localStored(repo, cluster, name, keys);
  if (local) return local.status === 'absent' ? local.result : openStored(name, local.m, local.head, local.path, pool, tmp, local.ids);
  const s = await storedOf(repo, cluster, name, keys);
  if (s.status === 'absent') return s.result;
  const { m, ids, stored } = s;
  const head = headerCheck(m, RESTORE_READ);
  if (stored.length !== m.ciphertext.size) throw altered(name, 'its size differs');
  let start: number;
  let payload: Buffer;
  let held = false;
  try {
    const { header, binary } = readHeader(stored);
    if (binary.buffer !== stored.buffer) throw new Error('an armored file');
    if (head) headerHeld(name, binary, header.length, head);
    held = Boolean(head);
    const fileKey = unwrapFileKey(header, { identities: ids });
    start = header.length + NONCE_SIZE;
    if (binary.length < start) throw new Error('missing payload nonce');
    payload = payloadKey(fileKey, binary.subarray(header.length, start));
  } catch (e) {
    if (e instanceof VaultError && !(e instanceof AgeError)) throw e;
    // Not the file its manifest describes, or not one this key opens: the header's digest, or the full read, says which
    // (a header that does not parse is not the one pushed; one held to its digest is, and the key is the cause).
    if (head ? !held : sha256(stored) !== m.ciphertext.sha256) throw altered(name, head ? HEADER_DIFFERS : undefined);
    throw new VaultError('integrity', noKey(name, m, e as Error));
  }
  // The worker gets the file's own memory (given up: copied first when it is a slice of a larger buffer).
  const own = stored.byteOffset === 0 && stored.buffer.byteLength === stored.byteLength ? stored.buffer : Uint8Array.prototype.slice.call(stored).buffer;
  return opened(name, m, await pool.open({ file: own as ArrayBuffer, size: m.ciphertext.size, check: checkOf(m, head), start, key: payload, tmp }), tmp, pool);
}

/**
 * In a local repository the worker reads the stored file itself: here only
 * its manifest is read and trusted, and the start of the file for its
 * header (null: not local, or a header longer than that start; then the
 * whole file is read here).
 */
async function localStored(
  repo: Repo,
  cluster: string,
  name: string,
  keys: ReadKeys,
): Promise<{ status: 'absent'; result: FetchResult } | { status: 'stored'; m: BackupManifest; ids: Ids; head: Buffer; path: string } | null> {
  const d = segmentsDest(repo, cluster);
  const path = d.localPath(`${name}.age`);
  if (!path) return null;
  const t = await trusted(repo, cluster, name, keys);
  if (t.status === 'absent') return t;
  let head: Buffer;
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const b = Buffer.alloc(HEAD);
      head = b.subarray(0, readSync(fd, b, 0, HEAD, 0));
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new VaultError('io', `${name}: cannot read ${d.locate(`${name}.age`)}: ${(e as Error).message}`);
  }
  return { status: 'stored', m: t.m, ids: t.ids, head, path };
}

/** What is read of a file's start for its header (an X25519 header is about 200 bytes). */
const HEAD = 64 << 10;

/** What a worker holds the stored file to: the header's digest where the manifest records it (RESTORE_READ), else the whole file's. */
const checkOf = (m: BackupManifest, head: string | undefined): OpenJob['check'] => (head ? { headerSha256: head } : { sha256: m.ciphertext.sha256 });

/** A stored file opened by a worker from its path, its header parsed here from `head`. */
async function openStored(name: string, m: BackupManifest, head: Buffer, path: string, pool: OpenPool, tmp: string, ids: Ids): Promise<FetchResult> {
  const want = headerCheck(m, RESTORE_READ);
  let start: number;
  let payload: Buffer;
  let held = false;
  try {
    const header = parseHeader(head, head.length < HEAD);
    if (!header) throw new Error('header longer than its first 64 KiB');
    if (want) headerHeld(name, head, header.length, want);
    held = Boolean(want);
    const fileKey = unwrapFileKey(header, { identities: ids });
    start = header.length + NONCE_SIZE;
    if (head.length < start) throw new Error('missing payload nonce');
    payload = payloadKey(fileKey, head.subarray(header.length, start));
  } catch (e) {
    if (e instanceof VaultError && !(e instanceof AgeError)) throw e;
    // With the header's digest recorded, a header that does not parse is not the one pushed; one held to it that this key
    // does not open is a key's failure, said as such.
    if (want && !held) throw altered(name, HEADER_DIFFERS);
    if (want) throw new VaultError('integrity', noKey(name, m, e as Error));
    // Decided by the worker's full read: the stored file's SHA-256 first (an altered file is named so), else the failure here.
    const r = await pool.open({ file: path, size: m.ciphertext.size, check: { sha256: m.ciphertext.sha256 }, start: 0, key: Buffer.alloc(32), tmp: '' });
    if (!r.held || r.size !== m.ciphertext.size) throw altered(name);
    throw new VaultError('integrity', noKey(name, m, e as Error));
  }
  return opened(name, m, await pool.open({ file: path, size: m.ciphertext.size, check: checkOf(m, want), start, key: payload, tmp }), tmp, pool);
}

/** The worker's result held to the manifest: the temp file kept only when every check passed. */
function opened(name: string, m: BackupManifest, r: OpenResult, tmp: string, pool: OpenPool): FetchResult {
  try {
    if (r.size === -1 && r.error) throw new VaultError('io', `${name}: cannot read the stored file: ${r.error}`);
    const head = headerCheck(m, RESTORE_READ);
    if (r.size !== m.ciphertext.size) throw altered(name, 'its size differs');
    if (!r.held) throw altered(name, head ? HEADER_DIFFERS : undefined);
    const failure = r.opened && (r.opened.failure || !r.opened.last ? (openFailure(r.opened) ?? new Error('no final chunk')) : null);
    // Under the header its manifest names, a payload that does not open in full was altered.
    if (failure && head) throw altered(name, `its payload does not authenticate: ${failure.message}`);
    if (!r.opened || failure) throw new VaultError('integrity', `${name}: decryption failed: ${failure?.message ?? 'not opened'}`);
    if (r.error) throw new VaultError('io', `${name}: cannot write ${tmp}: ${r.error}`);
    if (r.opened.len !== m.plaintext.size) throw new VaultError('integrity', `${name}: the decrypted data differs from what was archived (size)`);
    plaintextHeld(name, m, r.plaintext!, RESTORE_READ);
    checkPages(name, m, r.plaintext!);
    return { status: 'restored', name, bytes: r.opened.len, manifest: m };
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    pool.recycle(r.plaintext);
  }
}

/**
 * A file without its manifest is "absent" (PostgreSQL then ends recovery,
 * or stops short of its target) only when that is the truth: the archive
 * itself is there (its archive.json read: an unmounted folder or an
 * unreachable bucket is no answer), and for a segment, the archive does
 * not go on after it (the next segment of its timeline archived: a gap, or
 * a manifest removed, in the middle of the range). Anything else is an
 * error, so that recovery stops instead of ending early. A file a killed
 * push left without its manifest, as the archive's last, is absent, and
 * said so.
 */
async function absence(repo: Repo, cluster: string, name: string): Promise<FetchResult> {
  const d = segmentsDest(repo, cluster);
  const info = await readArchiveInfo(repo, cluster);
  if (!info)
    throw new VaultError(
      'not-found',
      `${name}: ${archiveDest(repo, cluster).spec} holds no WAL archive (no ${ARCHIVE_FILE}): the repository is not mounted or not reachable, or not the one the cluster archives to; whether ${name} was archived cannot be told`,
      { code: 'wal-archive-missing' },
    );
  const orphan = await isThere(repo, d, `${name}.age`);
  const f = parseWalName(name, info.segmentSize);
  if (f?.kind === 'segment') {
    const next = segmentName(f.timeline, f.segno + 1n, info.segmentSize);
    if (await isThere(repo, d, manifestName(`${next}.age`))) {
      if (orphan)
        throw new VaultError(
          'integrity',
          `${name} is in the archive without its manifest, yet ${next} after it is archived: its manifest was removed, and the archive is damaged here`,
        );
      throw new VaultError('verify-failed', `${name} is missing from the archive, yet ${next} after it is archived: a gap, which no recovery can cross`, {
        code: 'wal-gap',
      });
    }
  }
  if (!orphan) return { status: 'absent', name };
  return {
    status: 'absent',
    name,
    note: `${name} is in the archive without its manifest (its push did not finish): it does not count until a push completes it`,
  };
}

export async function walFetch(repo: Repo, cluster: string, name: string, target: string, keys: ReadKeys): Promise<FetchResult> {
  // PostgreSQL names a file in pg_wal (restored data, replaced as such); whatever is named, none of the tool's own files or a key is replaced.
  checkOutput(target, 'data', { force: true });
  const r = await readArchived(repo, cluster, name, keys, RESTORE_READ);
  if (r.status !== 'restored') return r;
  writeOutput(target, r.plaintext!, 'data', { force: true });
  const { plaintext: _p, ...rest } = r;
  return rest;
}
