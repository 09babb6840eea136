import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/cli/version.js';
import { ROOT } from '../helpers/cli.js';

const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });

describe('the version', () => {
  it("is package.json's, written there only: no source file carries a copy that could fall behind", () => {
    expect(VERSION).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    const copies = files(join(ROOT, 'src'))
      .filter((f) => readFileSync(f, 'utf8').includes(`'${VERSION}'`) || readFileSync(f, 'utf8').includes(`:${VERSION}'`))
      .map((f) => relative(ROOT, f));
    expect(copies).toEqual([]);
  });
});
