import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { VaultError } from '../vault/errors.js';
import { encrypt, armor, parseRecipient } from '../vault/age/index.js';
import { formatKeyFile, keyFromScalar, keyIdOf, keyScalar, type VaultKey } from '../vault/keyfile.js';
import { clampScalar, isClamped, X25519Identity } from '../vault/age/x25519.js';
import { exists, writeFileAtomic } from '../vault/fsutil.js';
import { loadKey, updateVault, type StoreOptions, type VaultPaths } from '../vault/store.js';
import { appendEvidence } from '../vault/evidence.js';
import type { VaultDocument } from '../vault/document.js';
import { checkLabel, type Share } from './envelope.js';
import { manifestKeyFingerprint, signManifest, type Manifest, type ManifestBody } from './manifest.js';
import { combineShares, splitSecret } from './shares.js';
import { formatShareFile, shareFileName } from './files.js';
import { renderSheet } from './sheet.js';


export interface Custodian {
  label: string;
  recipient?: string;
}

export interface EscrowState extends Pick<ManifestBody, 'setId' | 'epoch' | 'threshold' | 'count' | 'keyId' | 'createdAt'> {
  custodians: (Custodian & { index: number; receiptConfirmedAt?: string })[];
  manifest: Manifest;
}

interface EscrowDoc {
  epoch: number;
  current?: EscrowState;
  history: Omit<EscrowState, 'manifest'>[];
}

export function escrowOf(doc: VaultDocument): EscrowDoc {
  const e = (doc.escrow as EscrowDoc | undefined) ?? { epoch: 0, history: [] };
  doc.escrow = e;
  return e;
}

/** Key id of a recovered scalar; a non-canonical scalar (see clampScalar) never matches. */
export const idOfSecret = (secret: Uint8Array) => (isClamped(secret) ? keyIdOf(new X25519Identity(secret).recipient) : '');

/** "alice" or "alice=age1…"; names must be distinct. */
export function parseCustodian(spec: string): Custodian {
  const i = spec.indexOf('=');
  if (i < 0) return { label: checkLabel(spec) };
  const recipient = spec.slice(i + 1);
  parseRecipient(recipient);
  return { label: checkLabel(spec.slice(0, i)), recipient };
}

export interface SplitOptions {
  threshold: number;
  custodians: Custodian[];
  outDir: string;
  /** Split this key file instead of the vault's (the pending key of a rekey). */
  keyFile?: string;
  now?: Date;
  event?: string;
  selfTestLimit?: number;
}

export interface SplitResult {
  state: EscrowState;
  files: { custodian: string; share: string; sheet: string }[];
  manifestFile: string;
  selfTested: number;
  subsets: number;
  shares: Share[];
}

/**
 * Splits the vault key K-of-N, self-tests every K-subset (or a sample),
 * writes one share file and one sheet per custodian plus the signed
 * manifest, and records the set in the vault and its evidence log.
 */
export async function splitVaultKey(paths: VaultPaths, opts: StoreOptions, o: SplitOptions): Promise<SplitResult> {
  const now = o.now ?? new Date();
  return updateVault(paths, opts, async (doc, vaultKey) => {
    const key: VaultKey = o.keyFile ? await loadKey(o.keyFile, opts) : vaultKey;
    const known = [doc.key.keyId, doc.pendingKey?.keyId];
    if (!known.includes(key.keyId)) throw new VaultError('wrong-key', `key id ${key.keyId} is not a key of this vault`);
    const esc = escrowOf(doc);
    const epoch = esc.epoch + 1;
    const { shares, selfTested, subsets } = await splitSecret({
      secret: clampScalar(keyScalar(key)),
      keyId: key.keyId,
      threshold: o.threshold,
      labels: o.custodians.map((c) => c.label),
      epoch,
      keyIdOf: idOfSecret,
      ...(o.selfTestLimit ? { selfTestLimit: o.selfTestLimit } : {}),
    });
    const recipients = new Map(o.custodians.map((c, i) => [i + 1, c.recipient ?? '']));
    const manifest = signManifest(shares, new Map([...recipients].filter(([, r]) => r)), now.toISOString());
    const fp = manifestKeyFingerprint(manifest.publicKey);
    mkdirSync(o.outDir, { recursive: true, mode: 0o700 });
    const manifestFile = join(o.outDir, 'manifest.json');
    const planned = shares.map((s) => {
      const base = shareFileName(s);
      const r = recipients.get(s.index);
      return { s, r, share: join(o.outDir, base + (r ? '.share.age' : '.share')), sheet: join(o.outDir, base + '.html') };
    });
    for (const p of [manifestFile, ...planned.flatMap((x) => [x.share, x.sheet])]) {
      if (exists(p)) throw new VaultError('exists', `${p} already exists; refusing to overwrite shares`, 'choose an empty --out folder');
    }
    const files: SplitResult['files'] = [];
    for (const { s, r, share, sheet } of planned) {
      const text = formatShareFile(s, fp);
      const data = r ? armor(encrypt(Buffer.from(text), { recipients: [parseRecipient(r)] })) : text;
      writeFileAtomic(share, data, { exclusive: true });
      const fileName = share.slice(o.outDir.length + 1);
      writeFileAtomic(sheet, renderSheet({ share: s, manifestKey: fp, createdAt: now.toISOString(), fileName, ...(r ? { encryptedTo: r } : {}) }), { exclusive: true });
      files.push({ custodian: s.label, share, sheet });
    }
    writeFileAtomic(manifestFile, JSON.stringify(manifest, null, 2) + '\n', { exclusive: true });
    const state: EscrowState = {
      setId: shares[0]!.setId,
      epoch,
      threshold: o.threshold,
      count: shares.length,
      keyId: key.keyId,
      createdAt: now.toISOString(),
      custodians: o.custodians.map((c, i) => ({ ...c, index: i + 1 })),
      manifest,
    };
    if (esc.current) {
      const { manifest: _m, ...prev } = esc.current;
      esc.history.push(prev);
    }
    esc.epoch = epoch;
    esc.current = state;
    await appendEvidence(paths.vaultFile, doc, o.event ?? 'escrow.split', {
      setId: state.setId,
      epoch,
      threshold: state.threshold,
      count: state.count,
      keyId: state.keyId,
      custodians: state.custodians.map((c) => ({ index: c.index, label: c.label, encryptedTo: c.recipient ? keyIdOf(c.recipient) : null })),
      manifestKey: fp,
      selfTested,
    }, now);
    return { state, files, manifestFile, selfTested, subsets, shares };
  });
}

/** Recovers the vault key from shares and writes it as a key file (0600), never over an existing one unless forced. */
export async function recoverKeyFile(shares: Share[], out: string, o: { force?: boolean; now?: Date } = {}): Promise<{ key: VaultKey; bad: Share[]; used: Share[] }> {
  if (!o.force && exists(out)) throw new VaultError('exists', `${out} already exists; refusing to overwrite it`, 'pass --force to replace it, or choose another --out');
  const { secret, bad, used } = await combineShares(shares, idOfSecret);
  const key = keyFromScalar(secret, (o.now ?? new Date()).toISOString());
  writeFileAtomic(out, formatKeyFile(key), { exclusive: !o.force });
  return { key, bad, used };
}

/** Marks custodians as having confirmed receipt, and records the ceremony transcript. */
export async function recordCeremony(paths: VaultPaths, opts: StoreOptions, setId: string, confirmed: { label: string; group: number }[], officer: string, now = new Date()): Promise<void> {
  await updateVault(paths, opts, async (doc) => {
    const esc = escrowOf(doc);
    if (esc.current?.setId !== setId) throw new VaultError('usage', `share set ${setId} is not the current one`);
    for (const c of esc.current.custodians) if (confirmed.some((x) => x.label === c.label)) c.receiptConfirmedAt = now.toISOString();
    await appendEvidence(paths.vaultFile, doc, 'escrow.ceremony', {
      setId,
      epoch: esc.current.epoch,
      officer,
      custodians: esc.current.custodians.map((c) => ({ label: c.label, receiptConfirmed: confirmed.some((x) => x.label === c.label), groupTypedBack: confirmed.find((x) => x.label === c.label)?.group ?? null })),
    }, now);
  });
}
