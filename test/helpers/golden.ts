import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { expect } from 'vitest';

/**
 * Golden files, as restic's testdata/: a pure policy's inputs and the
 * outputs it must give, kept as data under test/testdata/<policy>/ (an
 * input `NAME.<ext>`, its expected output `NAME.golden.json`), so that a
 * change of behaviour shows as a change of data in review.
 *
 * To change the expected outputs deliberately, after changing the policy:
 *
 *   VT_UPDATE_GOLDEN=1 npx vitest run test/unit/golden.test.ts
 *
 * rewrites every `.golden.json` from what the code does now (and writes the
 * missing ones); read the diff before committing it. Without the variable a
 * missing or different golden file fails the test.
 */
export const TESTDATA = resolve(import.meta.dirname, '../testdata');
const UPDATE = process.env.VT_UPDATE_GOLDEN === '1';

/** The input files of a policy's folder with this extension, sorted: [name, path]. */
export function inputs(policy: string, ext: string): [string, string][] {
  const dir = join(TESTDATA, policy);
  return readdirSync(dir)
    .filter((f) => f.endsWith(ext) && !f.endsWith('.golden.json'))
    .sort()
    .map((f) => [f.slice(0, -ext.length), join(dir, f)]);
}

/** Compares `actual` with the golden file beside `input` (or rewrites it under VT_UPDATE_GOLDEN=1). */
export function golden(input: string, ext: string, actual: unknown): void {
  const file = input.slice(0, -ext.length) + '.golden.json';
  const text = `${JSON.stringify(actual, null, 2)}\n`;
  if (UPDATE) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    return;
  }
  if (!existsSync(file)) throw new Error(`${file} is missing: VT_UPDATE_GOLDEN=1 writes it from what the code does now (check it before committing)`);
  expect(JSON.parse(text), file).toEqual(JSON.parse(readFileSync(file, 'utf8')));
}

/** What a call gave: its value, or the error it threw (kind, code, message, hint), so refusals are golden too. */
export function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (e) {
    const err = e as { kind?: string; code?: string; message: string; hint?: string };
    return { error: { kind: err.kind, ...(err.code ? { code: err.code } : {}), message: err.message, ...(err.hint ? { hint: err.hint } : {}) } };
  }
}
