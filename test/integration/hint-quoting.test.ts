import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/cli/hints.js';
import { cli, tempDir } from '../helpers/cli.js';

/**
 * A command a hint gives to copy is one sh reads as meant: a path with a
 * space or a quote, a database named "my db", is quoted, so pasting it
 * never runs a command on another file.
 */
let dir: string;
let cleanup: () => void;
let home: string;
beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-quoting-'));
  home = join(dir, "ops keys/Ann's ü");
  mkdirSync(home, { recursive: true });
  expect((await cli(home, ['init'])).code).toBe(0);
});
afterAll(() => cleanup());

/** The command in a hint, run by sh with echo in front: the words sh reads. */
const words = (command: string) =>
  execFileSync('sh', ['-c', `for w in ${command}; do printf '%s\\n' "$w"; done`], { encoding: 'utf8' })
    .trim()
    .split('\n');

describe('commands in hints are quoted for sh', () => {
  it('the chmod for a key file others can read', async () => {
    chmodSync(join(home, 'vault.key'), 0o640);
    const r = await cli(home, ['list']);
    chmodSync(join(home, 'vault.key'), 0o600);
    expect(r.code).toBe(13);
    const command = /hint: run: (chmod 600 .*)$/m.exec(r.stderr)![1]!;
    expect(words(command.replace(/^chmod /, ''))).toEqual(['600', join(home, 'vault.key')]);
  });

  it('the combine for a missing key file', async () => {
    renameSync(join(home, 'vault.key'), join(home, 'aside.key'));
    const r = await cli(home, ['list']);
    renameSync(join(home, 'aside.key'), join(home, 'vault.key'));
    expect(r.code).toBe(5);
    const command = /`vault-tool escrow combine -o (.*) SHARE…`/.exec(r.stderr)![1]!;
    expect(words(command)).toEqual([join(home, 'vault.key')]);
  });

  it('the mv that puts a replaced key back, and the createdb of a database to restore into', () => {
    const mv = (ERROR_CODES['wrong-key-replaced'].hint as (d: Record<string, string>) => string)({
      keptAside: join(home, 'vault.key.replaced-x'),
      keyFile: join(home, 'vault.key'),
    });
    expect(words(/`mv (.*)`/.exec(mv)![1]!)).toEqual([join(home, 'vault.key.replaced-x'), join(home, 'vault.key')]);
    const createdb = (ERROR_CODES['restore-db-missing'].hint as (d: Record<string, string>) => string)({ database: "my db'; drop" });
    expect(words(/\(createdb (.*)\)$/.exec(createdb)![1]!)).toEqual(["my db'; drop"]);
  });
});
