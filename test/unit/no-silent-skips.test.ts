import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

/**
 * A test that cannot run here is skipped with a reason (`it.skipIf`,
 * `ctx.skip`, test/helpers/require.ts), never ended by a `return` that
 * vitest reports as a pass. Found by its shape: in a test's body, an `if`
 * whose branch returns without having asserted anything, with more of the
 * test after it.
 */
function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? (n === 'helpers' ? [] : testFiles(p)) : p.endsWith('.test.ts') ? [p] : [];
  });
}

const TEST_CALL = /^(it|test)(\.(only|concurrent|sequential|fails))*$|^(it|test)\.(each|skipIf|runIf)\(.*\)$/s;

function silentReturns(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const returnsUnasserted = (branch: ts.Statement): boolean => {
    const stmts = ts.isBlock(branch) ? [...branch.statements] : [branch];
    const last = stmts[stmts.length - 1];
    return Boolean(last && ts.isReturnStatement(last) && !/\bexpect\(/.test(branch.getText().replace(/return expect\([^)]*\)\.not\.toBe\('true'\)/, '')));
  };
  const visit = (n: ts.Node) => {
    if (ts.isCallExpression(n) && TEST_CALL.test(n.expression.getText())) {
      const fn = n.arguments.find((a) => ts.isArrowFunction(a) || ts.isFunctionExpression(a)) as ts.ArrowFunction | ts.FunctionExpression | undefined;
      if (fn && ts.isBlock(fn.body)) {
        const body = fn.body.statements;
        body.forEach((s, i) => {
          if (i < body.length - 1 && ts.isIfStatement(s) && returnsUnasserted(s.thenStatement))
            out.push(`${relative(ROOT, file)}:${sf.getLineAndCharacterOfPosition(s.getStart()).line + 1}: ${s.getText().split('\n')[0]}`);
        });
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('tests that cannot run say so', () => {
  it('no test ends early with a return that reports it as passed', () => {
    expect(testFiles(join(ROOT, 'test')).flatMap(silentReturns)).toEqual([]);
  });
});
