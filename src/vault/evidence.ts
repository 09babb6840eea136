import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { VaultError } from './errors.js';
import { acquireLock } from './fsutil.js';
import type { VaultDocument } from './document.js';

/**
 * The evidence log kept next to the vault (<vault>.evidence.jsonl): one JSON
 * record a line, append-only. Each record holds the SHA-256 of the previous
 * line and an HMAC-SHA-256 under the vault's evidence key (32 random bytes
 * kept inside the encrypted vault), so removed, reordered or edited records
 * are detected; the vault also remembers the newest record, so a cut tail
 * is detected too. Records never hold secret values.
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

type EvidenceDoc = VaultDocument & { evidence?: { key: string; seq: number; hash: string } };

function macKey(doc: EvidenceDoc): Buffer {
  if (!doc.evidence) doc.evidence = { key: randomBytes(32).toString('base64'), seq: 0, hash: GENESIS };
  return Buffer.from(doc.evidence.key, 'base64');
}

function macOf(key: Buffer, rec: Omit<EvidenceRecord, 'mac'>): string {
  return createHmac('sha256', key).update(JSON.stringify(rec)).digest('hex');
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l.length);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/**
 * Appends one record. Call it inside updateVault (the document is written
 * afterwards with the new head), so the log and the vault move together.
 */
export async function appendEvidence(vaultFile: string, doc: VaultDocument, event: string, data: Record<string, unknown>, now = new Date()): Promise<EvidenceRecord> {
  const d = doc as EvidenceDoc;
  const key = macKey(d);
  const path = evidencePath(vaultFile);
  const release = await acquireLock(path);
  try {
    const lines = readLines(path);
    const last = lines[lines.length - 1];
    const prev = last ? createHash('sha256').update(last).digest('hex') : GENESIS;
    const body = { seq: lines.length + 1, at: now.toISOString(), event, vaultId: doc.vaultId, data, prev };
    const rec: EvidenceRecord = { ...body, mac: macOf(key, body) };
    const line = JSON.stringify(rec);
    const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    try {
      writeSync(fd, line + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    d.evidence = { key: d.evidence!.key, seq: rec.seq, hash: createHash('sha256').update(line).digest('hex') };
    return rec;
  } finally {
    release();
  }
}

/** Verifies the whole chain and MACs; returns the records. */
export function verifyEvidence(vaultFile: string, doc: VaultDocument): EvidenceRecord[] {
  const d = doc as EvidenceDoc;
  const lines = readLines(evidencePath(vaultFile));
  if (!d.evidence) {
    if (lines.length) throw new VaultError('integrity', 'the evidence log has records but this vault never wrote any');
    return [];
  }
  const key = Buffer.from(d.evidence.key, 'base64');
  let prev = GENESIS;
  const out: EvidenceRecord[] = [];
  lines.forEach((line, i) => {
    let rec: EvidenceRecord;
    try {
      rec = JSON.parse(line) as EvidenceRecord;
    } catch {
      throw new VaultError('integrity', `evidence record ${i + 1} is not valid JSON`);
    }
    const { mac, ...body } = rec;
    if (rec.seq !== i + 1) throw new VaultError('integrity', `evidence record ${i + 1} has sequence ${rec.seq}: records were removed or reordered`);
    if (rec.prev !== prev) throw new VaultError('integrity', `evidence record ${i + 1} does not follow record ${i}: records were removed, reordered or edited`);
    const want = Buffer.from(macOf(key, body), 'hex');
    if (typeof mac !== 'string' || mac.length !== 64 || !timingSafeEqual(want, Buffer.from(mac, 'hex'))) throw new VaultError('integrity', `evidence record ${i + 1} fails its MAC: it was edited`);
    prev = createHash('sha256').update(line).digest('hex');
    out.push(rec);
  });
  if (out.length < d.evidence.seq) throw new VaultError('integrity', `the evidence log has ${out.length} records, the vault recorded ${d.evidence.seq}: records were removed from the end`);
  if (d.evidence.seq > 0 && createHash('sha256').update(lines[d.evidence.seq - 1]!).digest('hex') !== d.evidence.hash) {
    throw new VaultError('integrity', `evidence record ${d.evidence.seq} is not the one the vault recorded`);
  }
  return out;
}
