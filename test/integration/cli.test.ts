import { chmodSync, copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => void;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
});
afterEach(() => cleanup());

const KEK = Buffer.alloc(32, 7).toString('base64');

describe('init', () => {
  it('creates both files with mode 0600 and refuses to overwrite them', async () => {
    expect(statSync(join(dir, 'vault.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'secrets.vault')).mode & 0o777).toBe(0o600);
    const key = readFileSync(join(dir, 'vault.key'), 'utf8');
    expect(key).toMatch(/^# created: /m);
    expect(key).toMatch(/^# public key: age1[0-9a-z]{58}$/m);
    expect(key).toMatch(/^# key id: [0-9a-f]{16}$/m);
    expect(key).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/m);
    const r = await cli(dir, ['init']);
    expect(r.code).toBe(10);
    expect(r.stderr).toMatch(/^vault-tool: error: key file .*vault\.key already exists; refusing to overwrite it$/m);
    expect(readFileSync(join(dir, 'vault.key'), 'utf8')).toBe(key);
  });

  it('protects the key with a passphrase from a named env var, and needs it to open', async () => {
    const r = await cli(dir, ['init', '--vault-file', 'p.vault', '--key-file', 'p.key', '--passphrase', '--passphrase-env', 'PW', '--work-factor', '10'], {
      env: { PW: 'correct horse' },
    });
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'p.key'), 'utf8')).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----\n/);
    const g = ['--vault-file', 'p.vault', '--key-file', 'p.key'];
    expect((await cli(dir, [...g, 'list', '--passphrase-env', 'PW'], { env: { PW: 'correct horse' } })).code).toBe(0);
    const wrong = await cli(dir, [...g, 'list', '--passphrase-env', 'PW'], { env: { PW: 'wrong' } });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain('vault-tool: error: wrong passphrase for the key file');
    const none = await cli(dir, [...g, 'list']);
    expect(none.code).toBe(14);
    expect(none.stderr).toContain('hint: use --passphrase-env VAR or --passphrase-file FILE');
    const viaStdin = await cli(dir, [...g, 'list', '--passphrase-file', '-'], { stdin: 'correct horse\n' });
    expect(viaStdin.code).toBe(0);
    // A value and the passphrase cannot both come from stdin: said, with the other ways to give one.
    const both = await cli(dir, [...g, 'add', 'x', '-t', 'generic', '--from-stdin', '--passphrase-file', '-'], { stdin: 'v\n' });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(
      /^vault-tool: error: standard input is already used; cannot also read .* from it\nvault-tool: hint: give one of them another way: a passphrase with --passphrase-env VAR or --passphrase-file FILE, a value with --from-file FILE or --from-env VAR\n$/,
    );
  });
});

describe('add, get, list, history, rotate, rm', () => {
  it('round-trips values from every source, exactly', async () => {
    expect((await cli(dir, ['add', 'k1', '-t', 'kek', '--from-stdin'], { stdin: KEK + '\n' })).code).toBe(0);
    writeFileSync(join(dir, 'v.txt'), 'line one\nline two\n');
    expect((await cli(dir, ['add', 'g1', '-t', 'generic', '--from-file', 'v.txt'])).code).toBe(0);
    expect((await cli(dir, ['add', 'p1', '-t', 'password', '--from-env', 'PW'], { env: { PW: 'hunter2hunter2' } })).code).toBe(0);
    expect((await cli(dir, ['add', 'i1', '-t', 'infisical-encryption-key', '--generate'])).code).toBe(0);
    expect((await cli(dir, ['get', 'k1'])).stdout).toBe(KEK);
    expect((await cli(dir, ['get', 'g1'])).stdout).toBe('line one\nline two\n');
    expect((await cli(dir, ['get', 'p1'])).stdout).toBe('hunter2hunter2');
    expect((await cli(dir, ['get', 'i1'])).stdout).toMatch(/^[0-9a-f]{32}$/);
  });

  it('refuses a malformed value with the rule it broke, and changes nothing', async () => {
    const before = readFileSync(join(dir, 'secrets.vault'));
    const r = await cli(dir, ['add', 'k', '-t', 'infisical-encryption-key', '--from-env', 'V'], { env: { V: 'ABCDEF0123456789ABCDEF0123456789' } });
    expect(r.code).toBe(11);
    expect(r.stderr).toBe('vault-tool: error: value refused: infisical-encryption-key must be exactly 32 lowercase hex characters (16 bytes)\n');
    expect(r.stderr).not.toContain('ABCDEF');
    expect(readFileSync(join(dir, 'secrets.vault')).equals(before)).toBe(true);
  });

  it('never takes a value from argv and never prints one to a terminal without --reveal', async () => {
    const noSource = await cli(dir, ['add', 'x', '-t', 'kek']);
    expect(noSource.code).toBe(2);
    expect(noSource.stderr).toContain('hint: use --generate, --from-file FILE, --from-stdin or --from-env VAR');
    await cli(dir, ['add', 'k', '-t', 'kek', '--from-env', 'V'], { env: { V: KEK } });
    const tty = await cli(dir, ['get', 'k'], { stdoutIsTTY: true });
    expect(tty.code).toBe(2);
    expect(tty.stdout).toBe('');
    expect(tty.stderr).toContain('refusing to print a secret to a terminal');
    const revealed = await cli(dir, ['get', 'k', '--reveal'], { stdoutIsTTY: true });
    expect(revealed.stdout).toBe(KEK + '\n');
    const two = await cli(dir, ['add', 'y', '-t', 'kek', '--generate', '--from-env', 'V'], { env: { V: KEK } });
    expect(two.code).toBe(2);
    expect(two.stderr.split('\n')[0]).toBe("vault-tool: error: option '--generate' cannot be used with option '--from-env <VAR>'");
  });

  it('writes --out files 0600 and refuses to replace one without --force', async () => {
    await cli(dir, ['add', 'k', '-t', 'kek', '--from-env', 'V'], { env: { V: KEK } });
    expect((await cli(dir, ['get', 'k', '--out', 'k.out'])).code).toBe(0);
    expect(statSync(join(dir, 'k.out')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'k.out'), 'utf8')).toBe(KEK);
    expect((await cli(dir, ['get', 'k', '--out', 'k.out'])).code).toBe(10);
    expect((await cli(dir, ['get', 'k', '--out', 'k.out', '--force'])).code).toBe(0);
  });

  it('keeps every version: rotate, history, get NAME@V, add --update', async () => {
    await cli(dir, ['add', 'k', '-t', 'kek', '--from-env', 'V'], { env: { V: KEK } });
    const dup = await cli(dir, ['add', 'k', '-t', 'kek', '--generate']);
    expect(dup.code).toBe(10);
    expect(dup.stderr).toContain('entry k already exists');
    const rot = await cli(dir, ['rotate', 'k', '--json']);
    expect(JSON.parse(rot.stdout)).toMatchObject({ name: 'k', status: 'updated', version: 2 });
    const v2 = (await cli(dir, ['get', 'k'])).stdout;
    expect(v2).not.toBe(KEK);
    expect((await cli(dir, ['get', 'k@1'])).stdout).toBe(KEK);
    expect((await cli(dir, ['get', 'k@2'])).stdout).toBe(v2);
    const missing = await cli(dir, ['get', 'k@3']);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain('entry k has no version 3 (versions 1 to 2)');
    const same = await cli(dir, ['add', 'k', '-t', 'kek', '--update', '--from-env', 'V', '--json'], { env: { V: v2 } });
    expect(JSON.parse(same.stdout)).toMatchObject({ status: 'unchanged', version: 2 });
    const h = JSON.parse((await cli(dir, ['history', 'k', '--json'])).stdout);
    expect(h.versions.map((v: { version: number; source: string }) => [v.version, v.source])).toEqual([
      [1, 'imported'],
      [2, 'rotated'],
    ]);
  });

  it('lists names, types, versions and fingerprints, never values', async () => {
    await cli(dir, ['add', 'k', '-t', 'kek', '--from-env', 'V', '-l', 'zone=eu'], { env: { V: KEK } });
    await cli(dir, ['add', 'p', '-t', 'password', '--from-env', 'V'], { env: { V: 'a-password-123' } });
    const human = await cli(dir, ['list']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^NAME +TYPE +VERSION +UPDATED +FINGERPRINT\nk +kek +1 +\S+Z +fp:[0-9a-f]{24}\np +password +1 /);
    expect(human.stdout + human.stderr).not.toContain(KEK);
    expect(human.stdout + human.stderr).not.toContain('a-password-123');
    const j = JSON.parse((await cli(dir, ['list', '--json', '--versions'])).stdout);
    expect(j.entries.map((e: { name: string }) => e.name)).toEqual(['k', 'p']);
    expect(JSON.stringify(j)).not.toContain(KEK);
    expect(JSON.parse((await cli(dir, ['list', '--json', '-l', 'zone=eu'])).stdout).entries).toHaveLength(1);
  });

  it('rm needs --force for key material, keeps history, --purge erases', async () => {
    await cli(dir, ['add', 'k', '-t', 'kek', '--from-env', 'V'], { env: { V: KEK } });
    const noForce = await cli(dir, ['rm', 'k']);
    expect(noForce.code).toBe(2);
    expect(noForce.stderr).toBe(
      'vault-tool: error: k is a kek: removing key material must be forced\nvault-tool: hint: add --force (old backups may need this key; its history is kept unless --purge)\n',
    );
    expect((await cli(dir, ['rm', 'k', '--force'])).code).toBe(0);
    const gone = await cli(dir, ['get', 'k']);
    expect(gone.code).toBe(5);
    expect(gone.stderr).toMatch(/entry k was removed on /);
    expect((await cli(dir, ['get', 'k@1'])).stdout).toBe(KEK);
    expect(JSON.parse((await cli(dir, ['list', '--json'])).stdout).entries).toHaveLength(0);
    expect(JSON.parse((await cli(dir, ['list', '--json', '--deleted'])).stdout).entries).toHaveLength(1);
    expect((await cli(dir, ['rm', 'k', '--force', '--purge'])).code).toBe(0);
    expect((await cli(dir, ['get', 'k@1'])).code).toBe(5);
  });
});

describe('opening copies: the operator check', () => {
  it('names the key ids when the key file is wrong, before decrypting', async () => {
    await cli(dir, ['init', '--vault-file', 'o.vault', '--key-file', 'o.key']);
    const r = await cli(dir, ['list', '--key-file', 'o.key']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^vault-tool: error: this vault opens with key id [0-9a-f]{16}; the key file holds key id [0-9a-f]{16}\n/);
  });

  it('refuses a truncated copy with an integrity error', async () => {
    await cli(dir, ['add', 'k', '-t', 'kek', '--generate']);
    const full = readFileSync(join(dir, 'secrets.vault'));
    for (const cut of [1, 17, full.length - 200, full.length - 1]) {
      writeFileSync(join(dir, 'cut.vault'), full.subarray(0, cut));
      const r = await cli(dir, ['list', '--vault-file', 'cut.vault']);
      expect(r.code, `cut at ${cut}`).toBe(4);
      expect(r.stdout).toBe('');
    }
  });

  it('refuses a key file that group or others can read, naming the chmod', async () => {
    chmodSync(join(dir, 'vault.key'), 0o640);
    const r = await cli(dir, ['list']);
    expect(r.code).toBe(13);
    expect(r.stderr).toContain(`hint: run: chmod 600 ${join(dir, 'vault.key')}`);
  });

  it('reports a missing vault file as not found', async () => {
    const r = await cli(dir, ['list', '--vault-file', 'nope.vault']);
    expect(r.code).toBe(5);
    expect(r.stderr).toBe(`vault-tool: error: vault file not found: ${join(dir, 'nope.vault')}\n`);
  });

  it('uses VAULT_TOOL_VAULT_FILE / VAULT_TOOL_KEY_FILE as defaults', async () => {
    copyFileSync(join(dir, 'secrets.vault'), join(dir, 'copy.vault'));
    const r = await cli(dir, ['list', '--json'], { env: { VAULT_TOOL_VAULT_FILE: 'copy.vault', VAULT_TOOL_KEY_FILE: 'vault.key' } });
    expect(r.code).toBe(0);
  });

  it('warns about a stale copy (rollback), and --strict refuses it', async () => {
    copyFileSync(join(dir, 'secrets.vault'), join(dir, 'old.vault'));
    await cli(dir, ['add', 'k', '-t', 'kek', '--generate']);
    await cli(dir, ['list']);
    const warn = await cli(dir, ['list', '--vault-file', 'old.vault']);
    expect(warn.code).toBe(0);
    expect(warn.stderr).toMatch(/vault-tool: warning: this copy of vault [0-9a-f]{12} is at generation 1, but generation 2 was seen on this machine/);
    const strict = await cli(dir, ['list', '--vault-file', 'old.vault', '--strict']);
    expect(strict.code).toBe(12);
  });
});

describe('recipients and rekey', () => {
  it('adds an escrow recipient that can open the vault, and removes it', async () => {
    await cli(dir, ['init', '--vault-file', 'esc.vault', '--key-file', 'esc.key']);
    const pub = /# public key: (age1\S+)/.exec(readFileSync(join(dir, 'esc.key'), 'utf8'))![1]!;
    await cli(dir, ['add', 'k', '-t', 'kek', '--from-env', 'V'], { env: { V: KEK } });
    expect((await cli(dir, ['recipients', 'add', pub, '--label', 'offsite escrow'])).code).toBe(0);
    expect((await cli(dir, ['get', 'k', '--key-file', 'esc.key'])).stdout).toBe(KEK);
    const listed = JSON.parse((await cli(dir, ['recipients', 'list', '--json'])).stdout);
    expect(listed.map((r: { role: string }) => r.role)).toEqual(['vault-key', 'escrow']);
    const bad = await cli(dir, ['recipients', 'add', 'age1notarecipient']);
    expect(bad.code).toBe(11);
    expect((await cli(dir, ['recipients', 'rm', 'offsite escrow'])).code).toBe(0);
    expect((await cli(dir, ['get', 'k', '--key-file', 'esc.key'])).code).toBe(3);
  });

  it('rekeys in two steps: both keys open until confirmed, then only the new one', async () => {
    await cli(dir, ['add', 'k', '-t', 'kek', '--from-env', 'V'], { env: { V: KEK } });
    const start = JSON.parse((await cli(dir, ['rekey', '--json'])).stdout);
    expect(existsSync(join(dir, 'vault.key.new'))).toBe(true);
    expect((await cli(dir, ['get', 'k', '--key-file', 'vault.key.new'])).stdout).toBe(KEK);
    expect((await cli(dir, ['get', 'k'])).stdout).toBe(KEK);
    expect((await cli(dir, ['rekey'])).code).toBe(10);
    const conf = JSON.parse((await cli(dir, ['rekey', '--confirm', '--json'])).stdout);
    expect(conf.newKeyId).toBe(start.newKeyId);
    expect((await cli(dir, ['get', 'k'])).stdout).toBe(KEK);
    expect((await cli(dir, ['get', 'k', '--key-file', `vault.key.old-${start.oldKeyId}`])).code).toBe(3);
    expect(statSync(join(dir, 'vault.key')).mode & 0o777).toBe(0o600);
  });

  it('rekey --abort returns to the old key', async () => {
    await cli(dir, ['rekey']);
    expect((await cli(dir, ['rekey', '--abort'])).code).toBe(0);
    expect(existsSync(join(dir, 'vault.key.new'))).toBe(false);
    expect((await cli(dir, ['list'])).code).toBe(0);
    expect((await cli(dir, ['rekey', '--abort'])).code).toBe(2);
  });
});

describe('dotenv import and export', () => {
  const ENV = [
    '# Infisical bootstrap',
    'ENCRYPTION_KEY=0123456789abcdef0123456789abcdef',
    `export AUTH_SECRET="${Buffer.alloc(32, 1).toString('base64')}"`,
    "DB_URL='postgres://u:p@db:5432/app' # comment",
    'MULTI="line1\\nline2"',
    '',
  ].join('\n');

  it('imports with mappings, re-import adds no version, a change adds one', async () => {
    writeFileSync(join(dir, '.env'), ENV);
    const maps = [
      '--map',
      'ENCRYPTION_KEY=infisical/encryption-key:infisical-encryption-key',
      '--map',
      'AUTH_SECRET=infisical/auth-secret:infisical-auth-secret',
    ];
    const r = await cli(dir, ['import', 'env', '.env', ...maps, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).map((x: { name: string; status: string }) => `${x.name}:${x.status}`)).toEqual([
      'infisical/encryption-key:added',
      'infisical/auth-secret:added',
      'DB_URL:added',
      'MULTI:added',
    ]);
    expect((await cli(dir, ['get', 'MULTI'])).stdout).toBe('line1\nline2');
    const again = JSON.parse((await cli(dir, ['import', 'env', '.env', ...maps, '--json'])).stdout);
    expect(again.every((x: { status: string }) => x.status === 'unchanged')).toBe(true);
    writeFileSync(join(dir, '.env'), ENV.replace('0123456789abcdef0123456789abcdef', 'ffffffffffffffffffffffffffffffff'));
    const changed = JSON.parse((await cli(dir, ['import', 'env', '.env', ...maps, '--json'])).stdout);
    expect(changed[0]).toMatchObject({ status: 'updated', version: 2 });
  });

  it('refuses the whole import when one value is invalid, naming the variable only', async () => {
    writeFileSync(join(dir, '.env'), 'A=fine\nENCRYPTION_KEY=NOT-HEX-SECRET\n');
    const r = await cli(dir, ['import', 'env', '.env', '--map', 'ENCRYPTION_KEY=ek:infisical-encryption-key']);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain('dotenv line 2 (ENCRYPTION_KEY): value refused');
    expect(r.stderr).not.toContain('NOT-HEX-SECRET');
    expect(JSON.parse((await cli(dir, ['list', '--json'])).stdout).entries).toHaveLength(0);
  });

  it('exports a dotenv file that parses back to the same values; --redacted hides them', async () => {
    writeFileSync(join(dir, '.env'), ENV);
    await cli(dir, ['import', 'env', '.env', '--map', 'ENCRYPTION_KEY=infisical/encryption-key:infisical-encryption-key']);
    expect((await cli(dir, ['export', 'env', '--out', 'out.env'])).code).toBe(0);
    expect(statSync(join(dir, 'out.env')).mode & 0o777).toBe(0o600);
    const { parseDotenv } = await import('../../src/vault/dotenv.js');
    const back = Object.fromEntries(parseDotenv(readFileSync(join(dir, 'out.env'), 'utf8')).map((p) => [p.key, p.value]));
    const orig = Object.fromEntries(parseDotenv(ENV).map((p) => [p.key, p.value]));
    expect(back).toEqual(orig);
    const red = await cli(dir, ['export', 'env', '--redacted'], { stdoutIsTTY: true });
    expect(red.code).toBe(0);
    expect(red.stdout).toContain('ENCRYPTION_KEY=***REDACTED***');
    expect(red.stdout).not.toContain('0123456789abcdef');
    expect((await cli(dir, ['export', 'env'], { stdoutIsTTY: true })).code).toBe(2);
  });
});

describe('fingerprints', () => {
  it('compares a deployed value without printing it, and gives sha256 for key material only', async () => {
    await cli(dir, ['add', 'k', '-t', 'kek', '--from-env', 'V'], { env: { V: KEK } });
    await cli(dir, ['add', 'p', '-t', 'password', '--from-env', 'V'], { env: { V: 'a-password-123' } });
    writeFileSync(join(dir, 'deployed'), KEK + '\n');
    expect((await cli(dir, ['fingerprint', 'k', '--compare', 'deployed'])).stdout).toBe('match: k@1\n');
    writeFileSync(join(dir, 'deployed'), KEK.replace('B', 'C'));
    const diff = await cli(dir, ['fingerprint', 'k', '--compare', 'deployed']);
    expect(diff.code).toBe(8);
    expect(diff.stderr).toBe(
      'vault-tool: error: the deployed value differs from k@1, and from every other version of it\n' +
        'vault-tool: hint: the file holds no version of k: check that it is the deployed value itself (not a fingerprint, nor another key), with no extra characters\n',
    );
    // A rotation not yet deployed: the deployed value is the older version, and the message says so, with the fix.
    writeFileSync(join(dir, 'deployed'), `${KEK}\n`);
    expect((await cli(dir, ['rotate', 'k'])).code).toBe(0);
    const older = await cli(dir, ['fingerprint', 'k', '--compare', 'deployed']);
    expect([older.code, older.stdout]).toEqual([8, 'differs: k@2 (it is k@1)\n']);
    expect(older.stderr).toBe(
      'vault-tool: error: the deployed value differs from k@2: it is version 1, an older one\n' +
        'vault-tool: hint: deploy k@2 where it runs (vault-tool get k@2 --out FILE), or compare with the version it should run: vault-tool fingerprint k@1 --compare FILE\n',
    );
    expect(JSON.parse((await cli(dir, ['fingerprint', 'k', '--compare', 'deployed', '--json'])).stdout)).toEqual({
      name: 'k',
      version: 2,
      match: false,
      matchesVersion: 1,
    });
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update(KEK).digest('hex');
    expect((await cli(dir, ['fingerprint', 'k@1', '--sha256'])).stdout).toContain(`sha256:${sha}`);
    const low = await cli(dir, ['fingerprint', 'p', '--sha256']);
    expect(low.code).toBe(2);
    expect(low.stderr).toContain('can be brute-forced');
  });
});

describe('usage errors', () => {
  it('exits 2 with one error line for unknown commands, options and types', async () => {
    const a = await cli(dir, ['frobnicate']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/^vault-tool: error: unknown command 'frobnicate'/);
    const b = await cli(dir, ['add', 'x', '-t', 'nonsense', '--generate']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('unknown entry type: nonsense');
    const c = await cli(dir, ['add', 'bad name', '-t', 'kek', '--generate']);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('invalid entry name');
    const d = await cli(dir, ['add', 't', '-t', 'tls', '--generate']);
    expect(d.code).toBe(2);
    expect(d.stderr).toContain('tls entries cannot be generated');
  });

  it('prints no stack unless VAULT_TOOL_DEBUG=1', async () => {
    const r = await cli(dir, ['list', '--vault-file', 'nope']);
    expect(r.stderr).not.toContain('    at ');
    const d = await cli(dir, ['list', '--vault-file', 'nope'], { env: { VAULT_TOOL_DEBUG: '1' } });
    expect(d.stderr).toContain('    at ');
  });
});
