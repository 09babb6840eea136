import { VaultError } from '../errors/errors.js';
import { canonical } from '../vault/canonical.js';
import { signBytes, verifyBytes, type SigningKey, type TrustedSigner } from './keys.js';
import { isRecord } from '../vault/shape.js';

/**
 * A backup's manifest, written last (it is the commit marker: a backup file
 * without a manifest is an incomplete backup) and signed by the host that
 * made it (docs/FORMAT.md, "Backup manifest"). It names what was backed up,
 * how, both sizes and SHA-256s, the key that opens it and the verification
 * result. Never credentials, never data.
 */

export interface Verification {
  at: string;
  ok: boolean;
  /** What was run: "pg_restore -f /dev/null", "redis-check-rdb", "tar -t", "yaml", "decrypt". */
  check: string;
  message: string;
}

export interface ManifestBody {
  format: 'vault-tool/backup-manifest';
  version: 1;
  id: string;
  component: string;
  /** Its kind's name (`backup/kinds/`): postgres, postgres-globals, redis, files, k8s, exec. */
  kind: string;
  /** The encrypted file, in the component's folder of the repository. */
  file: string;
  source: Record<string, string>;
  tool: { name: string; version: string; args: string[] };
  startedAt: string;
  finishedAt: string;
  plaintext: { size: number; sha256: string };
  /**
   * headerSha256: the stored age file's header and payload nonce (docs/FORMAT.md, "Backup manifest"), which a restore of a WAL
   * file or a base backup holds instead of hashing the whole file; absent from manifests written before it was recorded.
   */
  ciphertext: { size: number; sha256: string; headerSha256?: string };
  recipient: string;
  keyId: string;
  verification: Verification | null;
  /** The set it belongs to: the backups one run of every database made; the last one made (the globals) names every member. */
  set?: BackupSet;
  /**
   * A WAL file a push left without its manifest (killed between the two), whose manifest a later push wrote from the file's
   * own stanza, which it cannot authenticate (docs/FORMAT.md, "WAL archive"): every read hashes its plaintext
   * (`plaintextHeld`). Other kinds and every other WAL file leave it out.
   */
  completed?: true;
  signer: { id: string; publicKey: string };
}

export interface BackupSet {
  id: string;
  /** The components of the set, in the manifest made last. */
  members?: string[];
}

export interface BackupManifest extends ManifestBody {
  /** Ed25519 over the canonical JSON of every other field. */
  signature: string;
}

export const manifestName = (file: string) => `${file}.manifest.json`;

export function signManifest(body: Omit<ManifestBody, 'signer'>, key: SigningKey): BackupManifest {
  const full: ManifestBody = { ...body, signer: { id: key.id, publicKey: key.publicKey } };
  return { ...full, signature: signBytes(key, Buffer.from(canonical(full))) };
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Parses a manifest file: the shape (no signature check; see checkSignature). */
export function parseManifest(text: string, where: string): BackupManifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw new VaultError('integrity', `${where}: the manifest is not valid JSON`);
  }
  const bad = (what: string) => new VaultError('integrity', `${where}: not a valid backup manifest (${what})`);
  if (!isRecord(m) || m.format !== 'vault-tool/backup-manifest') throw bad('format');
  if (m.version !== 1)
    throw new VaultError('invalid', `${where}: backup manifest version ${String(m.version)} is not supported by this vault-tool`, 'upgrade vault-tool');
  for (const k of ['id', 'component', 'kind', 'file', 'startedAt', 'finishedAt', 'recipient', 'keyId', 'signature']) if (typeof m[k] !== 'string') throw bad(k);
  for (const k of ['plaintext', 'ciphertext'] as const) {
    const x = m[k];
    if (!isRecord(x) || !Number.isSafeInteger(x.size) || typeof x.sha256 !== 'string' || !HEX64.test(x.sha256)) throw bad(k);
  }
  const h = (m.ciphertext as Record<string, unknown>).headerSha256;
  if (h !== undefined && (typeof h !== 'string' || !HEX64.test(h))) throw bad('ciphertext.headerSha256');
  if (!isRecord(m.signer) || typeof m.signer.publicKey !== 'string' || typeof m.signer.id !== 'string') throw bad('signer');
  if (!isRecord(m.source) || !isRecord(m.tool)) throw bad('source or tool');
  if ((m.file as string).includes('/') || (m.file as string).startsWith('.')) throw bad('file');
  if (m.set !== undefined) {
    const set = m.set;
    if (
      !isRecord(set) ||
      typeof set.id !== 'string' ||
      (set.members !== undefined && !(Array.isArray(set.members) && set.members.every((c) => typeof c === 'string')))
    )
      throw bad('set');
  }
  return m as unknown as BackupManifest;
}

/** A signature check: valid under a trusted key, or why not (`altered`: it does not verify; `untrusted`: another key signed it). */
export type SignatureCheck = { ok: true; message: string } | { ok: false; why: 'altered' | 'untrusted'; message: string };

/** The manifest's signature is valid and its signer is one the vault trusts. */
export function checkSignature(m: BackupManifest, trusted: TrustedSigner[]): SignatureCheck {
  const { signature, ...body } = m;
  if (!verifyBytes(m.signer.publicKey, Buffer.from(canonical(body)), signature))
    return { ok: false, why: 'altered', message: "the manifest's signature does not verify: it was altered" };
  const t = trusted.find((s) => s.publicKey === m.signer.publicKey);
  if (!t) return { ok: false, why: 'untrusted', message: `the manifest is signed by host key ${m.signer.id}, which the vault does not trust` };
  return { ok: true, message: `signed by ${t.label || t.id}` };
}
