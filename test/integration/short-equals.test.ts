import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

/**
 * A short option's value follows it, glued or after a space: `-r=/srv/backups`
 * is read as the value "=/srv/backups", which put the backups into a folder
 * named `=` in the working folder. Refused, naming both right forms.
 */
let dir: string;
let cleanup: () => void;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
  expect((await cli(dir, ['add', 'a/b', '-t', 'kek', '--generate'])).code).toBe(0);
});
afterEach(() => cleanup());

describe('-X=VALUE', () => {
  it.each([
    [['backup', 'files', '-C', 'tree', 'f', '-r=/srv/backups'], '-r=/srv/backups', 'give -r /srv/backups, or --repo=/srv/backups'],
    [['get', 'a/b', '-o=kek.bin'], '-o=kek.bin', 'give -o kek.bin, or --out=kek.bin'],
    [['escrow', 'split', '-k', '2', '-c=Ann', '-c', 'Bob', '-o', 'sh'], '-c=Ann', 'give -c Ann, or --custodian=Ann'],
  ])('%j is refused before anything is written', async (args, word, hint) => {
    mkdirSync(join(dir, 'tree'));
    writeFileSync(join(dir, 'tree/f'), 'x');
    const before = readdirSync(dir).sort();
    const r = await cli(dir, args);
    expect(r.stderr).toBe(`vault-tool: error: ${word}: a short option takes no =, so its value would be "${word.slice(2)}"\nvault-tool: hint: ${hint}\n`);
    expect(r.code).toBe(2);
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('a value that truly starts with = (its own word), and words after --, are left as they are', async () => {
    const r = await cli(dir, ['get', 'a/b', '-o', '=kek.bin']);
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, '=kek.bin'))).toBe(true);
    const run = await cli(dir, ['run', '--env', 'K=a/b', '--', 'sh', '-c', 'test -n "$K"', '-r=x']);
    expect(run.code).toBe(0);
  });
});
