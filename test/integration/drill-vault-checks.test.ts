import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

/**
 * What the drill checks when it opens the vault, before anything is
 * restored, in the dry run too, each with its fix:
 * - it records itself in the vault's evidence log: on a copy older than one
 *   this machine has seen, that write is refused (it restored everything,
 *   then failed);
 * - shares of a set split since (escrow reshare without --rekey) still open
 *   the key: a drill with them passed without rehearsing the custodians'
 *   current shares.
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
      // Each read of the stale copy meets the same condition: said once.
      expect(r.stderr.split('\n').filter((l) => l.startsWith('vault-tool: warning: this copy of vault'))).toHaveLength(1);
      expect(existsSync(join(dir, 'drill-scratch'))).toBe(false);
    }
  });

  it('with --allow-rollback, as the hint says, the drill runs and passes', async () => {
    const r = await cli(dir, ['drill', '--plan', 'drill.yaml', '--allow-rollback']);
    expect(r.code, r.stderr).toBe(0);
    // Each read of the stale copy meets the same condition: each warning is said once.
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('vault-tool: warning:'));
    expect(warnings.length).toBeGreaterThan(0);
    expect(new Set(warnings).size).toBe(warnings.length);
    expect(r.stderr).toContain('drill passed');
  });
});

describe('a drill with the shares of a set split since', () => {
  it('fails at opening the vault, naming both sets; with the current shares it passes', async () => {
    const d = tempDir('vt-drill-set-');
    try {
      expect((await cli(d.dir, ['init'])).code).toBe(0);
      expect((await cli(d.dir, ['escrow', 'split', '-k', '2', '-c', 'ann', '-c', 'bob', '-c', 'cy', '-o', 'old'])).code).toBe(0);
      expect((await cli(d.dir, ['escrow', 'reshare', '-k', '2', '-c', 'dee', '-c', 'eve', '-o', 'new'])).code).toBe(0);
      const plan = (files: string[]) => `apiVersion: vault-tool/v1\nkind: DrillPlan\nshares:\n  files: [${files.join(', ')}]\n`;
      writeFileSync(join(d.dir, 'old.yaml'), plan(['old/share-01-ann.share', 'old/share-02-bob.share']));
      const r = await cli(d.dir, ['drill', '--plan', 'old.yaml', '--dry-run']);
      expect(r.code).toBe(8);
      expect(r.stderr.trim().split('\n').slice(-2)).toEqual([
        expect.stringMatching(
          /^vault-tool: error: the dry run failed at "open the vault with the recovered key": the shares of ann, bob are of share set \w{16} \(epoch 1\), and the vault's current set is \w{16} \(epoch 2: dee, eve\): they still open the key, but the drill rehearses the current shares$/,
        ),
        'vault-tool: hint: name the current share files under shares.files (escrow status names the set and its custodians)',
      ]);
      writeFileSync(join(d.dir, 'new.yaml'), plan(['new/share-01-dee.share', 'new/share-02-eve.share']));
      const ok = await cli(d.dir, ['drill', '--plan', 'new.yaml']);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      d.cleanup();
    }
  });
});
