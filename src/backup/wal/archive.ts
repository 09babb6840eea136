import { VaultError } from '../../errors/errors.js';
import { canonical } from '../../vault/canonical.js';
import { signBytes, verifyBytes, type SigningKey, type TrustedSigner } from '../keys.js';
import type { Repo } from '../repo.js';
import { PAGE_MAGIC, type SegmentHeader } from './page.js';
import { archiveDest, putNew, readIfThere } from './store.js';

/**
 * `archive.json`: which cluster a WAL archive holds, written by the first
 * push and signed by its host. Every later push checks the segment it is
 * given against it (the system identifier in every segment's first page),
 * so two clusters never mix their WAL in one archive, and segments of
 * another size or another major version are refused.
 */
export interface ArchiveInfoBody {
  format: 'vault-tool/wal-archive';
  version: 1;
  cluster: string;
  systemId: string;
  segmentSize: number;
  pageMagic: number;
  postgres: number;
  createdAt: string;
  signer: { id: string; publicKey: string };
}

export interface ArchiveInfo extends ArchiveInfoBody {
  signature: string;
}

export const ARCHIVE_FILE = 'archive.json';

function parseInfo(text: string, where: string): ArchiveInfo {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new VaultError('integrity', `${where}: not valid JSON`);
  }
  const x = v as Record<string, unknown>;
  if (!x || typeof x !== 'object' || x.format !== 'vault-tool/wal-archive') throw new VaultError('integrity', `${where}: not a WAL archive description`);
  if (x.version !== 1)
    throw new VaultError('invalid', `${where}: WAL archive version ${String(x.version)} is not supported by this vault-tool`, 'upgrade vault-tool');
  if (
    typeof x.cluster !== 'string' ||
    typeof x.systemId !== 'string' ||
    !/^[0-9]+$/.test(x.systemId) ||
    !Number.isSafeInteger(x.segmentSize) ||
    !Number.isSafeInteger(x.pageMagic) ||
    typeof x.signature !== 'string' ||
    typeof (x.signer as Record<string, unknown>)?.publicKey !== 'string'
  )
    throw new VaultError('integrity', `${where}: a WAL archive description with missing or malformed fields`);
  return x as unknown as ArchiveInfo;
}

/** The archive's description, or null before the first segment; its signature is checked to be whole (trust is the reader's to judge). */
export async function readArchiveInfo(repo: Repo, cluster: string): Promise<ArchiveInfo | null> {
  const d = archiveDest(repo, cluster);
  const raw = await readIfThere(repo, d, ARCHIVE_FILE, 1 << 16, 'WAL archive description');
  if (!raw) return null;
  const info = parseInfo(raw.toString('utf8'), `${d.spec}/${ARCHIVE_FILE}`);
  const { signature, ...body } = info;
  if (!verifyBytes(info.signer.publicKey, Buffer.from(canonical(body)), signature))
    throw new VaultError('integrity', `${d.spec}/${ARCHIVE_FILE}: its signature does not verify: it was altered`);
  if (info.cluster !== cluster) throw new VaultError('integrity', `${d.spec}/${ARCHIVE_FILE} describes cluster ${info.cluster}, not ${cluster}: it was moved`);
  return info;
}

/** Whether a signer the vault trusts wrote the description. */
export function infoTrusted(info: ArchiveInfo, trusted: TrustedSigner[]): boolean {
  return trusted.some((s) => s.publicKey === info.signer.publicKey);
}

/**
 * The archive's description; the first segment pushed writes it from its
 * own header. Two first pushes at once: the second reads the first's.
 */
export async function ensureArchiveInfo(repo: Repo, cluster: string, h: SegmentHeader, signing: SigningKey, now: Date): Promise<ArchiveInfo> {
  const have = await readArchiveInfo(repo, cluster);
  if (have) return have;
  const body: ArchiveInfoBody = {
    format: 'vault-tool/wal-archive',
    version: 1,
    cluster,
    systemId: h.systemId,
    segmentSize: h.segmentSize,
    pageMagic: h.magic,
    postgres: PAGE_MAGIC.get(h.magic)!,
    createdAt: now.toISOString(),
    signer: { id: signing.id, publicKey: signing.publicKey },
  };
  const info: ArchiveInfo = { ...body, signature: signBytes(signing, Buffer.from(canonical(body))) };
  try {
    await putNew(repo, archiveDest(repo, cluster), ARCHIVE_FILE, Buffer.from(JSON.stringify(info, null, 2) + '\n'));
  } catch (e) {
    if (!(e instanceof VaultError && e.kind === 'exists')) throw e;
    return (await readArchiveInfo(repo, cluster))!;
  }
  return info;
}
