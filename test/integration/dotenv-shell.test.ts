import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

/**
 * An exported dotenv file is often sourced by a shell (`set -a; . ./app.env`):
 * no value may run a command there, and each reads back as it was, in the
 * shell and in vault-tool's own import.
 */
let dir: string;
let cleanup: () => void;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
});
afterEach(() => cleanup());

describe('export env, sourced by a shell', () => {
  it('a value holding a command substitution (`…`, $(…)) and a quote runs nothing, and reads back unchanged', async () => {
    const marker = join(dir, 'ran');
    const value = `it's \`touch ${marker}\` and $(touch ${marker}) \\ "q"`;
    writeFileSync(join(dir, 'v'), value);
    expect((await cli(dir, ['add', 'app/token', '-t', 'generic', '--from-file', 'v'])).code).toBe(0);
    expect((await cli(dir, ['export', 'env', '-o', 'app.env'])).code).toBe(0);
    const sh = spawnSync('sh', ['-c', 'set -a; . ./app.env; printf %s "$TOKEN"'], { cwd: dir, encoding: 'utf8' });
    expect(existsSync(marker)).toBe(false);
    expect(sh.stdout).toBe(value);
    // vault-tool's own import reads the same value back.
    expect((await cli(dir, ['import', 'env', 'app.env', '--map', 'TOKEN=copy/token:generic', '--only-mapped'])).code).toBe(0);
    expect((await cli(dir, ['get', 'copy/token'])).stdout).toBe(value);
    expect(readFileSync(join(dir, 'app.env'), 'utf8')).toContain('\\`touch');
  });
});
