import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

/**
 * The drill records itself in the vault's evidence log. On a copy of the
 * vault older than one this machine has seen, that write is refused: the
 * drill says so when it opens the vault, in the dry run too, with the fix,
 * before anything is restored (it restored everything, then failed).
 */
let dir: string;
let cleanup: () => void;
beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-drill-stale-'));
  expect((await cli(dir, ['init'])).code).toBe(0);
  expect((await cli(dir, ['add', 'a/b', '-t', 'kek', '--generate'])).code).toBe(0);
  expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'ann', '-c', 'bob', '-c', 'cy', '-o', 'shares'])).code).toBe(0);
  mkdirSync(join(dir, 'tree'));
  writeFileSync(join(dir, 'tree/f'), 'x\n');
  expect((await cli(dir, ['backup', 'files', '-C', 'tree', 'f', '-r', 'repo'])).code).toBe(0);
  expect((await cli(dir, ['drill', 'init', '-r', 'repo', '--shares', 'shares', '-o', 'drill.yaml'])).code).toBe(0);
  expect((await cli(dir, ['drill', '--plan', 'drill.yaml', '--dry-run'])).code).toBe(0);
  // Another copy moves on: this one is now older than one seen on this machine.
  mkdirSync(join(dir, 'copy'));
  cpSync(join(dir, 'secrets.vault'), join(dir, 'copy/secrets.vault'));
  expect((await cli(dir, ['add', 'c/d', '-t', 'kek', '--generate', '--vault-file', 'copy/secrets.vault'])).code).toBe(0);
});
afterAll(() => cleanup());

describe('a drill on a vault copy older than one seen', () => {
  it('fails at opening the vault, the dry run too, with the fix; nothing is restored', async () => {
    for (const args of [['--dry-run'], []]) {
      const r = await cli(dir, ['drill', '--plan', 'drill.yaml', ...args]);
      expect(r.code, r.stderr).toBe(8);
      const lines = r.stderr.trim().split('\n').slice(-2);
      expect(lines[0]).toMatch(
        /^vault-tool: error: the (dry run|drill) failed at "open the vault with the recovered key": the drill records itself in this vault's evidence log, which is refused: this copy of vault \w+ is at generation \d+, but generation \d+ was seen on this machine/,
      );
      expect(lines[1]).toBe(
        'vault-tool: hint: use the newest copy; to go on from this one (a deliberate rollback, losing what the newer copy holds), add --allow-rollback',
      );
      expect(r.stdout).toContain('to do (open the vault with the recovered key): use the newest copy');
      expect(existsSync(join(dir, 'drill-scratch'))).toBe(false);
    }
  });

  it('with --allow-rollback, as the hint says, the drill runs and passes', async () => {
    const r = await cli(dir, ['drill', '--plan', 'drill.yaml', '--allow-rollback']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('drill passed');
  });
});
