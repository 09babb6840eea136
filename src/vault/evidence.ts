import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, copyFileSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { VaultError } from './errors.js';
import { fsError } from './fs/errors.js';
import { fsyncDir, writeFileAtomic } from './fs/atomic.js';
import { LIMITS, readFileCapped } from './fs/read.js';
import type { VaultDocument } from './document.js';
import { dirname } from 'node:path';

/**
 * The evidence log kept next to the vault (<vault>.evidence.jsonl): one JSON
 * record a line, append-only. Each record holds the SHA-256 of the previous
 * line and an HMAC-SHA-256 under the vault's evidence key (32 random bytes
 * kept inside the encrypted vault), so removed, reordered or edited records
 * are detected. The vault is the commit point: a record is staged into the
 * vault payload (the head: newest seq and line hash, and the lines of the
 * last update), the vault is written, then the lines are appended. An append
 * first checks the log against that head and refuses to extend a log that
 * does not match it, or lacks records the vault holds (cut, or a crash
 * between the vault write and the append): `evidence repair` writes those
 * back and records that it did. Records never hold secret values.
 */
export interface EvidenceRecord {
  seq: number;
  at: string;
  event: string;
  vaultId: string;
  data: Record<string, unknown>;
  prev: string;
  mac: string;
}

interface EvidenceHead {
  key: string;
  seq: number;
  hash: string;
  /** The newest lines, as written: those the log may not hold yet (a crash between the vault write and the append). */
  tail?: string[];
}

export const evidencePath = (vaultFile: string) => vaultFile + '.evidence.jsonl';
const GENESIS = '0'.repeat(64);
const HEX64 = /^[0-9a-f]{64}$/;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

type EvidenceDoc = VaultDocument & { evidence?: EvidenceHead };

function headOf(doc: VaultDocument): EvidenceHead | undefined {
  return (doc as EvidenceDoc).evidence;
}

function macOf(key: Buffer, rec: Omit<EvidenceRecord, 'mac'>): string {
  return createHmac('sha256', key).update(JSON.stringify(rec)).digest('hex');
}

/** Lines staged by the update in progress, per document (not persisted until the vault is written). */
const staged = new WeakMap<VaultDocument, string[]>();

/**
 * Stages one record in the document; updateVault writes it to the log after
 * the vault (see appendStaged). Call it only inside updateVault.
 */
export function recordEvidence(doc: VaultDocument, event: string, data: Record<string, unknown>, now: Date): EvidenceRecord {
  const d = doc as EvidenceDoc;
  d.evidence ??= { key: randomBytes(32).toString('base64'), seq: 0, hash: GENESIS };
  const h = d.evidence;
  const body = { seq: h.seq + 1, at: now.toISOString(), event, vaultId: doc.vaultId, data, prev: h.hash };
  const rec: EvidenceRecord = { ...body, mac: macOf(Buffer.from(h.key, 'base64'), body) };
  const line = JSON.stringify(rec);
  h.seq = rec.seq;
  h.hash = sha256(line);
  staged.set(doc, [...(staged.get(doc) ?? []), line]);
  return rec;
}

/** The head as it was before this update staged anything (updateVault takes it before the mutation). */
export function evidenceHead(doc: VaultDocument): { seq: number; hash: string; tail: string[] } {
  const h = headOf(doc);
  return { seq: h?.seq ?? 0, hash: h?.hash ?? GENESIS, tail: [...(h?.tail ?? [])] };
}

interface LogFile {
  lines: string[];
  /** A last line without its newline (an append cut short). */
  partial: string | null;
}

function readLog(path: string): LogFile {
  let text: string;
  try {
    text = readFileCapped(path, 'evidence log', LIMITS.evidenceLog).toString('utf8');
  } catch (e) {
    if (e instanceof VaultError && e.kind === 'not-found') return { lines: [], partial: null };
    throw e;
  }
  const parts = text.split('\n');
  const last = parts.pop()!;
  return { lines: parts, partial: last === '' ? null : last };
}

const prevOf = (line: string): string => {
  try {
    const p = (JSON.parse(line) as { prev?: unknown }).prev;
    return typeof p === 'string' ? p : '';
  } catch {
    return '';
  }
};

export type LogState =
  | { kind: 'consistent'; missing: string[]; dropPartial: boolean }
  | { kind: 'ahead'; records: number };

/**
 * Compares the log with the head a vault copy recorded. `ahead`: the log
 * holds records past the head (the vault copy is older than the log, or the
 * log belongs to another copy). Anything else that does not match throws.
 */
export function compareLog(log: LogFile, head: { seq: number; hash: string; tail: string[] }): LogState {
  const { lines } = log;
  const S = head.seq;
  const T = head.tail;
  const base = S - T.length;
  const blank = lines.findIndex((l) => l.trim() === '');
  if (blank >= 0) throw new VaultError('integrity', `evidence log line ${blank + 1} is blank: the log was edited`);
  if (lines.length > S) return { kind: 'ahead', records: lines.length };
  if (lines.length < base) {
    throw new VaultError('integrity', `the evidence log has ${lines.length} records, the vault recorded ${S}: records were removed from the end`);
  }
  for (let i = base; i < lines.length; i++) {
    if (lines[i] !== T[i - base]) throw new VaultError('integrity', `evidence record ${i + 1} is not the one the vault recorded: the log was edited`);
  }
  if (lines.length === S) {
    if (S > 0 && sha256(lines[S - 1]!) !== head.hash) throw new VaultError('integrity', `evidence record ${S} is not the one the vault recorded: the log was edited`);
  } else {
    const want = prevOf(T[lines.length - base]!);
    const have = lines.length ? sha256(lines[lines.length - 1]!) : GENESIS;
    if (want !== have) throw new VaultError('integrity', `evidence record ${lines.length} is not the one the vault recorded: the log was edited`);
  }
  let dropPartial = false;
  if (log.partial !== null) {
    const next = T[lines.length - base];
    if (lines.length < S && next?.startsWith(log.partial)) dropPartial = true;
    else throw new VaultError('integrity', `the evidence log ends in a partial record after record ${lines.length}: the log was cut or edited`);
  }
  return { kind: 'consistent', missing: T.slice(lines.length - base), dropPartial };
}

export interface PreparedAppend {
  path: string;
  append: string[];
  dropPartial: boolean;
}

/**
 * Checks the log before the vault is written: it must match the head the
 * vault recorded, or be missing lines the vault holds (written afterwards).
 * A log ahead of the vault copy is refused; with `allowRollback` (the user
 * chose to go on from an older copy) it is kept aside whole and continued
 * from the records this copy knows.
 */
export function prepareAppend(vaultFile: string, doc: VaultDocument, before: { seq: number; hash: string; tail: string[] }, opts: { allowRollback?: boolean; now: Date }): PreparedAppend | null {
  const lines = staged.get(doc);
  staged.delete(doc);
  if (!lines?.length) return null;
  const path = evidencePath(vaultFile);
  const log = readLog(path);
  let state = compareLog(log, before);
  if (state.kind === 'ahead') {
    const msg = `the evidence log has ${state.records} records, but this vault copy recorded ${before.seq}: the vault is older than its log (a restored copy?)`;
    if (!opts.allowRollback) throw new VaultError('rollback', msg, { code: 'evidence-ahead' });
    if (before.seq > 0 && sha256(log.lines[before.seq - 1]!) !== before.hash) throw new VaultError('integrity', `${msg}, and its record ${before.seq} is not the one this copy recorded`);
    const aside = `${path}.rolled-back-${opts.now.toISOString().replace(/[:.]/g, '-')}`;
    try {
      copyFileSync(path, aside, constants.COPYFILE_EXCL);
    } catch (e) {
      throw fsError(e, 'keep the evidence log aside as', aside);
    }
    const kept = log.lines.slice(0, before.seq);
    writeFileAtomic(path, kept.map((l) => l + '\n').join(''));
    state = compareLog({ lines: kept, partial: null }, before);
    if (state.kind !== 'consistent') throw new VaultError('internal', 'evidence log still ahead after trimming');
  }
  // The vault records every line not yet known to be in the log, so a crash before the append loses none.
  if (state.missing.length || state.dropPartial) throw lacking(before.seq, state.missing.length);
  (doc as EvidenceDoc).evidence!.tail = lines;
  return { path, append: lines, dropPartial: false };
}

function lacking(seq: number, missing: number): VaultError {
  const which = missing === 1 ? `record ${seq}` : missing > 1 ? `records ${seq - missing + 1} to ${seq}` : `a whole record after record ${seq}`;
  return new VaultError('integrity', `the evidence log lacks ${which}, which the vault holds: the log was cut, or a write was interrupted`, { code: 'evidence-lacking' });
}

/**
 * Writes back the records the vault holds and the log lacks (a cut log, or a
 * crash between the vault write and the append), dropping a partial last
 * line. Returns the sequence numbers restored. Call it under the vault lock,
 * then record the repair.
 */
export function restoreMissing(vaultFile: string, doc: VaultDocument): { restored: number[]; droppedPartial: boolean } {
  const head = headOf(doc);
  if (!head) return { restored: [], droppedPartial: false };
  const path = evidencePath(vaultFile);
  const state = compareLog(readLog(path), { seq: head.seq, hash: head.hash, tail: head.tail ?? [] });
  if (state.kind === 'ahead') throw new VaultError('rollback', `the evidence log has ${state.records} records, but this vault copy recorded ${head.seq}: the vault is older than its log (a restored copy?)`, 'use the newest copy of the vault');
  if (!state.missing.length && !state.dropPartial) return { restored: [], droppedPartial: false };
  appendPrepared({ path, append: state.missing, dropPartial: state.dropPartial });
  return { restored: state.missing.map((_, i) => head.seq - state.missing.length + i + 1), droppedPartial: state.dropPartial };
}

/** After the vault is written: appends the lines (and drops a partial line an earlier crash left). */
export function appendPrepared(p: PreparedAppend): void {
  let fd: number;
  try {
    fd = openSync(p.path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, 0o600);
  } catch (e) {
    throw fsError(e, 'append to the evidence log', p.path);
  }
  try {
    if (p.dropPartial) {
      const text = readFileCapped(p.path, 'evidence log', LIMITS.evidenceLog);
      ftruncateSync(fd, text.lastIndexOf(0x0a) + 1);
    }
    writeSync(fd, p.append.map((l) => l + '\n').join(''));
    fsyncSync(fd);
  } catch (e) {
    throw fsError(e, 'append to the evidence log', p.path);
  } finally {
    closeSync(fd);
  }
  fsyncDir(dirname(p.path));
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function parseRecord(line: string, n: number): EvidenceRecord {
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    throw new VaultError('integrity', `evidence record ${n} is not valid JSON`);
  }
  if (!isRecord(rec) || !Number.isSafeInteger(rec.seq) || typeof rec.at !== 'string' || typeof rec.event !== 'string' || typeof rec.vaultId !== 'string' || !isRecord(rec.data) || typeof rec.prev !== 'string') {
    throw new VaultError('integrity', `evidence record ${n} is malformed (not a vault-tool evidence record)`);
  }
  if (typeof rec.mac !== 'string' || !HEX64.test(rec.mac)) throw new VaultError('integrity', `evidence record ${n} has a malformed MAC: it was edited`);
  return rec as unknown as EvidenceRecord;
}

export interface EvidenceReport {
  records: EvidenceRecord[];
}

/**
 * Verifies the log: no blank lines, each record well-formed, in sequence,
 * chained to the one before and MACed with the vault's key (the first bad
 * record is named); then against the head the vault recorded (nothing cut,
 * nothing beyond it).
 */
export function verifyEvidence(vaultFile: string, doc: VaultDocument): EvidenceReport {
  const head = headOf(doc);
  const log = readLog(evidencePath(vaultFile));
  if (!head) {
    if (log.lines.length || log.partial !== null) throw new VaultError('integrity', 'the evidence log has records but this vault copy never wrote any (an older copy, or the log of another vault)');
    return { records: [] };
  }
  const blank = log.lines.findIndex((l) => l.trim() === '');
  if (blank >= 0) throw new VaultError('integrity', `evidence log line ${blank + 1} is blank: the log was edited`);
  const key = Buffer.from(head.key, 'base64');
  let prev = GENESIS;
  const records = log.lines.map((line, i) => {
    const rec = parseRecord(line, i + 1);
    const { mac, ...body } = rec;
    if (rec.seq !== i + 1) throw new VaultError('integrity', `evidence record ${i + 1} has sequence ${rec.seq}: records were removed or reordered`);
    if (rec.prev !== prev) throw new VaultError('integrity', `evidence record ${i + 1} does not follow record ${i}: records were removed, reordered or edited`);
    if (!timingSafeEqual(Buffer.from(macOf(key, body), 'hex'), Buffer.from(mac, 'hex'))) throw new VaultError('integrity', `evidence record ${i + 1} fails its MAC: it was edited`);
    prev = sha256(line);
    return rec;
  });
  const state = compareLog(log, { seq: head.seq, hash: head.hash, tail: head.tail ?? [] });
  if (state.kind === 'ahead') {
    throw new VaultError('rollback', `the evidence log has ${state.records} records, but this vault copy recorded ${head.seq}: the vault is older than its log (a restored copy?)`, 'verify with the newest copy of the vault');
  }
  if (state.missing.length || state.dropPartial) throw lacking(head.seq, state.missing.length);
  return { records };
}
