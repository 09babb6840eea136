import { createHash } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { VaultError } from '../errors/errors.js';
import { shareHash, type Share } from './envelope.js';
import { canonical } from '../vault/canonical.js';
import { isRecord } from '../vault/shape.js';

/**
 * The share manifest: what a split produced, signed with a one-time Ed25519
 * key whose public half is printed on every sheet. The private half is
 * discarded after signing, so nobody can sign a different manifest for the
 * same set later. It holds no secret.
 */
export interface ManifestBody {
  format: 'vault-tool/share-manifest';
  version: 1;
  setId: string;
  epoch: number;
  threshold: number;
  count: number;
  keyId: string;
  createdAt: string;
  custodians: { index: number; label: string; recipient?: string; shareHash: string }[];
  publicKey: string; // hex Ed25519
}

export interface Manifest extends ManifestBody {
  signature: string; // hex Ed25519 over canonical(body)
}

export function signManifest(shares: Share[], recipients: Map<number, string>, createdAt: string): Manifest {
  const first = shares[0]!;
  const secret = ed25519.utils.randomSecretKey();
  const body: ManifestBody = {
    format: 'vault-tool/share-manifest',
    version: 1,
    setId: first.setId,
    epoch: first.epoch,
    threshold: first.threshold,
    count: first.count,
    keyId: first.keyId,
    createdAt,
    custodians: shares.map((s) => ({
      index: s.index,
      label: s.label,
      ...(recipients.get(s.index) ? { recipient: recipients.get(s.index)! } : {}),
      shareHash: shareHash(s),
    })),
    publicKey: Buffer.from(ed25519.getPublicKey(secret)).toString('hex'),
  };
  const signature = Buffer.from(ed25519.sign(Buffer.from(canonical(body)), secret)).toString('hex');
  secret.fill(0);
  return { ...body, signature };
}

/** Short, readable fingerprint of the manifest key, printed on every sheet. */
export function manifestKeyFingerprint(publicKey: string): string {
  return (createHash('sha256').update(Buffer.from(publicKey, 'hex')).digest('hex').slice(0, 20).toUpperCase().match(/.{4}/g) ?? []).join('-');
}

const HEX = (n: number) => new RegExp(`^[0-9a-f]{${n}}$`);

/**
 * Reads a manifest file's text: JSON of the right shape, with a valid
 * signature. A UTF-8 byte-order mark in front (a copy saved by an editor
 * that marks UTF-8, as Notepad does) is not part of the JSON and is passed
 * over: the signature covers the manifest's fields, not the file's bytes.
 */
export function parseManifest(text: string, source: string): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
  } catch {
    throw new VaultError('bad-share', `${source} is not a vault-tool share manifest (not valid JSON)`);
  }
  verifyManifest(m as Manifest, source);
  return m as Manifest;
}

function checkShape(m: unknown, source: string): asserts m is Manifest {
  const bad = (what: string) => new VaultError('bad-share', `${source} is not a valid share manifest: ${what}`);
  if (!isRecord(m) || m.format !== 'vault-tool/share-manifest') throw new VaultError('bad-share', `${source} is not a vault-tool share manifest`);
  if (m.version !== 1)
    throw new VaultError('bad-share', `${source}: share manifest version ${String(m.version)} is not supported by this vault-tool`, 'upgrade vault-tool');
  if (typeof m.setId !== 'string' || !HEX(16).test(m.setId) || typeof m.keyId !== 'string' || !HEX(16).test(m.keyId))
    throw bad('setId and keyId must be 16 hex digits');
  for (const f of ['epoch', 'threshold', 'count'] as const) if (!Number.isSafeInteger(m[f])) throw bad(`${f} must be a whole number`);
  if (
    typeof m.createdAt !== 'string' ||
    typeof m.publicKey !== 'string' ||
    !HEX(64).test(m.publicKey) ||
    typeof m.signature !== 'string' ||
    !HEX(128).test(m.signature)
  )
    throw bad('createdAt, publicKey or signature is malformed');
  if (
    !Array.isArray(m.custodians) ||
    !m.custodians.every(
      (c) =>
        isRecord(c) &&
        Number.isSafeInteger(c.index) &&
        typeof c.label === 'string' &&
        typeof c.shareHash === 'string' &&
        HEX(64).test(c.shareHash) &&
        (c.recipient === undefined || typeof c.recipient === 'string'),
    )
  ) {
    throw bad('custodians must list index, label and shareHash');
  }
}

export function verifyManifest(m: Manifest, source = 'the manifest'): void {
  checkShape(m, source);
  const { signature, ...body } = m;
  let ok = false;
  try {
    ok = ed25519.verify(Buffer.from(signature, 'hex'), Buffer.from(canonical(body)), Buffer.from(m.publicKey, 'hex'));
  } catch {
    ok = false;
  }
  if (!ok)
    throw new VaultError('bad-share', `${source === 'the manifest' ? '' : `${source}: `}the manifest signature does not verify: the manifest was modified`);
}

/** Checks a share against a verified manifest: same set, and its hash listed at its index. */
export function checkShareInManifest(s: Share, m: Manifest): void {
  if (s.setId !== m.setId || s.epoch !== m.epoch)
    throw new VaultError('bad-share', `share is from set ${s.setId} epoch ${s.epoch}, the manifest is for set ${m.setId} epoch ${m.epoch}`);
  const c = m.custodians.find((x) => x.index === s.index);
  if (!c || c.shareHash !== shareHash(s)) throw new VaultError('bad-share', `share ${s.index} (${s.label}) is not the one listed in the signed manifest`);
}
