import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

/**
 * Files vault-tool finds by name alone: a backup's manifest beside it
 * (FILE.age.manifest.json) and the restore policy beside the vault. An
 * output never makes one anew, and never replaces a restore policy, whatever
 * it is named.
 */
let dir: string;
let cleanup: () => void;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
  expect((await cli(dir, ['add', 'a/b', '-t', 'kek', '--generate'])).code).toBe(0);
});
afterEach(() => cleanup());

const POLICY = 'apiVersion: vault-tool/v1\nkind: RestorePolicy\nprotect:\n  folders: [/srv/app]\n';

describe('an output never takes the name of a file vault-tool finds by name', () => {
  it.each([
    ['a backup manifest', 'repo/files/config/20261207T120000Z-deadbeef.tar.age.manifest.json'],
    ['a restore policy', 'restore-policy.yaml'],
    ['a restore policy', 'k8s-policy.yaml'],
  ])('%s: %s', async (what, name) => {
    mkdirSync(join(dir, 'repo/files/config'), { recursive: true });
    for (const args of [
      ['get', 'a/b', '--out', name],
      ['export', 'env', '-o', name],
    ]) {
      const r = await cli(dir, args);
      expect(r.stderr, args.join(' ')).toBe(
        `vault-tool: error: refusing to write ${join(dir, name)}: its name is that of ${what}, which vault-tool reads as its own\n` +
          'vault-tool: hint: choose another output file\n',
      );
      expect(r.code).toBe(10);
      expect(existsSync(join(dir, name))).toBe(false);
    }
  });

  it('a signing key made on first use is never made at such a name (the vault lock), nor under a name ending in /', async () => {
    writeFileSync(join(dir, 'f'), 'x');
    const lock = await cli(dir, ['backup', 'files', 'f', '-r', 'repo', '--signing-key', 'secrets.vault.lock']);
    expect(lock.stderr).toBe(
      `vault-tool: error: refusing to write ${join(dir, 'secrets.vault.lock')}: its name is that of a lock file, which vault-tool reads as its own\n` +
        'vault-tool: hint: choose another output file\n',
    );
    expect(lock.code).toBe(10);
    expect(existsSync(join(dir, 'secrets.vault.lock'))).toBe(false);
    // Refused before anything was written: the backup key was not made on the way.
    expect((await cli(dir, ['list', '--json'])).stdout).not.toContain('backup/identity');
    const slash = await cli(dir, ['backup', 'files', 'f', '-r', 'repo', '--signing-key', 'keys/']);
    expect(slash.stderr).toBe(
      'vault-tool: error: cannot use keys/: a path ending in / names a folder, not a file\nvault-tool: hint: name a file: drop the trailing slash, or add the file name after it\n',
    );
    expect(slash.code).toBe(2);
    expect(existsSync(join(dir, 'keys'))).toBe(false);
    expect((await cli(dir, ['add', 'c/d', '-t', 'kek', '--generate'])).code).toBe(0);
  });

  it.each([
    ['as written by hand', POLICY],
    ['quoted', 'apiVersion: "vault-tool/v1"\nkind: "RestorePolicy"\nprotect:\n  folders: [/srv/app]\n'],
    ['with comments, kind first', "kind: RestorePolicy # the officer's\napiVersion: 'vault-tool/v1'\nprotect:\n  folders: [/srv/app]\n"],
    ['as JSON', '{"apiVersion": "vault-tool/v1", "kind": "RestorePolicy", "protect": {"folders": ["/srv/app"]}}\n'],
  ])('a restore policy %s is never replaced, even with --force and under another name', async (_how, policy) => {
    for (const name of ['restore-policy.yaml', 'prod-policy.yaml']) {
      writeFileSync(join(dir, name), policy);
      for (const args of [
        ['get', 'a/b', '--out', name, '--force'],
        ['export', 'env', '-o', name, '--force'],
      ]) {
        const r = await cli(dir, args);
        expect(r.stderr, args.join(' ')).toBe(
          `vault-tool: error: refusing to replace ${join(dir, name)}: it is a restore policy\nvault-tool: hint: choose another output file\n`,
        );
        expect(r.code).toBe(10);
        expect(readFileSync(join(dir, name), 'utf8')).toBe(policy);
      }
    }
  });
});

describe('an output named -', () => {
  it('is refused before anything runs, not written as a file named - in the working folder', async () => {
    expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'ann', '-c', 'bob', '-o', 'shares'])).code).toBe(0);
    for (const args of [
      ['get', 'a/b', '--out', '-'],
      ['export', 'env', '-o', '-'],
      ['escrow', 'combine', '-o', '-', 'shares/share-01-ann.share', 'shares/share-02-bob.share'],
      ['verify', '--report', '-'],
      ['list', '--vault-file', '-'],
    ]) {
      const r = await cli(dir, args);
      expect(r.stderr, args.join(' ')).toBe(
        'vault-tool: error: cannot use -: it names no file here (vault-tool writes no file to standard output through -)\n' +
          'vault-tool: hint: name a file (./- for one named -); to print, leave the option out where the command prints (vault-tool get NAME | …)\n',
      );
      expect(r.code).toBe(2);
      expect(existsSync(join(dir, '-'))).toBe(false);
    }
    // ./- is a file named -, as asked.
    expect((await cli(dir, ['get', 'a/b', '--out', './-'])).code).toBe(0);
    expect(readFileSync(join(dir, '-'), 'utf8')).toBe((await cli(dir, ['get', 'a/b'])).stdout);
  });
});
