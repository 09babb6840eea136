import { linkSync, renameSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { encrypt, armor, parseRecipient } from '../age/index.js';
import { formatKeyFile, isProtectedKeyFile, keyIdOf, keyScalar, newKeyPath, type VaultKey } from '../vault/keyfile.js';
import { clampScalar } from '../age/x25519.js';
import { exists, firstNonFolder, makeDir, makeDirs } from '../fs/dirs.js';
import { fsError } from '../fs/errors.js';
import { fsyncDir, removeQuietly, sweepTempFiles, writeFileAtomic } from '../fs/atomic.js';
import { LIMITS, readFileCapped } from '../fs/read.js';
import { changed, loadKey, readVault, readVaultFile, updateVault, type StoreOptions, type VaultPaths } from '../vault/store.js';
import { peekVault } from '../vault/container.js';
import { abortRekey, confirmRekey, startRekey, type RekeyConfirmed } from '../vault/rekey.js';
import { recordEvidence } from '../vault/evidence.js';
import { editSection, readSection, type EscrowSection, type ShareSetRecord, type VaultDocument } from '../vault/document.js';
import { shredPath, writeStagingMarker } from '../vault/staging.js';
import { custodianName, personKey, type Share } from './envelope.js';
import { manifestKeyFingerprint, parseManifest, signManifest, type Manifest } from './manifest.js';
import { splitSecret } from './shares.js';
import { formatShareFile, shareFileName } from './files.js';
import { renderSheet } from './sheet.js';
import { idOfSecret, recoveredKey } from './recover.js';

export {
  idOfSecret,
  keyIdOfFile,
  recoveredKey,
  recoverKeyFile,
  type CombineEvidence,
  type RecoverOptions,
  type RecoverResult,
} from './recover.js';

export interface Custodian {
  label: string;
  recipient?: string;
}

/** The current share set as a split records it in the vault (the `escrow` section, vault/document-shape.ts). */
export interface EscrowState extends ShareSetRecord {
  manifest: Manifest;
}

/** The escrow section with its manifest typed: the vault keeps the manifest as this module wrote it. */
export type EscrowRecord = Omit<EscrowSection, 'current'> & { current?: EscrowState };

/** The vault's escrow section, for reading: never writes to the document (a vault never split reads as epoch 0). */
export function escrowOf(doc: VaultDocument): Readonly<EscrowRecord> {
  return readSection(doc, 'escrow') as EscrowRecord;
}

/** A custodian with its name as a split records it (custodianName: NFC). */
const named = (c: Custodian): Custodian => ({ ...c, label: custodianName(c.label) });

/** "alice" or "alice=age1…"; names must be distinct. */
export function parseCustodian(spec: string): Custodian {
  const i = spec.indexOf('=');
  if (i < 0) return { label: custodianName(spec) };
  const recipient = spec.slice(i + 1);
  const label = custodianName(spec.slice(0, i));
  try {
    parseRecipient(recipient);
  } catch (e) {
    const err = e as VaultError;
    throw new VaultError(err.kind, `custodian ${label}: ${err.message}`, err.hint);
  }
  return { label, recipient };
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
  /** Whether a key file rebuilt from these shares is the split key file byte for byte (false: not as vault-tool writes it). */
  keyFileExact: boolean;
}

/**
 * Whether the key file a share rebuilds (recoveredKey) is the file that was
 * split, byte for byte. A protected file is compared by what it protects,
 * which the scrypt salt makes differ anyway: only its plaintext can match.
 */
function rebuildsExactly(s: Share, key: VaultKey, keyFile: string | undefined): boolean {
  if (!s.keyCreatedAt) return false;
  const rebuilt = formatKeyFile(recoveredKey(clampScalar(keyScalar(key)), s.keyCreatedAt, new Date()));
  if (rebuilt !== formatKeyFile(key)) return false;
  if (!keyFile || !exists(keyFile)) return true;
  const data = readFileCapped(keyFile, 'key file', LIMITS.keyFile);
  return isProtectedKeyFile(data) || Buffer.from(rebuilt).equals(data);
}

/** The files a split writes, named from the custodians alone (so they can be checked before anything happens). */
function plannedFiles(outDir: string, custodians: Custodian[]): { share: string; sheet: string }[] {
  return custodians.map((c, i) => {
    const base = shareFileName({ index: i + 1, label: c.label } as Share);
    return { share: join(outDir, base + (c.recipient ? '.share.age' : '.share')), sheet: join(outDir, base + '.html') };
  });
}

/**
 * One share a custodian: two names that differ only in case, spacing,
 * punctuation or the form of their letters (alice, Alice; Jürgen with a
 * combined ü or a combining diaeresis; ａｌｉｃｅ in full-width letters) are one person to the people who read them
 * (and one share file name), and two shares encrypted to one recipient go
 * to one person; either would let that person recover the key with fewer
 * others than the threshold.
 */
export function checkCustodians(given: Custodian[]): void {
  const custodians = given.map(named);
  const seen = new Map<string, string>();
  for (const c of custodians) {
    const k = personKey(c.label);
    const before = seen.get(k);
    if (before !== undefined)
      throw new VaultError(
        'usage',
        before === c.label
          ? `custodian names must be distinct: ${JSON.stringify(c.label)} is given twice`
          : `custodian names must be distinct: ${JSON.stringify(before)} and ${JSON.stringify(c.label)} differ only in case, spacing, punctuation or the form of their letters`,
        'name each custodian once: one person with two shares needs fewer others than the threshold to recover the key',
      );
    seen.set(k, c.label);
  }
  const to = new Map<string, string>();
  for (const c of custodians) {
    if (!c.recipient) continue;
    const before = to.get(c.recipient);
    if (before !== undefined)
      throw new VaultError(
        'usage',
        `custodians ${JSON.stringify(before)} and ${JSON.stringify(c.label)} have the same recipient: both shares would open with one identity`,
        'give each custodian their own age recipient (age-keygen -y on their key file)',
      );
    to.set(c.recipient, c.label);
  }
}

/**
 * Before the first write: the output folder is a folder (or can be made) and
 * holds none of the files a split writes. A complete split there (with its
 * manifest) is never removed or overwritten here: only a run that can prove
 * it staged those files (its staging marker, see vault/staging.ts) removes
 * them, and that sweep runs before this check whenever the vault is opened.
 */
export function checkSplitOutput(outDir: string, custodians: Custodian[], doc?: VaultDocument): void {
  checkCustodians(custodians);
  let st;
  try {
    st = statSync(outDir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new VaultError('usage', `share folder ${outDir}: ${firstNonFolder(outDir)} is not a folder`);
    if (code !== 'ENOENT') throw fsError(e, 'use', outDir);
    return;
  }
  if (!st.isDirectory()) throw new VaultError('usage', `share folder ${outDir} is not a folder`);
  const manifest = join(outDir, 'manifest.json');
  if (exists(manifest)) {
    // Without the vault, a folder with a manifest is judged later, under the lock.
    if (!doc) return;
    const set = manifestSetOf(manifest);
    if (set && !recordedSetIds(doc).has(set)) {
      throw new VaultError(
        'exists',
        `${outDir} holds a share set (set id ${set}) this vault never recorded, and no interrupted run on this machine is known to have written it: refusing to remove or overwrite it`,
        'someone may hold those shares: move the folder away (or remove it if you know nobody received them), or choose an empty folder',
      );
    }
  }
  for (const p of [manifest, ...plannedFiles(outDir, custodians).flatMap((x) => [x.share, x.sheet])]) {
    if (exists(p)) {
      const orphan = !exists(manifest);
      throw new VaultError(
        'exists',
        `${p} already exists; refusing to overwrite shares`,
        orphan
          ? "there is no manifest.json beside it: a split interrupted while placing its files left it; remove that split's share files and sheets, or choose an empty folder"
          : { code: 'split-exists' },
      );
    }
  }
}

function manifestSetOf(path: string): string | null {
  try {
    return parseManifest(readFileCapped(path, 'the manifest', LIMITS.text).toString('utf8'), path).setId;
  } catch {
    return null;
  }
}

function recordedSetIds(doc: VaultDocument): Set<string> {
  const esc = escrowOf(doc);
  return new Set([esc.current?.setId, ...esc.history.map((h) => h.setId)].filter((x): x is string => Boolean(x)));
}

/**
 * Where a split writes before its files are placed: into a new --out folder,
 * a sibling temp folder renamed into place in one step (all files or none);
 * into an existing one, a temp folder inside it whose files are linked into
 * place, the manifest last. Temp folders of killed runs are swept.
 */
function openStage(outDir: string, before: (s: { stage: string; fresh: boolean }) => void): { stage: string; fresh: boolean } {
  const fresh = !exists(outDir);
  if (fresh) makeDirs(dirname(outDir));
  sweepTempFiles(fresh ? outDir : join(outDir, 'split'));
  const stage = fresh
    ? join(dirname(outDir), `.${basename(outDir)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
    : join(outDir, `.split.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  before({ stage, fresh });
  try {
    makeDir(stage);
  } catch (e) {
    throw new VaultError((e as VaultError).kind, (e as VaultError).message.replace(stage, fresh ? outDir : stage));
  }
  return { stage, fresh };
}

function placeStaged(stage: string, fresh: boolean, outDir: string, names: string[], placed: string[]): void {
  if (fresh) {
    try {
      renameSync(stage, outDir);
    } catch (e) {
      throw fsError(e, 'place the shares in', outDir);
    }
    placed.push(outDir);
    fsyncDir(dirname(outDir));
    return;
  }
  for (const n of names) {
    try {
      linkSync(join(stage, n), join(outDir, n));
    } catch (e) {
      throw fsError(e, 'place', join(outDir, n));
    }
    placed.push(join(outDir, n));
  }
  fsyncDir(outDir);
  removeQuietly(stage);
}

/**
 * Splits the vault key K-of-N, self-tests every K-subset (or a sample),
 * writes one share file and one sheet per custodian plus the signed
 * manifest, and records the set in the vault and its evidence log. The files
 * are written into a temp folder and placed only once all are written (see
 * openStage); if anything fails before the vault is written, whatever was
 * placed is removed, so a failed split leaves no shares behind.
 */
export async function splitVaultKey(paths: VaultPaths, opts: StoreOptions, given: SplitOptions): Promise<SplitResult> {
  const o = { ...given, custodians: given.custodians.map(named) };
  const now = o.now ?? new Date();
  checkSplitOutput(o.outDir, o.custodians);
  const placed: string[] = [];
  let stage: string | undefined;
  let unmark: (() => void) | undefined;
  try {
    const r = await updateVault(paths, opts, async (doc, vaultKey) => {
      const key: VaultKey = o.keyFile ? await loadKey(o.keyFile, opts) : vaultKey;
      const known = [doc.key.keyId, doc.pendingKey?.keyId];
      if (!known.includes(key.keyId)) throw new VaultError('wrong-key', `key id ${key.keyId} is not a key of this vault`);
      checkSplitOutput(o.outDir, o.custodians, doc);
      const esc = editSection(doc, 'escrow');
      const epoch = esc.epoch + 1;
      const { shares, selfTested, subsets } = await splitSecret({
        secret: clampScalar(keyScalar(key)),
        keyId: key.keyId,
        threshold: o.threshold,
        labels: o.custodians.map((c) => c.label),
        epoch,
        ...(key.createdAt ? { keyCreatedAt: key.createdAt } : {}),
        keyIdOf: idOfSecret,
        ...(o.selfTestLimit ? { selfTestLimit: o.selfTestLimit } : {}),
      });
      const recipients = new Map(o.custodians.map((c, i) => [i + 1, c.recipient ?? '']));
      const manifest = signManifest(shares, new Map([...recipients].filter(([, r]) => r)), now.toISOString());
      const fp = manifestKeyFingerprint(manifest.publicKey);
      const planned = plannedFiles(o.outDir, o.custodians);
      const staged = openStage(o.outDir, (st) => {
        // Said before a share is written: a run killed from here on leaves shares in plain text that the next run must find.
        if (!opts.stateFile) return;
        unmark = writeStagingMarker(opts.stateFile, {
          vaultId: doc.vaultId,
          generation: doc.generation,
          stage: st.stage,
          outDir: o.outDir,
          fresh: st.fresh,
          files: [...planned.flatMap((f) => [f.share, f.sheet]), join(o.outDir, 'manifest.json')],
          setId: shares[0]!.setId,
          createdAt: now.toISOString(),
        });
      });
      stage = staged.stage;
      const files: SplitResult['files'] = [];
      const names: string[] = [];
      const stageWrite = (final: string, data: string | Uint8Array) => {
        const name = final.slice(o.outDir.length + 1);
        writeFileAtomic(join(staged.stage, name), data, { exclusive: true });
        names.push(name);
      };
      shares.forEach((s, i) => {
        const { share, sheet } = planned[i]!;
        const r = recipients.get(s.index);
        const text = formatShareFile(s, fp);
        stageWrite(share, r ? armor(encrypt(Buffer.from(text), { recipients: [parseRecipient(r)] })) : text);
        const fileName = share.slice(o.outDir.length + 1);
        stageWrite(sheet, renderSheet({ share: s, manifestKey: fp, createdAt: now.toISOString(), fileName, ...(r ? { encryptedTo: r } : {}) }));
        files.push({ custodian: s.label, share, sheet });
      });
      const manifestFile = join(o.outDir, 'manifest.json');
      stageWrite(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
      // Everything is written: place it (the manifest last).
      placeStaged(staged.stage, staged.fresh, o.outDir, names, placed);
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
      recordEvidence(
        doc,
        o.event ?? 'escrow.split',
        {
          setId: state.setId,
          epoch,
          threshold: state.threshold,
          count: state.count,
          keyId: state.keyId,
          custodians: state.custodians.map((c) => ({ index: c.index, label: c.label, encryptedTo: c.recipient ? keyIdOf(c.recipient) : null })),
          manifestKey: fp,
          selfTested,
        },
        now,
      );
      const keyFileExact = rebuildsExactly(shares[0]!, key, o.keyFile ?? (opts.key ? undefined : paths.keyFile));
      return changed({ state, files, manifestFile, selfTested, subsets, shares, keyFileExact });
    });
    unmark?.();
    return r;
  } catch (e) {
    // The vault was not written: take back every file this split placed.
    for (const f of placed) shredPath(f);
    if (stage) shredPath(stage);
    unmark?.();
    throw e;
  }
}

export type ReshareRekeyResult = { stage: 'done'; split: SplitResult; rekey: RekeyConfirmed } | { stage: 'resumed-confirm'; rekey: RekeyConfirmed };

/**
 * A new share set of a new vault key: start a rekey, split the new key,
 * confirm. Everything that can be checked is checked before the rekey
 * starts; a split that fails rolls the rekey back. Run again after a kill,
 * it goes on from where it stopped: a pending rekey whose key is not split
 * yet is split, one already split is confirmed, a confirm cut short is
 * finished.
 */
export async function reshareWithRekey(paths: VaultPaths, opts: StoreOptions, o: Omit<SplitOptions, 'keyFile'>): Promise<ReshareRekeyResult> {
  const meta = peekVault(readVaultFile(paths.vaultFile));
  const currentKeyId = exists(paths.keyFile) ? (await loadKey(paths.keyFile, opts)).keyId : null;
  if (currentKeyId === null || !meta.keyIds.includes(currentKeyId)) {
    return { stage: 'resumed-confirm', rekey: await confirmRekey(paths, opts) };
  }
  const { doc } = await readVault(paths, opts);
  if (doc.pendingKey && escrowOf(doc).current?.keyId === doc.pendingKey.keyId) {
    return { stage: 'resumed-confirm', rekey: await confirmRekey(paths, opts) };
  }
  checkSplitOutput(o.outDir, o.custodians, doc);
  const started = !doc.pendingKey;
  if (started) await startRekey(paths, opts);
  let split: SplitResult;
  try {
    split = await splitVaultKey(paths, opts, { ...o, keyFile: newKeyPath(paths.keyFile) });
  } catch (e) {
    if (!started) throw e;
    const err = e as VaultError;
    try {
      await abortRekey(paths, opts);
    } catch {
      throw new VaultError(err.kind ?? 'internal', `${err.message}; the new key is still pending`, { code: 'reshare-still-pending' });
    }
    // Keep the cause's code: the hint that says what to do next depends on it.
    throw new VaultError(err.kind ?? 'internal', `${err.message}; the rekey was rolled back (the vault opens with the old key only)`, {
      ...(err.hint !== undefined ? { hint: err.hint } : {}),
      ...(err.code !== undefined ? { code: err.code } : {}),
      ...(err.data !== undefined ? { data: err.data } : {}),
    });
  }
  return { stage: 'done', split, rekey: await confirmRekey(paths, opts) };
}

/** Marks custodians as having confirmed receipt, and records the ceremony transcript. */
export async function recordCeremony(
  paths: VaultPaths,
  opts: StoreOptions,
  setId: string,
  confirmed: { label: string; group: number }[],
  officer: string,
  now = new Date(),
): Promise<void> {
  await updateVault(paths, opts, (doc) => {
    const esc = editSection(doc, 'escrow');
    if (esc.current?.setId !== setId) throw new VaultError('usage', `share set ${setId} is not the current one`);
    for (const c of esc.current.custodians) if (confirmed.some((x) => x.label === c.label)) c.receiptConfirmedAt = now.toISOString();
    recordEvidence(
      doc,
      'escrow.ceremony',
      {
        setId,
        epoch: esc.current.epoch,
        officer,
        custodians: esc.current.custodians.map((c) => ({
          label: c.label,
          receiptConfirmed: confirmed.some((x) => x.label === c.label),
          groupTypedBack: confirmed.find((x) => x.label === c.label)?.group ?? null,
        })),
      },
      now,
    );
    return changed(undefined);
  });
}

/** Which group of their share a custodian types back as proof of receipt (varies by share and epoch). */
export function receiptGroup(s: Share, groupCount: number): number {
  return (s.index * 7 + s.epoch) % groupCount;
}
