import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

const PP = { PP: 'correct horse battery' };
const pp = ['--passphrase-env', 'PP'];
const armored = (f: string) => readFileSync(join(dir, f), 'utf8').startsWith('-----BEGIN AGE ENCRYPTED FILE-----\n');
const shares = (sub: string) =>
  readdirSync(join(dir, sub))
    .filter((f) => f.endsWith('.share'))
    .map((f) => join(dir, sub, f));

describe('every path that writes a key file keeps the protection the old one had', () => {
  beforeEach(async () => {
    expect((await cli(dir, ['init', '--passphrase', ...pp, '--work-factor', '10'], { env: PP })).code).toBe(0);
    expect(armored('vault.key')).toBe(true);
    expect((await cli(dir, ['add', 'k', '-t', 'kek', '--generate', ...pp], { env: PP })).code).toBe(0);
  });

  it('rekey: the new key file is protected, before and after --confirm', async () => {
    const r = await cli(dir, ['rekey', '--json', ...pp], { env: PP });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).protected).toBe(true);
    expect(armored('vault.key.new')).toBe(true);
    expect((await cli(dir, ['rekey', '--confirm', ...pp], { env: PP })).code).toBe(0);
    expect(armored('vault.key')).toBe(true);
    expect((await cli(dir, ['list'])).code).toBe(14);
    expect((await cli(dir, ['list', ...pp], { env: PP })).code).toBe(0);
  });

  it('escrow reshare --rekey: the new vault.key is protected', async () => {
    expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's1', ...pp], { env: PP })).code).toBe(0);
    const r = await cli(dir, ['escrow', 'reshare', '--rekey', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's2', ...pp], { env: PP });
    expect(r.code).toBe(0);
    expect(armored('vault.key')).toBe(true);
    expect(existsSync(join(dir, 'vault.key.new'))).toBe(false);
    expect((await cli(dir, ['list', ...pp], { env: PP })).code).toBe(0);
  });

  it('escrow combine: a recovered key is protected when the vault key was (the vault records it)', async () => {
    expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's1', ...pp], { env: PP })).code).toBe(0);
    rmSync(join(dir, 'vault.key'));
    const none = await cli(dir, ['escrow', 'combine', ...shares('s1'), '-o', 'vault.key']);
    expect(none.code).toBe(14);
    expect(none.stderr).toContain('vault-tool: error: a passphrase is needed and standard input is not a terminal');
    expect(existsSync(join(dir, 'vault.key'))).toBe(false);
    const c = await cli(dir, ['escrow', 'combine', ...shares('s1'), '-o', 'vault.key', ...pp], { env: PP });
    expect(c.code).toBe(0);
    expect(c.stdout).toContain('(mode 0600, passphrase-protected)');
    expect(armored('vault.key')).toBe(true);
    expect((await cli(dir, ['list', ...pp], { env: PP })).code).toBe(0);
  });

  it('escrow combine --force over a protected key file keeps it protected and keeps the old file aside', async () => {
    expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's1', ...pp], { env: PP })).code).toBe(0);
    const before = readFileSync(join(dir, 'vault.key'));
    const c = await cli(dir, ['escrow', 'combine', ...shares('s1'), '-o', 'vault.key', '--force', ...pp], { env: PP });
    expect(c.code).toBe(0);
    expect(armored('vault.key')).toBe(true);
    const aside = readdirSync(dir).filter((f) => f.startsWith('vault.key.replaced-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dir, aside[0]!)).equals(before)).toBe(true);
  });
});

describe('escrow combine never replaces the working key with one that does not open the vault', () => {
  beforeEach(async () => {
    expect((await cli(dir, ['init'])).code).toBe(0);
    expect((await cli(dir, ['add', 'k', '-t', 'kek', '--generate'])).code).toBe(0);
    expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'old-shares'])).code).toBe(0);
    expect((await cli(dir, ['rekey'])).code).toBe(0);
    expect((await cli(dir, ['rekey', '--confirm'])).code).toBe(0);
  });

  it('old shares over vault.key --force: refused before anything is written, naming both key ids', async () => {
    const key = readFileSync(join(dir, 'vault.key'));
    const r = await cli(dir, ['escrow', 'combine', ...shares('old-shares'), '-o', 'vault.key', '--force']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /^vault-tool: error: the recovered key \(key id [0-9a-f]{16}\) does not open .*secrets\.vault, which opens with key id [0-9a-f]{16}: the shares are from a split of an older key\nvault-tool: hint: use the shares of the current set/,
    );
    expect(readFileSync(join(dir, 'vault.key')).equals(key)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('replaced'))).toEqual([]);
    expect((await cli(dir, ['list'])).code).toBe(0);
  });

  it('--skip-vault-check writes it, and the key that opens the vault is kept aside, never destroyed', async () => {
    const key = readFileSync(join(dir, 'vault.key'));
    const r = await cli(dir, ['escrow', 'combine', ...shares('old-shares'), '-o', 'vault.key', '--force', '--skip-vault-check']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/the key file it replaced is kept as .*vault\.key\.replaced-/);
    const aside = readdirSync(dir).find((f) => f.startsWith('vault.key.replaced-'))!;
    expect(readFileSync(join(dir, aside)).equals(key)).toBe(true);
    expect((await cli(dir, ['list'])).code).toBe(3);
    expect((await cli(dir, ['list', '--key-file', aside])).code).toBe(0);
  });

  it('old shares into a new file: written (it opens older copies), with a warning saying so', async () => {
    const r = await cli(dir, ['escrow', 'combine', ...shares('old-shares'), '-o', 'old.key']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: key id [0-9a-f]{16} does not open .*secrets\.vault: the shares are from a split of an older key/);
    const old = readdirSync(dir).find((f) => f.startsWith('vault.key.old-'))!;
    expect(readFileSync(join(dir, 'old.key'), 'utf8')).toContain(
      readFileSync(join(dir, old), 'utf8')
        .split('\n')
        .find((l) => l.startsWith('# key id:'))!,
    );
  });
});
