import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

const HINT =
  'vault-tool: hint: name the vault and its key file apart with --vault-file/--key-file (or VAULT_TOOL_VAULT_FILE, VAULT_TOOL_KEY_FILE), renaming a vault or key file already kept so\n';

describe('a vault and its key file at names where one would lose the other are refused before anything is written', () => {
  it.each([
    [
      'the key at the vault lock (every write takes and removes it)',
      'v.vault',
      'v.vault.lock',
      'the key file is named as a lock file (v.vault.lock), which vault-tool reads as its own',
    ],
    [
      "the key at the vault's evidence log",
      'v.vault',
      'v.vault.evidence.jsonl',
      'the key file is named as an evidence log (v.vault.evidence.jsonl), which vault-tool reads as its own',
    ],
    [
      "the vault at the key's pending rekey (a rekey writes the new key there)",
      'k.new',
      'k',
      'the vault is at the name of a file the key brings beside it (k.new)',
    ],
    [
      'the vault at a key kept by a rekey',
      'k.old-0011223344556677',
      'k',
      'the vault is at the name of a file the key brings beside it (k.old-0011223344556677)',
    ],
    ['the vault named as a lock', 'a.lock', 'k', 'the vault is named as a lock file (a.lock), which vault-tool reads as its own'],
    ['one file for both', 'same', 'same', 'they are the same file'],
  ])('%s', async (_, vault, key, why) => {
    const r = await cli(dir, ['init', '--vault-file', vault, '--key-file', key]);
    expect(r.stderr).toBe(`vault-tool: error: the vault ${join(dir, vault)} and its key file ${join(dir, key)} cannot be kept so: ${why}\n${HINT}`);
    expect(r.code).toBe(2);
    expect(readdirSync(dir).filter((f) => f !== '.state')).toEqual([]);
  });

  it('also from the environment, and for every command (a vault made so before is named, never opened and written)', async () => {
    const r = await cli(dir, ['list'], { env: { VAULT_TOOL_VAULT_FILE: 'v.vault', VAULT_TOOL_KEY_FILE: 'v.vault.lock' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot be kept so: the key file is named as a lock file (v.vault.lock)');
  });

  it('the rekey of a vault at the name of its key plus .new no longer overwrites the new key with the vault', async () => {
    const r = await cli(dir, ['rekey', '--vault-file', 'k.new', '--key-file', 'k']);
    expect(r.code).toBe(2);
  });
});

describe("a file at a vault's lock that is not a lock is never removed as a stale lock", () => {
  beforeEach(async () => {
    expect((await cli(dir, ['init'])).code).toBe(0);
  });

  it('whatever its age: the write fails (exit 9), naming it, and the file stays as it was', async () => {
    const lock = join(dir, 'secrets.vault.lock');
    const held = readFileSync(join(dir, 'vault.key'));
    writeFileSync(lock, held, { mode: 0o600 });
    const old = new Date(Date.now() - 3600_000);
    utimesSync(lock, old, old);
    const r = await cli(dir, ['add', 'a/b', '-t', 'kek', '--generate']);
    expect(r.stderr).toBe(
      `vault-tool: error: vault cannot be locked: ${lock} is in the way, and it is not a lock file vault-tool wrote\n` +
        `vault-tool: hint: move ${lock} elsewhere (look first at what it holds: vault-tool never removes it)\n`,
    );
    expect(r.code).toBe(9);
    expect(readFileSync(lock).equals(held)).toBe(true);
    expect((await cli(dir, ['list', '--json'])).stdout).not.toContain('a/b');
  });

  it('a lock cut short by an older release (empty, or its JSON begun) is still taken over once old', async () => {
    const lock = join(dir, 'secrets.vault.lock');
    for (const cut of ['', '{"pid":12', '{', '{"host":"h","pi']) {
      writeFileSync(lock, cut);
      const old = new Date(Date.now() - 3600_000);
      utimesSync(lock, old, old);
      const r = await cli(dir, ['add', `a/${cut.length}`, '-t', 'kek', '--generate']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(existsSync(lock)).toBe(false);
    }
  });
});
