import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { ERROR_CODES } from '../../src/cli/hints.js';
import { EXIT_CODES } from '../../src/cli/exit-codes.js';
import { hintFor } from '../../src/cli/report.js';
import { VaultError } from '../../src/errors/errors.js';
import type { ErrorCode } from '../../src/errors/codes.js';

/**
 * Error codes are a closed set (src/errors/codes.ts): the compiler refuses a
 * code nobody declared, and src/cli/hints.ts gives each one its kind and its
 * hint. Here: every hint says something, every kind has an exit code, and
 * every error raised with a code in src is raised with the kind the table
 * gives it; no code is declared that nothing raises.
 */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

interface Raised {
  code: string;
  kind: string | null;
  at: string;
}

/** Every `code: '…'` in src (an error's detail, a result's field), with the kind when it is a `new VaultError(KIND, …, { code })`. */
function raisedCodes(): Raised[] {
  const out: Raised[] = [];
  for (const file of sources(join(ROOT, 'src'))) {
    const rel = relative(ROOT, file);
    if (rel === 'src/cli/hints.ts') continue;
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const at = (n: ts.Node) => `${rel}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
    const kindOf = (n: ts.Node): string | null => {
      // The error this detail is given to: new VaultError('kind', message, { code }) or new ClusterError(status, reason, message, { code }).
      for (let p: ts.Node | undefined = n.parent; p; p = p.parent) {
        if (ts.isNewExpression(p)) {
          const cls = p.expression.getText();
          if (cls === 'ClusterError') return 'cluster';
          const k = p.arguments?.[0];
          return cls === 'VaultError' && k && ts.isStringLiteral(k) ? k.text : null;
        }
        if (ts.isBlock(p) || ts.isSourceFile(p)) return null;
      }
      return null;
    };
    const visit = (n: ts.Node) => {
      if (ts.isPropertyAssignment(n) && n.name.getText() === 'code') {
        // A literal, or each branch of a choice between literals (c.missing ? 'wal-gap' : 'wal-not-yet').
        const literals = (x: ts.Node): string[] => (ts.isStringLiteral(x) ? [x.text] : x.getChildren().flatMap(literals));
        // Node's own error codes (ERR_STREAM_PREMATURE_CLOSE, EPIPE) are upper case: not this table's.
        for (const code of literals(n.initializer)) if (!/^[A-Z]/.test(code)) out.push({ code, kind: kindOf(n), at: at(n) });
      }
      if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.EqualsToken && /\.code$/.test(n.left.getText()) && ts.isStringLiteral(n.right))
        out.push({ code: n.right.text, kind: null, at: at(n) });
      // A code handed to a helper that raises it (refused(name, why, 'wal-name')), or to the CLI's hintText.
      if (ts.isCallExpression(n))
        for (const a of n.arguments) if (ts.isStringLiteral(a) && a.text in ERROR_CODES) out.push({ code: a.text, kind: null, at: at(n) });
      if (ts.isParameter(n) && n.initializer && ts.isStringLiteral(n.initializer) && n.initializer.text in ERROR_CODES)
        out.push({ code: n.initializer.text, kind: null, at: at(n) });
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}

const RAISED = raisedCodes();
const CODES = Object.keys(ERROR_CODES) as ErrorCode[];
const kindsOf = (c: ErrorCode): string[] => {
  const k = ERROR_CODES[c].kind;
  return typeof k === 'string' ? [k] : [...k];
};
const DATA = {
  name: 'app/db',
  entry: 'app/db',
  id: '3f9a1c2e',
  keptAside: 'vault.key.replaced-x',
  keyFile: 'vault.key',
  tool: 'pg_dump',
  context: 'prod',
  target: 'postgres://db.prod/app',
  contexts: 'a, b',
  timeout: '5m',
  firstPath: 'a/X',
  secondPath: 'b/X',
  second: 'b/X',
};

describe('error codes: a closed set, each with its kind and its hint', () => {
  it('every code has a hint that says something, with or without the names it may use', () => {
    for (const c of CODES) {
      const h = ERROR_CODES[c].hint;
      for (const text of typeof h === 'string' ? [h] : [h(DATA), h(DATA, 'the library’s own')]) {
        expect(text, c).toMatch(/\S{3}/);
        expect(text, c).not.toMatch(/undefined|\[object/);
      }
    }
  });

  it('every kind the table names has an exit code (docs/CLI.md prints them)', () => {
    for (const c of CODES) for (const k of kindsOf(c)) if (k !== '*') expect(EXIT_CODES, `${c}: ${k}`).toHaveProperty(k);
  });

  it('every error raised with a code is raised with a kind the table gives that code', () => {
    const raised = RAISED;
    expect(raised.length).toBeGreaterThan(100);
    const wrong = raised.filter((r) => r.kind !== null && !kindsOf(r.code as ErrorCode).includes(r.kind) && !kindsOf(r.code as ErrorCode).includes('*'));
    expect(wrong.map((r) => `${r.at}: ${r.code} raised as ${r.kind}, the table says ${kindsOf(r.code as ErrorCode).join(' or ')}`)).toEqual([]);
  });

  it('every code in src is declared, and every declared code is used', () => {
    const used = new Set(RAISED.map((r) => r.code));
    expect([...used].filter((c) => !(c in ERROR_CODES))).toEqual([]);
    expect(CODES.filter((c) => !used.has(c))).toEqual([]);
  });

  it("an error's hint is the table's for its code, given the library's own (a duration's advice) where the table defers to it", () => {
    expect(hintFor(new VaultError('not-found', 'no entry named x', { code: 'entry-missing' }))).toBe('see `vault-tool list`');
    expect(hintFor(new VaultError('usage', '--within "3m": …', { code: 'bad-duration', hint: 'write 3min for minutes, 3mo for months' }))).toBe(
      'write 3min for minutes, 3mo for months',
    );
    expect(hintFor(new VaultError('io', 'disk on fire', 'check the disk'))).toBe('check the disk');
  });

  it("`status`: a stale escrow's hint keeps the other findings' own (a backup to judge again) beside its own", () => {
    const judge = '`vault-tool backup verify files/cfg/x.age` judges what does not count yet';
    const both = hintFor(new VaultError('verify-failed', 'the escrow is stale: …; files/cfg does not count', { code: 'escrow-stale', hint: judge }));
    expect(both).toMatch(/^split the current key among the custodians again: `vault-tool escrow reshare`/);
    expect(both).toContain(`; and ${judge}`);
    expect(hintFor(new VaultError('verify-failed', 'the escrow is stale: …', { code: 'escrow-stale' }))).not.toContain('; and');
  });
});
