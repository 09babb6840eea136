import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../helpers/require.js';
import { cli, tempDir } from '../helpers/cli.js';

/**
 * One share a custodian. Names that differ only in case, spacing,
 * punctuation or the form of their letters (Unicode normalization) are one person to those who read them, and shares encrypted
 * to one recipient open with one identity: either would let one person
 * hold two shares, and recover the key with fewer others than the
 * threshold. Refused before anything is written, whether or not the share
 * folder exists yet.
 */
let dir: string;
let cleanup: () => void;
const HAVE_AGE = needs('age-keygen', ['--version']);
beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-custodians-'));
  expect((await cli(dir, ['init'])).code).toBe(0);
});
afterAll(() => cleanup());

describe('escrow split and reshare: one share a custodian', () => {
  it.each([
    [['alice', 'Alice', 'bob'], 'custodian names must be distinct: "alice" and "Alice" differ only in case, spacing, punctuation or the form of their letters'],
    [
      ['Ann Li', 'Ann  Li', 'bob'],
      'custodian names must be distinct: "Ann Li" and "Ann  Li" differ only in case, spacing, punctuation or the form of their letters',
    ],
    [['carol', 'bob', 'carol'], 'custodian names must be distinct: "carol" is given twice'],
    // Jürgen with a combined ü (NFC) and with u and a combining diaeresis (NFD): one name, said once.
    [['J\u00fcrgen', 'Ju\u0308rgen', 'bob'], 'custodian names must be distinct: "J\u00fcrgen" is given twice'],
    [
      ['\uff41\uff4c\uff49\uff43\uff45', 'alice', 'bob'],
      'custodian names must be distinct: "\uff41\uff4c\uff49\uff43\uff45" and "alice" differ only in case, spacing, punctuation or the form of their letters',
    ],
  ])('%j is refused by split and reshare before anything is written', async (names, message) => {
    for (const cmd of ['split', 'reshare']) {
      const r = await cli(dir, ['escrow', cmd, '-k', '2', ...names.flatMap((n) => ['-c', n]), '-o', `new-${cmd}`]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `vault-tool: error: ${message}\nvault-tool: hint: name each custodian once: one person with two shares needs fewer others than the threshold to recover the key\n`,
      );
      expect(existsSync(join(dir, `new-${cmd}`))).toBe(false);
    }
  });

  it.skipIf(!HAVE_AGE)('two custodians with one recipient are refused', async () => {
    execFileSync('age-keygen', ['-o', join(dir, 'bob.key')], { stdio: 'ignore' });
    const r1 = execFileSync('age-keygen', ['-y', join(dir, 'bob.key')], { encoding: 'utf8' }).trim();
    const r = await cli(dir, ['escrow', 'split', '-k', '2', '-c', `bob=${r1}`, '-c', `robert=${r1}`, '-c', 'carol', '-o', 'same']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('vault-tool: error: custodians "bob" and "robert" have the same recipient: both shares would open with one identity\n');
    expect(existsSync(join(dir, 'same'))).toBe(false);
  });

  it('a name is kept in its composed form (NFC): the manifest, the share and the table show one Jürgen however it was typed', async () => {
    const r = await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'Ju\u0308rgen', '-c', 'bob', '-c', 'carol', '-o', 'nfd', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'nfd/manifest.json'), 'utf8'));
    expect(manifest.custodians[0].label).toBe('J\u00fcrgen');
    expect(readFileSync(join(dir, 'nfd/share-01-jurgen.share'), 'utf8')).toContain('# custodian: J\u00fcrgen (share 1 of 3');
    const check = await cli(dir, ['escrow', 'check', 'nfd/share-01-jurgen.share', '--manifest', 'nfd/manifest.json']);
    expect(check.stdout).toContain('for J\u00fcrgen:');
  });

  it('distinct custodians are split as before, in any script', async () => {
    const r = await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'alice', '-c', 'bob', '-c', 'carol', '-o', 'ok']);
    expect(r.code, r.stderr).toBe(0);
    const cyrillic = await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'Алиса', '-c', 'Борис', '-c', 'Вера', '-o', 'ok-2']);
    expect(cyrillic.code, cyrillic.stderr).toBe(0);
    const same = await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'Алиса', '-c', 'АЛИСА', '-c', 'Вера', '-o', 'ok-3']);
    expect(same.code).toBe(2);
  });
});
