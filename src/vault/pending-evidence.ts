import { VaultError } from '../errors/errors.js';
import { removeQuietly, sweepTempFiles, writeFileAtomic } from '../fs/atomic.js';
import { exists } from '../fs/dirs.js';
import { LIMITS, readFileCapped } from '../fs/read.js';
import type { VaultDocument } from './document.js';
import { recordEvidence } from './evidence.js';
import { isRecord } from './shape.js';

/**
 * Evidence that waits for a vault. A command that reveals key material where
 * no vault can record it (a key rebuilt from shares on a fresh machine, or a
 * key that does not open the vault there) writes its record beside the key
 * file it wrote: `<key file>.evidence-pending.jsonl`, one JSON record a line.
 * The next write of a vault with that key file stages each record in the
 * vault's evidence log, marked `deferred` (when and where it was written), and
 * removes the file once the vault is written. The file holds no secret; until
 * it is carried into a log, nothing authenticates it.
 */
export const pendingEvidencePath = (keyFile: string) => keyFile + '.evidence-pending.jsonl';

export interface PendingRecord {
  event: string;
  at: string;
  data: Record<string, unknown>;
}

const EVENT = /^[a-z][a-z0-9.-]{0,63}$/;

function parseLine(line: string, file: string, n: number): PendingRecord {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new VaultError('integrity', `${file} line ${n} is not JSON`);
  }
  if (!isRecord(v) || typeof v.event !== 'string' || !EVENT.test(v.event) || typeof v.at !== 'string' || !isRecord(v.data))
    throw new VaultError('integrity', `${file} line ${n} is not a pending evidence record (event, at, data)`);
  return { event: v.event, at: v.at, data: v.data };
}

/** The records waiting beside `keyFile` (none when there is no file). */
export function readPendingEvidence(keyFile: string): PendingRecord[] {
  const file = pendingEvidencePath(keyFile);
  if (!exists(file)) return [];
  const text = readFileCapped(file, 'the pending evidence', LIMITS.text).toString('utf8');
  return text
    .split('\n')
    .map((l, i) => [l, i + 1] as const)
    .filter(([l]) => l.trim())
    .map(([l, n]) => parseLine(l, file, n));
}

/**
 * Adds a record beside `keyFile` (the file is rewritten atomically, mode
 * 0600). Returns what takes it back, for a command whose write then fails.
 */
export function addPendingEvidence(keyFile: string, rec: PendingRecord): () => void {
  const file = pendingEvidencePath(keyFile);
  sweepTempFiles(file);
  const before = exists(file) ? readFileCapped(file, 'the pending evidence', LIMITS.text).toString('utf8') : null;
  const base = before === null ? '' : before.endsWith('\n') || !before ? before : before + '\n';
  writeFileAtomic(file, base + JSON.stringify(rec) + '\n');
  return () => {
    if (before === null) removeQuietly(file);
    else writeFileAtomic(file, before);
  };
}

/**
 * Stages the records waiting beside `keyFile` into `doc` (inside a vault
 * update that writes): those of a key this vault knows (its key, a pending
 * or retired one), or that name no key. Returns what to run once the vault
 * is written (removes the file, or keeps only the records of other keys),
 * or undefined when nothing is carried. A file that cannot be read is left
 * in place and named in a warning: it never stops the write.
 */
export function stagePendingEvidence(keyFile: string, doc: VaultDocument, now: Date, warn?: (m: string) => void): (() => void) | undefined {
  let records: PendingRecord[];
  try {
    records = readPendingEvidence(keyFile);
  } catch (e) {
    warn?.(`${(e as Error).message}: its records were not carried into the evidence log; the file is left as it is`);
    return undefined;
  }
  const known = new Set([doc.key.keyId, doc.pendingKey?.keyId, ...(doc.retiredKeys ?? []).map((k) => k.keyId)]);
  const ours = (r: PendingRecord) => typeof r.data.keyId !== 'string' || known.has(r.data.keyId);
  const carry = records.filter(ours);
  const keep = records.filter((r) => !ours(r));
  const file = pendingEvidencePath(keyFile);
  if (keep.length)
    warn?.(
      `${file}: ${keep.length} record${keep.length === 1 ? ' is' : 's are'} of a key this vault does not know (key id ${[...new Set(keep.map((r) => String(r.data.keyId)))].join(', ')}): left in the file`,
    );
  if (!carry.length) return undefined;
  for (const r of carry) recordEvidence(doc, r.event, { ...r.data, deferred: { at: r.at, file } }, now);
  return () => {
    if (keep.length) writeFileAtomic(file, keep.map((r) => JSON.stringify(r) + '\n').join(''));
    else removeQuietly(file);
  };
}
