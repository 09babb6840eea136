/**
 * Writes the inputs of the evidence-log comparison's golden tests (each
 * case: the log's lines, a partial last line, and the head a vault copy
 * recorded), from records made by the code itself under a fixed key, so
 * their chains and MACs are real. Run it only to change the inputs:
 *
 *   npx esbuild test/testdata/evidence-log/make.ts --bundle --platform=node --format=esm | node --input-type=module
 *
 * then `VT_UPDATE_GOLDEN=1 npx vitest run test/unit/golden.test.ts` for the outputs.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GAP_EVENT, recordEvidence } from '../../../src/vault/evidence.js';
import type { VaultDocument } from '../../../src/vault/document.js';

/** Run from the repository's root. */
const DIR = join(process.cwd(), 'test/testdata/evidence-log');
const KEY = Buffer.alloc(32, 7).toString('base64');
const GENESIS = '0'.repeat(64);
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const at = (i: number) => new Date(Date.UTC(2026, 10, 22, 12, i));

/** A document whose evidence head starts where `seq`/`hash` say; records are staged lines, read back from the head. */
function chain(events: { event: string; data: Record<string, unknown>; seq?: number }[], from = { seq: 0, hash: GENESIS }): string[] {
  const doc = { vaultId: 'ab'.repeat(16), evidence: { key: KEY, seq: from.seq, hash: from.hash } } as unknown as VaultDocument;
  const lines: string[] = [];
  for (const [i, e] of events.entries()) {
    if (e.seq !== undefined) doc.evidence!.seq = e.seq - 1;
    const rec = recordEvidence(doc, e.event, e.data, at(i));
    lines.push(JSON.stringify(rec));
  }
  return lines;
}

const base = chain([
  { event: 'init', data: { keyId: '0123456789abcdef' } },
  { event: 'add', data: { entry: 'app/db-password', version: 1 } },
  { event: 'add', data: { entry: 'platform/kek', version: 1 } },
  { event: 'escrow.split', data: { setId: 'aa'.repeat(8), epoch: 1 } },
  { event: 'rotate', data: { entry: 'app/db-password', version: 2 } },
  { event: 'copy', data: { id: '3f9a1c2e' } },
]);
const head = (lines: string[], tail: number, key: string | null = KEY) => ({
  seq: lines.length ? (JSON.parse(lines[lines.length - 1]!) as { seq: number }).seq : 0,
  hash: lines.length ? sha(lines[lines.length - 1]!) : GENESIS,
  tail: lines.slice(lines.length - tail),
  ...(key ? { key } : {}),
});

interface Case {
  about: string;
  log: string[];
  partial: string | null;
  head: { seq: number; hash: string; tail: string[]; key?: string };
}
const cases: Record<string, Case> = {
  consistent: { about: 'the log holds every record the vault recorded', log: base, partial: null, head: head(base, 2) },
  'append-lost': {
    about: 'the last update was written to the vault, and the process died before its record reached the log',
    log: base.slice(0, 5),
    partial: null,
    head: head(base, 2),
  },
  'append-cut': {
    about: 'the append was cut short: the log ends in the first bytes of the record the vault holds',
    log: base.slice(0, 5),
    partial: base[5]!.slice(0, 40),
    head: head(base, 2),
  },
  'partial-foreign': {
    about: 'the log ends in a partial line that is not the record the vault holds',
    log: base.slice(0, 5),
    partial: '{"seq":6,"at":"2025-01-01',
    head: head(base, 2),
  },
  gap: { about: 'records older than the last update are gone from the end of the log', log: base.slice(0, 3), partial: null, head: head(base, 2) },
  ahead: { about: 'a vault copy older than its log (a restored copy)', log: base, partial: null, head: head(base.slice(0, 4), 1) },
  'ahead-forked': {
    about: "a vault copy older than the log, whose own last record is not the log's",
    log: base,
    partial: null,
    head: { ...head(base.slice(0, 4), 1), hash: 'f'.repeat(64) },
  },
  edited: {
    about: "a record's data edited after it was written",
    log: base.map((l, i) => (i === 2 ? l.replace('platform/kek', 'platform/kex') : l)),
    partial: null,
    head: head(base, 2),
  },
  reordered: { about: 'two records swapped', log: [base[0]!, base[2]!, base[1]!, ...base.slice(3)], partial: null, head: head(base, 2) },
  'removed-middle': { about: 'a record removed from the middle', log: [...base.slice(0, 2), ...base.slice(3)], partial: null, head: head(base, 2) },
  'blank-line': { about: 'a blank line inserted', log: [...base.slice(0, 3), '', ...base.slice(3)], partial: null, head: head(base, 2) },
  'other-copy': {
    about: "the log's last record is another copy's, chained and MACed, but not the one this vault recorded",
    log: [...base.slice(0, 5), chain([{ event: 'copy', data: { id: 'deadbeef' } }], { seq: 5, hash: sha(base[4]!) })[0]!],
    partial: null,
    head: head(base, 2),
  },
  'never-wrote-empty': { about: 'a vault that never recorded anything, and an empty log', log: [], partial: null, head: head([], 0, null) },
  'never-wrote-log': { about: 'a vault that never recorded anything, beside a log of another copy', log: base, partial: null, head: head([], 0, null) },
};

// A log with a segment after a recorded loss: records 4 and 5 are gone, the gap record (6) names them and follows record 3.
const seg = [
  ...base.slice(0, 3),
  ...chain([{ event: GAP_EVENT, data: { from: 4, to: 5, missing: 2, after: sha(base[2]!) }, seq: 6 }], { seq: 5, hash: GENESIS }),
];
seg.push(...chain([{ event: 'add', data: { entry: 'app/new', version: 1 } }], { seq: 6, hash: sha(seg[3]!) }));
cases['gap-segment'] = { about: 'a new segment after records 4 and 5 were lost and the loss recorded', log: seg, partial: null, head: head(seg, 1) };

for (const [name, c] of Object.entries(cases)) writeFileSync(join(DIR, `${name}.json`), `${JSON.stringify(c, null, 2)}\n`);
