import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => void;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
  expect((await cli(dir, ['add', 'a/b', '-t', 'kek', '--generate'])).code).toBe(0);
});
afterEach(() => cleanup());

const files = () => readdirSync(dir).sort();

describe('a file named with a trailing slash (a folder) is never written under the name without it', () => {
  it.each([
    [['get', 'a/b', '--out', 'x/']],
    [['export', 'env', '-o', 'x/']],
    [['kit', '--out', 'x/']],
    [['backup', 'key', 'export-identity', '-o', 'x/']],
    [['status', '--prometheus', 'x/']],
    [['init', '--vault-file', 'v2', '--key-file', 'x/']],
    [['list', '--key-file', 'vault.key/']],
  ])('%j', async (args) => {
    const before = files();
    const r = await cli(dir, args);
    expect(r.stderr).toBe(
      `vault-tool: error: cannot use ${args.at(-1)}: a path ending in / names a folder, not a file\nvault-tool: hint: name a file: drop the trailing slash, or add the file name after it\n`,
    );
    expect(r.code).toBe(2);
    expect(files()).toEqual(before);
  });

  it('escrow combine --out x/ writes no key file x', async () => {
    expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'sh'])).code).toBe(0);
    const shares = readdirSync(join(dir, 'sh'))
      .filter((f) => f.endsWith('.share'))
      .map((f) => join(dir, 'sh', f));
    const r = await cli(dir, ['escrow', 'combine', '--out', 'x/', ...shares]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'vault-tool: error: cannot use x/: a path ending in / names a folder, not a file\nvault-tool: hint: name a file: drop the trailing slash, or add the file name after it\n',
    );
    expect(files()).not.toContain('x');
  });
});
