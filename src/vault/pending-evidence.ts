import { lstatSync } from 'node:fs';
import { VaultError } from '../errors/errors.js';
import { refuseLink, removeQuietly, sweepTempFiles, writeFileAtomic } from '../fs/atomic.js';
import { acquireLock } from '../fs/lock.js';
import { LIMITS, readFileCapped } from '../fs/read.js';
import type { VaultDocument } from './document.js';
import { recordEvidence } from './evidence.js';
import { boolean, integer, isRecord, list, nullable, object, oneOf, optional, parseShape, string } from './shape.js';

/**
 * Evidence that waits for a vault. A command that reveals key material where
 * no vault can record it (a key rebuilt from shares on a fresh machine, or a
 * key that does not open the vault there) writes its record beside the key
 * file it wrote: `<key file>.evidence-pending.jsonl`, one JSON record a line.
 * The next write of a vault with that key file stages each record in the
 * vault's evidence log, marked `deferred` (when and where it was written), and
 * removes it from the file once the vault is written.
 *
 * Nothing authenticates the file until then, and it sits in whatever folder
 * the key was written to, so it is read as untrusted input: only
 * `escrow.combine` records of exactly the form that command (and the
 * recovery kit) writes are carried in, and the write says which; anything
 * else stays in the file, named in a warning. The file is never a link
 * (refused, never written through), and every change to it (a record added,
 * one taken back, the records carried in) is a read-modify-write under its
 * own lock that touches only that run's records.
 */
export const pendingEvidencePath = (keyFile: string) => keyFile + '.evidence-pending.jsonl';

const WHAT = 'the pending evidence';

export interface PendingRecord {
  event: string;
  at: string;
  data: Record<string, unknown>;
}

/** The only event carried in from beside a key file (escrow/combine-record.ts writes it). */
export const PENDING_EVENT = 'escrow.combine';

const hex16 = string({ pattern: /^[0-9a-f]{16}$/, want: '16 hexadecimal digits' });

/** The `escrow.combine` record's data, field by field (escrow/combine-record.ts): nothing more, nothing less. */
const CombineData = object({
  keyId: hex16,
  keyFile: nullable(string()),
  replaced: nullable(string()),
  protected: boolean,
  setId: hex16,
  epoch: integer(0),
  custodians: list(object({ index: integer(1, 255), label: string() }), { min: 1, max: 255 }),
  setAside: list(object({ name: string(), why: oneOf(['unreadable', 'twice', 'other-set', 'malformed', 'misfit']) }), { max: 1024 }),
  operator: string(),
  host: string(),
  manifestKey: nullable(string()),
  vaultFile: nullable(string()),
  vault: oneOf(['opens', 'none', 'other']),
  via: optional(string()),
});

const PendingLine = object({
  event: oneOf([PENDING_EVENT]),
  at: string({ pattern: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/, want: 'an ISO-8601 UTC time' }),
  data: CombineData,
});

/** One line of the file: the record it holds, or why it is not carried. */
type Line = { raw: string; n: number } & ({ record: PendingRecord } | { refused: string });

function parseLine(raw: string, n: number, file: string): Line {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return { raw, n, refused: 'not JSON' };
  }
  try {
    const r = parseShape(v, PendingLine, `${file} line ${n}`);
    return { raw, n, record: { event: r.event, at: r.at, data: r.data as Record<string, unknown> } };
  } catch (e) {
    if (!(e instanceof VaultError)) throw e;
    return { raw, n, refused: e.message.slice(`${file} line ${n}: `.length) };
  }
}

/** Whether a text is the tool's pending evidence in form: every line a JSON object with event, at and data (checked in full only when carried). */
const pendingInForm = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim())
    .every((l) => {
      try {
        const v = JSON.parse(l) as unknown;
        return isRecord(v) && typeof v.event === 'string' && 'at' in v && isRecord(v.data);
      } catch {
        return false;
      }
    });

/** The file's text ('' when there is none); a link is refused. */
function readText(file: string): string {
  refuseLink(file, WHAT, 'read');
  try {
    lstatSync(file);
  } catch {
    return '';
  }
  return readFileCapped(file, WHAT, LIMITS.text).toString('utf8');
}

/**
 * Whether a record can be added beside `keyFile`: the file there is not a
 * link, and is empty, absent or pending evidence (never a file of another
 * kind named so). Checked before any work, and again when the record is
 * added.
 */
export function checkPendingEvidence(keyFile: string): void {
  const file = pendingEvidencePath(keyFile);
  refuseLink(file, WHAT);
  if (!pendingInForm(readText(file))) throw notPending(file);
}

const notPending = (file: string) =>
  new VaultError('exists', `refusing to add to ${file}: it is not a file of pending evidence records vault-tool wrote`, {
    hint: 'look at what it is, then move it away',
  });

/** Runs `f` on the file's text under its lock and writes what it returns (null: remove the file). */
async function rewrite(file: string, f: (text: string) => string | null): Promise<void> {
  refuseLink(file, WHAT);
  const release = await acquireLock(file, 10_000, `the pending evidence ${file}`);
  try {
    sweepTempFiles(file);
    const next = f(readText(file));
    if (next === null) removeQuietly(file);
    else writeFileAtomic(file, next, { ownFile: WHAT });
  } finally {
    release();
  }
}

/** `text` without one occurrence of each of `lines` (whole lines). */
function without(text: string, lines: string[]): string {
  const kept = text.split('\n').filter((l) => l.trim());
  for (const l of lines) {
    const i = kept.indexOf(l);
    if (i >= 0) kept.splice(i, 1);
  }
  return kept.map((l) => l + '\n').join('');
}

/**
 * Adds a record beside `keyFile` (mode 0600, under the file's lock, records
 * already there kept). Returns what takes this record back, and only it,
 * for a command whose write then fails: records other runs added meanwhile
 * stay.
 */
export async function addPendingEvidence(keyFile: string, rec: PendingRecord): Promise<{ line: string; takeBack: () => Promise<void> }> {
  const file = pendingEvidencePath(keyFile);
  const line = JSON.stringify(rec);
  await rewrite(file, (text) => {
    if (!pendingInForm(text)) throw notPending(file);
    return without(text, []) + line + '\n';
  });
  return { line, takeBack: () => rewrite(file, (text) => without(text, [line]) || null) };
}

/**
 * Stages the records waiting beside `keyFile` into `doc` (inside a vault
 * update that writes): `escrow.combine` records of the expected form, of a
 * key this vault knows (its key, a pending or a retired one). `warn` is told
 * which records were carried in (but those of `own`: lines this run wrote),
 * and why any other line stays in the file.
 * Returns what to run once the vault is written (says which records were
 * carried, takes them out of the file, under its lock, and removes it when
 * nothing is left), or
 * undefined when nothing is carried. A file that cannot be read is left in
 * place and named in a warning: it never stops the write.
 */
export function stagePendingEvidence(
  keyFile: string,
  doc: VaultDocument,
  now: Date,
  warn?: (m: string) => void,
  own: string[] = [],
): (() => Promise<void>) | undefined {
  const file = pendingEvidencePath(keyFile);
  let text: string;
  try {
    text = readText(file);
  } catch (e) {
    warn?.(`${(e as Error).message}: its records were not carried into the evidence log; the file is left as it is`);
    return undefined;
  }
  const lines = text
    .split('\n')
    .map((raw, i) => ({ raw, n: i + 1 }))
    .filter(({ raw }) => raw.trim())
    .map(({ raw, n }) => parseLine(raw, n, file));
  const known = new Set([doc.key.keyId, doc.pendingKey?.keyId, ...(doc.retiredKeys ?? []).map((k) => k.keyId)]);
  const carry: (Line & { record: PendingRecord })[] = [];
  const foreign: PendingRecord[] = [];
  for (const l of lines) {
    if ('refused' in l)
      warn?.(
        `${file} line ${l.n} is not carried into the evidence log (${l.refused}): only escrow.combine records of the expected form are; it is left in the file`,
      );
    else if (known.has(l.record.data.keyId as string)) carry.push(l);
    else foreign.push(l.record);
  }
  if (foreign.length)
    warn?.(
      `${file}: ${foreign.length} record${foreign.length === 1 ? ' is' : 's are'} of a key this vault does not know (key id ${[...new Set(foreign.map((r) => String(r.data.keyId)))].join(', ')}): left in the file`,
    );
  if (!carry.length) return undefined;
  for (const { record: r } of carry) recordEvidence(doc, r.event, { ...r.data, deferred: { at: r.at, file } }, now);
  const told = carry.filter((l) => !own.includes(l.raw));
  const which = told.map(({ record: r }) => `${r.event} at ${r.at} (key id ${r.data.keyId}, by ${r.data.operator} on ${r.data.host})`);
  return async () => {
    // Said once the vault holds them: a write refused after this point carried nothing.
    if (told.length)
      warn?.(
        `carried ${told.length === 1 ? 'a record' : `${told.length} records`} into the evidence log from ${file}, kept there unauthenticated until now: ${which.join('; ')}`,
      );
    try {
      await rewrite(
        file,
        (now) =>
          without(
            now,
            carry.map((l) => l.raw),
          ) || null,
      );
    } catch (e) {
      warn?.(
        `${file}: the records carried into the log could not be taken out of it (${(e as Error).message}): remove them by hand, or the next write carries them again`,
      );
    }
  };
}
