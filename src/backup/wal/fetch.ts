import { createHash } from 'node:crypto';
import { decrypt } from '../../age/index.js';
import { VaultError } from '../../errors/errors.js';
import { checkOutput, writeOutput } from '../../fs/output.js';
import { LIMITS } from '../../fs/read.js';
import { checkSignature, manifestName, type BackupManifest } from '../manifest.js';
import type { Repo } from '../repo.js';
import { ARCHIVE_FILE, readArchiveInfo } from './archive.js';
import { parseWalManifest } from './catalog.js';
import type { ReadKeys } from './identity.js';
import { looksLikeWalName, MAX_SEGMENT_SIZE, parseWalName, segmentName } from './names.js';
import { checkSegment } from './page.js';
import { archiveDest, isThere, readIfThere, readWhole, segmentsDest, WAL_KIND } from './store.js';

/**
 * `wal-fetch`: one archived file back, for restore_command. A file counts
 * only with its manifest, signed by a host the keys trust, and only after
 * every check: the stored bytes' SHA-256, complete decryption, the
 * plaintext's size and SHA-256, and for a segment its page headers against
 * its name and the cluster. Only then is it written to the path PostgreSQL
 * gave (a temp file renamed into place: a killed fetch leaves no partial
 * file under that name).
 */
export type FetchResult =
  | { status: 'restored'; name: string; bytes: number; manifest: BackupManifest }
  /** Not in the archive (PostgreSQL asks for files that may not exist); `note` when a killed push left its file without a manifest. */
  | { status: 'absent'; name: string; note?: string };

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** An archived file read and checked in full (no output written). */
export async function readArchived(repo: Repo, cluster: string, name: string, keys: ReadKeys): Promise<FetchResult & { plaintext?: Buffer }> {
  if (!looksLikeWalName(name))
    throw new VaultError('usage', `${JSON.stringify(name)} is not a name PostgreSQL archives (a segment, a .history, .backup or .partial file)`, {
      code: 'wal-name',
    });
  const d = segmentsDest(repo, cluster);
  const file = `${name}.age`;
  const raw = await readIfThere(repo, d, manifestName(file), LIMITS.text, 'manifest');
  if (!raw) return absence(repo, cluster, name);
  const where = `${d.spec}/${manifestName(file)}`;
  const m = parseWalManifest(raw.toString('utf8'), where);
  if (m.source.wal !== name || m.component !== `${WAL_KIND}/${cluster}`)
    throw new VaultError('integrity', `${where} describes ${m.component}/${m.source.wal}, not ${WAL_KIND}/${cluster}/${name}: it was moved`);
  const sig = checkSignature(m, keys.signers);
  if (!sig.ok) throw new VaultError('integrity', `${name}: ${sig.message}: it is not used`, { code: 'backup-untrusted' });
  const key = keys.identities.find((k) => k.keyId === m.keyId);
  if (!key) throw new VaultError('wrong-key', `${name} needs backup key ${m.keyId}, which the given keys do not hold`, { code: 'backup-key-gone' });
  const stored = await readWhole(repo, d, file, MAX_SEGMENT_SIZE + (8 << 20), 'WAL file');
  if (stored.length !== m.ciphertext.size || sha256(stored) !== m.ciphertext.sha256)
    throw new VaultError('integrity', `${name}: the stored file is not the one its manifest describes (SHA-256 differs): it was altered or replaced`);
  let plaintext: Buffer;
  try {
    plaintext = decrypt(stored, { identities: [key.identity] }).plaintext;
  } catch (e) {
    throw new VaultError('integrity', `${name}: decryption failed: ${(e as Error).message}`);
  }
  if (plaintext.length !== m.plaintext.size || sha256(plaintext) !== m.plaintext.sha256)
    throw new VaultError('integrity', `${name}: the decrypted data differs from what was archived (SHA-256)`);
  const f = parseWalName(name, m.plaintext.size >= 1 << 20 ? m.plaintext.size : 16 << 20);
  if (f && (f.kind === 'segment' || f.kind === 'partial')) {
    const c = checkSegment(name, plaintext, { systemId: m.source.systemId, segmentSize: plaintext.length });
    if (typeof c === 'string') throw new VaultError('integrity', `${name}: not the segment its name says: ${c}`);
  }
  return { status: 'restored', name, bytes: plaintext.length, manifest: m, plaintext };
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
  const r = await readArchived(repo, cluster, name, keys);
  if (r.status !== 'restored') return r;
  writeOutput(target, r.plaintext!, 'data', { force: true });
  const { plaintext: _p, ...rest } = r;
  return rest;
}
