import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readSync,
  statSync,
  writeSync,
} from 'node:fs';
import { fileKind } from '../fs/target.js';
import { kindOfFile } from '../fs/replace.js';
import { VaultError } from '../errors/errors.js';
import { fsError } from '../fs/errors.js';
import { fsyncDir, writeFileAtomic } from '../fs/atomic.js';
import { LIMITS, readFileCapped } from '../fs/read.js';
import type { VaultDocument } from './document.js';
import { dirname } from 'node:path';
import { asideStamp } from './time.js';
import { isRecord } from './shape.js';

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

export const evidencePath = (vaultFile: string) => vaultFile + '.evidence.jsonl';
const GENESIS = '0'.repeat(64);
const HEX64 = /^[0-9a-f]{64}$/;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

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
  // The log's key is made with its first record.
  doc.evidence ??= { key: randomBytes(32).toString('base64'), seq: 0, hash: GENESIS };
  const h = doc.evidence;
  const body = { seq: h.seq + 1, at: now.toISOString(), event, vaultId: doc.vaultId, data, prev: h.hash };
  const rec: EvidenceRecord = { ...body, mac: macOf(Buffer.from(h.key, 'base64'), body) };
  const line = JSON.stringify(rec);
  h.seq = rec.seq;
  h.hash = sha256(line);
  staged.set(doc, [...(staged.get(doc) ?? []), line]);
  return rec;
}

/** The head as it was before this update staged anything (updateVault takes it before the mutation). */
export function evidenceHead(doc: VaultDocument): Head {
  const h = doc.evidence;
  return { seq: h?.seq ?? 0, hash: h?.hash ?? GENESIS, tail: [...(h?.tail ?? [])], ...(h?.key ? { key: h.key } : {}) };
}

export interface Head {
  seq: number;
  hash: string;
  tail: string[];
  /** The evidence key (base64); absent while the vault never wrote a record. */
  key?: string;
}

interface LogFile {
  lines: string[];
  /** A last line without its newline (an append cut short). */
  partial: string | null;
}

function readLog(path: string): LogFile {
  let text: string;
  try {
    // Appending to a device (a log linked to /dev/null) would lose every record: only a regular file is a log.
    const st = statSync(path);
    if (!st.isFile() && !st.isDirectory()) throw new VaultError('usage', `evidence log ${path} is ${fileKind(st)}, not a regular file`);
  } catch (e) {
    if (e instanceof VaultError) throw e;
  }
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

/** The event that starts a new log segment after records were lost (see FORMAT.md). */
export const GAP_EVENT = 'evidence.gap';

export interface EvidenceGap {
  /** The first and last sequence numbers missing from the log. */
  from: number;
  to: number;
  /** The sequence number of the gap record itself. */
  at: number;
  recordedAt: string;
}

interface GapData {
  from: number;
  to: number;
  missing: number;
  after: string;
}

function gapData(rec: EvidenceRecord): GapData | null {
  const d = rec.data;
  if (rec.event !== GAP_EVENT || !Number.isSafeInteger(d.from) || !Number.isSafeInteger(d.to) || typeof d.after !== 'string') return null;
  return d as unknown as GapData;
}

/** What a line links to: the hash of the line before it (a gap record: of the last line kept before the gap). */
function linkOf(line: string): string {
  try {
    const r = JSON.parse(line) as EvidenceRecord;
    if (r && typeof r === 'object' && r.event === GAP_EVENT && r.data && typeof r.data.after === 'string') return r.data.after;
    return typeof r?.prev === 'string' ? r.prev : '';
  } catch {
    return '';
  }
}

interface Scan {
  records: EvidenceRecord[];
  gaps: EvidenceGap[];
  /** The sequence number and line hash of the last whole line (0 and 64 zeros for an empty log). */
  lastSeq: number;
  lastHash: string;
}

/**
 * Checks every whole line of the log: no blank lines, each a well-formed
 * record, in sequence, chained to the line before and MACed with the vault's
 * evidence key. A gap record (a new segment after records were lost) may
 * skip sequence numbers: it names the missing ones and the line it follows.
 * The first bad record is named.
 */
function scanLog(lines: string[], key: Buffer): Scan {
  const blank = lines.findIndex((l) => l.trim() === '');
  if (blank >= 0) throw new VaultError('integrity', `evidence log line ${blank + 1} is blank: the log was edited`, { code: 'evidence-damaged' });
  let prev = GENESIS;
  let next = 1;
  const gaps: EvidenceGap[] = [];
  const records = lines.map((line, i) => {
    const rec = parseRecord(line, i + 1);
    const { mac, ...body } = rec;
    const gap = gapData(rec);
    if (gap && gap.from === next && gap.to >= gap.from && rec.seq === gap.to + 1) {
      if (gap.after !== prev) throw damaged(`evidence record ${i + 1} does not follow record ${i}: records were removed, reordered or edited`);
      gaps.push({ from: gap.from, to: gap.to, at: rec.seq, recordedAt: rec.at });
    } else {
      if (rec.seq !== next) throw damaged(`evidence record ${i + 1} has sequence ${rec.seq}: records were removed or reordered`);
      if (rec.prev !== prev) throw damaged(`evidence record ${i + 1} does not follow record ${i}: records were removed, reordered or edited`);
    }
    if (!timingSafeEqual(Buffer.from(macOf(key, body), 'hex'), Buffer.from(mac, 'hex'))) throw damaged(`evidence record ${i + 1} fails its MAC: it was edited`);
    prev = sha256(line);
    next = rec.seq + 1;
    return rec;
  });
  return { records, gaps, lastSeq: next - 1, lastHash: prev };
}

const damaged = (msg: string) => new VaultError('integrity', msg, { code: 'evidence-damaged' });

export type LogState =
  | { kind: 'consistent'; missing: string[]; dropPartial: boolean; scan: Scan }
  | { kind: 'ahead'; records: number; keep: number; keepOk: boolean }
  | { kind: 'gap'; lastSeq: number; lastHash: string; dropPartial: boolean };

/**
 * Compares the log with the head a vault copy recorded, after checking the
 * whole log (chain and MACs). `ahead`: the log holds records past the head
 * (the vault copy is older than the log, or the log belongs to another
 * copy). `gap`: the log lost more than the records of the vault's last
 * update, which the vault cannot write back. Anything else that does not
 * match throws.
 */
export function compareLog(log: LogFile, head: Head): LogState {
  const { lines } = log;
  const S = head.seq;
  const T = head.tail;
  const base = S - T.length;
  if (!head.key) {
    // This copy never wrote a record: any record in the log is another copy's.
    const blank = lines.findIndex((l) => l.trim() === '');
    if (blank >= 0) throw damaged(`evidence log line ${blank + 1} is blank: the log was edited`);
    if (lines.length) return { kind: 'ahead', records: lines.length, keep: 0, keepOk: true };
    if (log.partial !== null) throw damaged('the evidence log ends in a partial record after record 0: the log was cut or edited');
    return { kind: 'consistent', missing: [], dropPartial: false, scan: { records: [], gaps: [], lastSeq: 0, lastHash: GENESIS } };
  }
  const scan = scanLog(lines, Buffer.from(head.key, 'base64'));
  const L = scan.lastSeq;
  if (L > S) {
    const keep = scan.records.filter((r) => r.seq <= S).length;
    const keepOk = keep === 0 ? S === 0 : scan.records[keep - 1]!.seq === S && sha256(lines[keep - 1]!) === head.hash;
    return { kind: 'ahead', records: L, keep, keepOk };
  }
  if (L < base) return { kind: 'gap', lastSeq: L, lastHash: scan.lastHash, dropPartial: log.partial !== null };
  for (let i = lines.length - 1; i >= 0 && scan.records[i]!.seq > base; i--) {
    if (lines[i] !== T[scan.records[i]!.seq - base - 1]) throw damaged(`evidence record ${i + 1} is not the one the vault recorded: the log was edited`);
  }
  if (L === S) {
    if (S > 0 && scan.lastHash !== head.hash) throw damaged(`evidence record ${lines.length} is not the one the vault recorded: the log was edited`);
  } else if (linkOf(T[L - base]!) !== scan.lastHash) {
    throw damaged(`evidence record ${lines.length} is not the one the vault recorded: the log was edited`);
  }
  let dropPartial = false;
  if (log.partial !== null) {
    const next = T[L - base];
    if (L < S && next?.startsWith(log.partial)) dropPartial = true;
    else throw damaged(`the evidence log ends in a partial record after record ${lines.length}: the log was cut or edited`);
  }
  return { kind: 'consistent', missing: T.slice(L - base), dropPartial, scan };
}

function gapError(lastSeq: number, seq: number): VaultError {
  return new VaultError('integrity', `the evidence log has ${lastSeq} records, the vault recorded ${seq}: records were removed from the end`, {
    code: 'evidence-gap',
  });
}

const aheadMessage = (records: number, seq: number) =>
  `the evidence log has ${records} records, but this vault copy recorded ${seq}: the vault is older than its log (a restored copy?)`;

export interface PreparedAppend {
  path: string;
  append: string[];
  dropPartial: boolean;
}

/** Documents whose update starts a new log segment (repairEvidence), with the last sequence number the log still holds. */
const newSegment = new WeakMap<VaultDocument, number>();

/** The name a log ahead of the vault copy is kept aside as, when the user goes on from the older copy. */
export function rolledBackName(vaultFile: string, now: Date): string {
  return `${evidencePath(vaultFile)}.rolled-back-${asideStamp(now)}`;
}

/** Whether the log holds records past the head this copy recorded (checked before a deliberate rollback is recorded). */
export function logAhead(vaultFile: string, before: Head): number | null {
  const state = compareLog(readLog(evidencePath(vaultFile)), before);
  return state.kind === 'ahead' ? state.records : null;
}

/**
 * Checks the log before the vault is written: it must match the head the
 * vault recorded. Its end is read first (`endMatches`); when that does not
 * settle it, the whole log (chain and MACs). A log ahead of the vault copy is
 * refused; with `allowRollback` (the user chose to go on from an older
 * copy) it is kept aside whole as `aside` and continued from the records
 * this copy knows.
 */
export function prepareAppend(
  vaultFile: string,
  doc: VaultDocument,
  before: Head,
  opts: { allowRollback?: boolean; now: Date; aside?: string },
): PreparedAppend | null {
  const lines = staged.get(doc);
  staged.delete(doc);
  if (!lines?.length) return null;
  const path = evidencePath(vaultFile);
  // Checked before the vault is written: the log is named by the tool, and never written through a link planted there.
  checkLogLink(path);
  // The common case, read from the log's end alone: it ends with the lines the vault holds, chained to the line before them.
  if (endMatches(path, before)) {
    doc.evidence!.tail = lines;
    return { path, append: lines, dropPartial: false };
  }
  const log = readLog(path);
  let state = compareLog(log, before);
  if (state.kind === 'ahead') {
    const msg = aheadMessage(state.records, before.seq);
    if (!opts.allowRollback) throw new VaultError('rollback', msg, { code: 'evidence-ahead' });
    if (!state.keepOk)
      throw new VaultError('integrity', `${msg}, and its record ${before.seq} is not the one this copy recorded`, { code: 'evidence-damaged' });
    const aside = opts.aside ?? rolledBackName(vaultFile, opts.now);
    try {
      copyFileSync(path, aside, constants.COPYFILE_EXCL);
    } catch (e) {
      throw fsError(e, 'keep the evidence log aside as', aside);
    }
    const kept = log.lines.slice(0, state.keep);
    checkLogLink(path);
    writeFileAtomic(path, kept.map((l) => l + '\n').join(''));
    state = compareLog({ lines: kept, partial: null }, before);
  }
  if (state.kind === 'gap') {
    if (newSegment.get(doc) !== state.lastSeq) throw gapError(state.lastSeq, before.seq);
    doc.evidence!.tail = lines;
    return { path, append: lines, dropPartial: state.dropPartial };
  }
  if (state.kind !== 'consistent') throw new VaultError('internal', 'evidence log still ahead after trimming');
  // The vault records every line not yet known to be in the log, so a crash before the append loses none.
  if (state.missing.length || state.dropPartial) throw lacking(before.seq, state.missing.length);
  doc.evidence!.tail = lines;
  return { path, append: lines, dropPartial: false };
}

/** How far before the vault's lines the log is read for the line they follow (a record is a few hundred bytes). */
const BEFORE_TAIL = 64 << 10;

/**
 * Whether the log ends exactly as the head a vault copy recorded says, read
 * from its end: a regular file within the size limit whose last lines are,
 * byte for byte, the lines of the vault's last update (`tail`, the last
 * hashing to `hash`), nothing after them (no partial line), and the line
 * before them the one the first of them links to (its SHA-256; none when
 * they are the log's first records). Those lines are the vault's own, so
 * their chain and MACs are the ones it wrote. False sends the append to
 * the whole log's check (`compareLog`), which names what is wrong; every
 * record is checked by `evidence verify` and the quarterly verification.
 */
function endMatches(path: string, head: Head): boolean {
  const T = head.tail;
  if (!head.key || !T.length || head.seq < T.length || sha256(T[T.length - 1]!) !== head.hash) return false;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > LIMITS.evidenceLog) return false;
    const want = Buffer.from(T.map((l) => `${l}\n`).join(''));
    const base = head.seq - T.length;
    if (base === 0) return st.size === want.length && readAt(fd, 0, want.length).equals(want);
    if (st.size <= want.length) return false;
    const len = Math.min(st.size, want.length + BEFORE_TAIL);
    const end = readAt(fd, st.size - len, len);
    if (!end.subarray(len - want.length).equals(want)) return false;
    const before = end.subarray(0, len - want.length);
    if (before[before.length - 1] !== 0x0a) return false;
    const start = before.lastIndexOf(0x0a, before.length - 2) + 1;
    // The line before is longer than what was read: the whole log is read instead.
    if (start === 0 && len < st.size) return false;
    const prev = before.toString('utf8', start, before.length - 1);
    return prev.trim() !== '' && linkOf(T[0]!) === sha256(prev);
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, at: number, len: number): Buffer {
  const buf = Buffer.alloc(len);
  for (let off = 0; off < len; ) {
    const n = readSync(fd, buf, off, len - off, at + off);
    if (n === 0) throw new Error('the evidence log shrank while read');
    off += n;
  }
  return buf;
}

function lacking(seq: number, missing: number): VaultError {
  const which = missing === 1 ? `record ${seq}` : missing > 1 ? `records ${seq - missing + 1} to ${seq}` : `a whole record after record ${seq}`;
  return new VaultError('integrity', `the evidence log lacks ${which}, which the vault holds: the log was cut, or a write was interrupted`, {
    code: 'evidence-lacking',
  });
}

export type Repair =
  | { kind: 'none' }
  | { kind: 'restore'; restored: number[]; droppedPartial: boolean }
  | { kind: 'gap'; from: number; to: number; after: string; droppedPartial: boolean };

/**
 * What `evidence repair` can do for the log (under the vault lock): nothing
 * (it holds every record), write back the records of the vault's last
 * update it lacks (a cut tail, or a crash between the vault write and the
 * append; a partial last line dropped), or, when more was lost than the
 * vault holds, start a new segment (see startSegment). A log edited or
 * damaged anywhere is an error: nothing is repaired over it.
 */
export function planRepair(vaultFile: string, doc: VaultDocument): Repair {
  const head = evidenceHead(doc);
  if (!head.key) {
    compareLog(readLog(evidencePath(vaultFile)), head); // throws on a damaged log
    return { kind: 'none' };
  }
  const path = evidencePath(vaultFile);
  const state = compareLog(readLog(path), head);
  if (state.kind === 'ahead') throw new VaultError('rollback', aheadMessage(state.records, head.seq), 'use the newest copy of the vault');
  if (state.kind === 'gap') return { kind: 'gap', from: state.lastSeq + 1, to: head.seq, after: state.lastHash, droppedPartial: state.dropPartial };
  if (!state.missing.length && !state.dropPartial) return { kind: 'none' };
  appendPrepared({ path, append: state.missing, dropPartial: state.dropPartial });
  return { kind: 'restore', restored: state.missing.map((_, i) => head.seq - state.missing.length + i + 1), droppedPartial: state.dropPartial };
}

/**
 * Stages the record that starts a new log segment after records `from`..`to`
 * were lost (the vault moved or was restored without its log, or the log
 * was cut by more than the last update): it chains to the head the vault
 * recorded (`prev`), names the last line the log still holds (`after`, its
 * hash) and how many records are missing, and is MACed as any record is.
 */
export function startSegment(doc: VaultDocument, gap: { from: number; to: number; after: string; droppedPartial: boolean }, now: Date): EvidenceRecord {
  newSegment.set(doc, gap.from - 1);
  return recordEvidence(
    doc,
    GAP_EVENT,
    { from: gap.from, to: gap.to, missing: gap.to - gap.from + 1, after: gap.after, droppedPartial: gap.droppedPartial },
    now,
  );
}

/**
 * The log is named by the tool beside the vault. A link there is followed
 * only to an evidence log (or an empty file): one put on another disk on
 * purpose. A link planted to anything else (a key, a script, nothing at
 * all) is refused, so no record is ever appended into a file that is not a
 * log.
 */
function checkLogLink(path: string): void {
  try {
    if (!lstatSync(path).isSymbolicLink()) return;
  } catch {
    return;
  }
  let regular: boolean;
  try {
    regular = statSync(path).isFile();
  } catch {
    regular = false;
  }
  // A device or a folder behind the link is refused by the read that follows, in its own words.
  if (!regular && existsSync(path)) return;
  const kind = regular ? kindOfFile(path) : null;
  if (kind === 'evidence-log' || kind === 'empty') return;
  throw new VaultError(
    'exists',
    `refusing to write the evidence log ${path}: it is a symbolic link to ${kind === null ? 'nothing' : 'a file that is not an evidence log'}, and vault-tool never writes records through one`,
    { hint: 'vault-tool made no such link: look at where it points, then remove it (a link to an evidence log elsewhere is followed)' },
  );
}

/** After the vault is written: appends the lines (and drops a partial line an earlier crash left). */
export function appendPrepared(p: PreparedAppend): void {
  let fd: number;
  try {
    checkLogLink(p.path);
    fd = openSync(p.path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, 0o600);
  } catch (e) {
    throw fsError(e, 'append to the evidence log', p.path);
  }
  let start = -1;
  try {
    if (p.dropPartial) {
      const text = readFileCapped(p.path, 'evidence log', LIMITS.evidenceLog);
      ftruncateSync(fd, text.lastIndexOf(0x0a) + 1);
    }
    start = fstatSync(fd).size;
    // A nearly full disk takes part of a write: go on until all is written or the disk says no.
    const buf = Buffer.from(p.append.map((l) => l + '\n').join(''));
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    // Leave the log whole (the records are in the vault; repair writes them), never a partial line.
    if (start >= 0) {
      try {
        ftruncateSync(fd, start);
      } catch {
        /* the partial line is dropped by the repair */
      }
    }
    throw fsError(e, 'append to the evidence log', p.path);
  } finally {
    closeSync(fd);
  }
  fsyncDir(dirname(p.path));
}

function parseRecord(line: string, n: number): EvidenceRecord {
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    throw new VaultError('integrity', `evidence record ${n} is not valid JSON`, { code: 'evidence-damaged' });
  }
  if (
    !isRecord(rec) ||
    !Number.isSafeInteger(rec.seq) ||
    typeof rec.at !== 'string' ||
    typeof rec.event !== 'string' ||
    typeof rec.vaultId !== 'string' ||
    !isRecord(rec.data) ||
    typeof rec.prev !== 'string'
  ) {
    throw new VaultError('integrity', `evidence record ${n} is malformed (not a vault-tool evidence record)`, { code: 'evidence-damaged' });
  }
  if (typeof rec.mac !== 'string' || !HEX64.test(rec.mac))
    throw new VaultError('integrity', `evidence record ${n} has a malformed MAC: it was edited`, { code: 'evidence-damaged' });
  return rec as unknown as EvidenceRecord;
}

export interface EvidenceReport {
  records: EvidenceRecord[];
  /** Records known lost, each recorded by a gap record that started a new segment. */
  gaps: EvidenceGap[];
}

/**
 * Verifies the log: no blank lines, each record well-formed, in sequence
 * (a recorded gap aside), chained to the one before and MACed with the
 * vault's key (the first bad record is named); then against the head the
 * vault recorded (nothing cut, nothing beyond it).
 */
export function verifyEvidence(vaultFile: string, doc: VaultDocument): EvidenceReport {
  const head = evidenceHead(doc);
  const log = readLog(evidencePath(vaultFile));
  if (!head.key) {
    if (log.lines.length || log.partial !== null)
      throw new VaultError('integrity', 'the evidence log has records but this vault copy never wrote any (an older copy, or the log of another vault)');
    return { records: [], gaps: [] };
  }
  const state = compareLog(log, head);
  if (state.kind === 'ahead') throw new VaultError('rollback', aheadMessage(state.records, head.seq), 'verify with the newest copy of the vault');
  if (state.kind === 'gap') throw gapError(state.lastSeq, head.seq);
  if (state.missing.length || state.dropPartial) throw lacking(head.seq, state.missing.length);
  return { records: state.scan.records, gaps: state.scan.gaps };
}
