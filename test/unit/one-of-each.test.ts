import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { asideStamp, CLOCK_SLACK_MS, fileStamp, inTheFuture, stampedAt } from '../../src/vault/time.js';

/**
 * Small rules written once: a second copy drifts from the first (a fix made
 * to one, not the other). Each is found here by what it looks like.
 */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [relative(ROOT, p)] : [];
  });
}
const SRC = sources(join(ROOT, 'src')).map((file) => ({ file, text: readFileSync(join(ROOT, file), 'utf8') }));
const where = (re: RegExp) => SRC.filter((s) => re.test(s.text)).map((s) => s.file);

describe('one of each', () => {
  it('isRecord: defined once, in vault/shape.ts', () => {
    expect(where(/(?:const|function) (?:isRecord|isObj)\b/)).toEqual(['src/vault/shape.ts']);
  });

  it('a time in a file name: written by vault/time.ts only', () => {
    // (A time written for PostgreSQL's recovery_target_time is another form, not a file name.)
    expect(where(/toISOString\(\)\s*\.replace\(\/\[(?:-:|:\.)\]\/g/)).toEqual(['src/vault/time.ts']);
    expect(where(/\(\\d\{4\}\)\(\\d\{2\}\)\(\\d\{2\}\)T/)).toEqual(['src/vault/time.ts']);
  });

  it('"more than an hour in the future": judged by vault/time.ts only', () => {
    expect(where(/getTime\(\) \+ (?:3_600_000|3600000|36e5)/)).toEqual([]);
  });

  it('a vault file is opened by vault/open.ts only (the command line and the recovery kit call it)', () => {
    expect(where(/\bparseDocument\(/)).toEqual(['src/vault/open.ts', 'src/vault/payload.ts']);
    expect(where(/\bcheckDocumentMeta\(/)).toEqual(['src/vault/open.ts', 'src/vault/payload.ts']);
  });
});

describe('vault/time.ts', () => {
  const t = new Date('2026-11-22T13:15:09.123Z');

  it('stamps a file name to the second, and reads the time back from the name', () => {
    expect(fileStamp(t)).toBe('20261122T131509Z');
    expect(stampedAt(`${fileStamp(t)}-3f9a1c2e.dump.age`)).toBe(Date.parse('2026-11-22T13:15:09Z'));
    expect(stampedAt('20261122T131509Z.dump.age')).toBeNaN();
    expect(stampedAt('notes.txt')).toBeNaN();
  });

  it('stamps a file kept aside to the millisecond', () => {
    expect(asideStamp(t)).toBe('2026-11-22T13-15-09-123Z');
  });

  it('a time counts as in the future only when more than an hour ahead', () => {
    const now = new Date('2026-11-22T12:00:00Z');
    expect(CLOCK_SLACK_MS).toBe(3_600_000);
    expect(inTheFuture('2026-11-22T13:00:00.000Z', now)).toBe(false);
    expect(inTheFuture('2026-11-22T13:00:00.001Z', now)).toBe(true);
    expect(inTheFuture('2026-11-22T11:00:00Z', now)).toBe(false);
  });
});
