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
    [['backup', 'files', '-C', 'tree', 'f', '-r='], '-r=', 'give -r VALUE, or --repo=VALUE'],
    // Options whose value commander parses (a whole number, a choice) are checked before the parser runs.
    [['escrow', 'split', '-k=3', '-c', 'Ann', '-c', 'Bob', '-c', 'Cy', '-o', 'sh'], '-k=3', 'give -k 3, or --threshold=3'],
  ])('%j is refused before anything is written', async (args, word, hint) => {
    mkdirSync(join(dir, 'tree'));
    writeFileSync(join(dir, 'tree/f'), 'x');
    const before = readdirSync(dir).sort();
    const r = await cli(dir, args);
    expect(r.stderr).toBe(`vault-tool: error: ${word}: a short option takes no =, so its value would be "${word.slice(2)}"\nvault-tool: hint: ${hint}\n`);
    expect(r.code).toBe(2);
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('-o=json on a command that prints a structure: the error event names the fix, not the choices json and yaml', async () => {
    const r = await cli(dir, ['list', '-o=json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(JSON.parse(r.stderr)).toMatchObject({
      type: 'error',
      code: 'option-short-equals',
      message: '-o=json: a short option takes no =, so its value would be "=json"',
      hint: 'give -o json, or --output=json',
    });
  });

  it('a value that truly starts with = (its own word), and words after --, are left as they are', async () => {
    const r = await cli(dir, ['get', 'a/b', '-o', '=kek.bin']);
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, '=kek.bin'))).toBe(true);
    const run = await cli(dir, ['run', '--env', 'K=a/b', '--', 'sh', '-c', 'test -n "$K"', '-r=x']);
    expect(run.code).toBe(0);
  });
});

describe('an option given an empty value (a variable not set: --out "$FILE")', () => {
  it('is refused before anything runs: get --out "" never prints the value instead', async () => {
    for (const [long, args] of [
      ['--out', ['get', 'a/b', '--out', '']],
      ['--out', ['get', 'a/b', '--out=']],
      ['--vault-file', ['list', '--vault-file', '']],
      ['--report', ['verify', '--report', '']],
      ['--custodian', ['escrow', 'split', '-k', '2', '-c', 'Ann', '-c', '', '-o', 'sh']],
      ['--threshold', ['escrow', 'split', '-k', '', '-c', 'Ann', '-c', 'Bob', '-o', 'sh']],
    ] as const) {
      const r = await cli(dir, [...args]);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr).toBe(
        `vault-tool: error: ${long} was given an empty value\n` +
          `vault-tool: hint: give ${long} a value (a variable that is not set gives an empty one), or leave it out for its default\n`,
      );
      expect(r.code).toBe(2);
    }
  });

  it('VAULT_TOOL_STATE_DIR set empty is not set, nor is a relative XDG_STATE_HOME: the state never lands in the working folder', async () => {
    for (const env of [{ VAULT_TOOL_STATE_DIR: '' }, { VAULT_TOOL_STATE_DIR: '', XDG_STATE_HOME: 'rel' }]) {
      const r = await cli(dir, ['add', `x/${Object.keys(env).length}`, '-t', 'kek', '--generate'], { env });
      expect(r.code).toBe(0);
      expect(existsSync(join(dir, 'seen.json'))).toBe(false);
      expect(existsSync(join(dir, 'rel'))).toBe(false);
      expect(existsSync(join(dir, '.local/state/vault-tool/seen.json'))).toBe(true);
    }
  });

  it('VAULT_TOOL_VAULT_FILE or VAULT_TOOL_KEY_FILE set empty is not set: the defaults', async () => {
    const r = await cli(dir, ['list'], { env: { VAULT_TOOL_VAULT_FILE: '', VAULT_TOOL_KEY_FILE: '' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('a/b');
  });
});
