import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => void;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

const shareFiles = (d: string) =>
  readdirSync(d)
    .filter((f) => f.endsWith('.share'))
    .map((f) => join(d, f));

describe('escrow combine --force replaces only a key file, and only one checked against a vault', () => {
  beforeEach(async () => {
    expect((await cli(dir, ['init'])).code).toBe(0);
    expect((await cli(dir, ['add', 'a', '-t', 'kek', '--generate'])).code).toBe(0);
    expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-c', 'c', '-o', 'old'])).code).toBe(0);
  });

  it('with no vault to check against, an existing key file is not replaced unless --skip-vault-check', async () => {
    mkdirSync(join(dir, 'x'));
    const x = join(dir, 'x');
    const key = readFileSync(join(dir, 'vault.key'));
    const [s1, s2] = shareFiles(join(dir, 'old'));
    const r = await cli(x, ['escrow', 'combine', s1!, s2!, '-o', '../vault.key', '--force'], { env: { VAULT_TOOL_STATE_DIR: join(dir, '.state') } });
    expect(r.code).toBe(5);
    expect(r.stderr).toBe(
      `vault-tool: error: refusing to replace key file ${join(dir, 'vault.key')}: there is no vault at ${join(x, 'secrets.vault')} to check the recovered key against\n` +
        'vault-tool: hint: point --vault-file at the vault the key must open, or pass --skip-vault-check to replace it unchecked (it is kept aside)\n',
    );
    expect(readFileSync(join(dir, 'vault.key')).equals(key)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.replaced-'))).toEqual([]);
    const ok = await cli(x, ['escrow', 'combine', s1!, s2!, '-o', '../vault.key', '--force', '--vault-file', '../secrets.vault']);
    expect(ok.code).toBe(0);
  });

  it('after a key is replaced by an older one, the wrong-key error names the key kept aside', async () => {
    expect((await cli(dir, ['rekey'])).code).toBe(0);
    expect((await cli(dir, ['rekey', '--confirm'])).code).toBe(0);
    const [s1, s2] = shareFiles(join(dir, 'old'));
    const r = await cli(dir, ['escrow', 'combine', s1!, s2!, '-o', 'vault.key', '--force', '--skip-vault-check']);
    expect(r.code).toBe(0);
    const aside = readdirSync(dir).filter((f) => f.startsWith('vault.key.replaced-'));
    expect(aside).toHaveLength(1);
    const l = await cli(dir, ['list']);
    expect(l.code).toBe(3);
    expect(l.stderr).toContain(
      `vault-tool: hint: the key file was replaced by \`vault-tool escrow combine --force\`; the key it replaced is kept as ${join(dir, aside[0]!)}: put it back with \`mv ${join(dir, aside[0]!)} ${join(dir, 'vault.key')}\``,
    );
  });

  it('never replaces the vault, or anything that is not a key file', async () => {
    const [s1, s2] = shareFiles(join(dir, 'old'));
    const vault = readFileSync(join(dir, 'secrets.vault'));
    const r = await cli(dir, ['escrow', 'combine', s1!, s2!, '-o', 'secrets.vault', '--force']);
    expect(r.code).toBe(10);
    expect(r.stderr).toBe(
      `vault-tool: error: refusing to replace ${join(dir, 'secrets.vault')}: it is a vault file\nvault-tool: hint: choose another output file\n`,
    );
    expect(readFileSync(join(dir, 'secrets.vault')).equals(vault)).toBe(true);
    const notes = await cli(dir, ['escrow', 'combine', s1!, s2!, '-o', join(dir, 'old', 'manifest.json'), '--force']);
    expect(notes.code).toBe(10);
    expect(notes.stderr).toContain('it is a share manifest');
    writeFileSync(join(dir, 'notes.txt'), 'notes\n');
    const other = await cli(dir, ['escrow', 'combine', s1!, s2!, '-o', 'notes.txt', '--force']);
    expect(other.code).toBe(10);
    expect(other.stderr).toContain(`refusing to replace ${join(dir, 'notes.txt')}: it is not a key file vault-tool wrote`);
  });
});

describe('--force on an output never replaces a vault or a key file', () => {
  it('get, export env, k8s export and k8s plan refuse, and leave the file as it was', async () => {
    expect((await cli(dir, ['init'])).code).toBe(0);
    expect((await cli(dir, ['add', 'a', '-t', 'kek', '--generate'])).code).toBe(0);
    const before = { v: readFileSync(join(dir, 'secrets.vault')), k: readFileSync(join(dir, 'vault.key')) };
    for (const [target, what] of [
      ['secrets.vault', 'a vault file'],
      ['vault.key', 'a key file'],
    ] as const) {
      for (const args of [
        ['get', 'a', '--out', target, '--force'],
        ['export', 'env', '--out', target, '--force'],
        ['k8s', 'export', 'a', '--secret', 's', '-o', target, '--force'],
        ['k8s', 'plan', '-o', target, '--force'],
        ['status', '--prometheus', target],
        ['verify', '--report', target],
        ['verify', '--prometheus', target],
      ]) {
        const r = await cli(dir, args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(10);
        expect(r.stderr).toContain(`vault-tool: error: refusing to replace ${join(dir, target)}: it is ${what}\n`);
      }
    }
    expect(readFileSync(join(dir, 'secrets.vault')).equals(before.v)).toBe(true);
    expect(readFileSync(join(dir, 'vault.key')).equals(before.k)).toBe(true);
    // A passphrase-protected key file is recognised too.
    expect(
      (
        await cli(dir, ['init', '--passphrase', '--passphrase-env', 'PW', '--work-factor', '10', '--vault-file', 'p.vault', '--key-file', 'p.key'], {
          env: { PW: 'correct horse battery' },
        })
      ).code,
    ).toBe(0);
    const p = await cli(dir, ['get', 'a', '--out', 'p.key', '--force']);
    expect(p.code).toBe(10);
    expect(p.stderr).toContain('it is a passphrase-protected file (a key file?)');
  });
});

describe("links the user names are written through; the tool's own names, devices and pipes never", () => {
  it('a vault behind a link: writes go to the real file, its lock and log beside it', async () => {
    mkdirSync(join(dir, 'data'));
    mkdirSync(join(dir, 'w'));
    const w = join(dir, 'w');
    expect((await cli(w, ['init'])).code).toBe(0);
    renameSync(join(w, 'secrets.vault'), join(dir, 'data', 'real.vault'));
    symlinkSync('../data/real.vault', join(w, 'secrets.vault'));
    expect((await cli(w, ['add', 'x', '-t', 'kek', '--generate'])).code).toBe(0);
    expect(lstatSync(join(w, 'secrets.vault')).isSymbolicLink()).toBe(true);
    const l = await cli(w, ['list', '--json', '--vault-file', '../data/real.vault']);
    expect(JSON.parse(l.stdout).entries.map((e: { name: string }) => e.name)).toEqual(['x']);
    expect((await cli(w, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's'])).code).toBe(0);
    expect(existsSync(join(dir, 'data', 'real.vault.evidence.jsonl'))).toBe(true);
    expect(existsSync(join(w, 'secrets.vault.evidence.jsonl'))).toBe(false);
    expect(readdirSync(w).filter((f) => f !== 'secrets.vault' && f.startsWith('secrets.vault'))).toEqual([]);
  });

  it('a key behind a link: rekey writes the new key and keeps the old one in the real folder', async () => {
    mkdirSync(join(dir, 'secure'), { mode: 0o700 });
    mkdirSync(join(dir, 'w'));
    const w = join(dir, 'w');
    expect((await cli(w, ['init'])).code).toBe(0);
    expect((await cli(w, ['add', 'x', '-t', 'kek', '--generate'])).code).toBe(0);
    const oldId = /# key id: (\S+)/.exec(readFileSync(join(w, 'vault.key'), 'utf8'))![1]!;
    renameSync(join(w, 'vault.key'), join(dir, 'secure', 'vault.key'));
    symlinkSync('../secure/vault.key', join(w, 'vault.key'));
    expect((await cli(w, ['rekey'])).code).toBe(0);
    expect(existsSync(join(dir, 'secure', 'vault.key.new'))).toBe(true);
    expect((await cli(w, ['rekey', '--confirm'])).code).toBe(0);
    expect(readlinkSync(join(w, 'vault.key'))).toBe('../secure/vault.key');
    expect(readdirSync(w).sort()).toEqual(['.state', 'secrets.vault', 'vault.key']);
    const old = join(dir, 'secure', `vault.key.old-${oldId}`);
    expect(lstatSync(old).isFile()).toBe(true);
    expect(readFileSync(join(dir, 'secure', 'vault.key'), 'utf8')).not.toContain(oldId);
    expect((await cli(w, ['list'])).code).toBe(0);
  });

  it('an evidence log linked to /dev/null is refused, not written into the void', async () => {
    expect((await cli(dir, ['init'])).code).toBe(0);
    symlinkSync('/dev/null', join(dir, 'secrets.vault.evidence.jsonl'));
    const r = await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`vault-tool: error: evidence log ${join(dir, 'secrets.vault.evidence.jsonl')} is a character device, not a regular file\n`);
    expect(existsSync(join(dir, 's'))).toBe(false);
  });

  it('an evidence log that is a link to a file that is no log: refused before the vault is written, the file untouched; a link to a log is followed', async () => {
    expect((await cli(dir, ['init'])).code).toBe(0);
    writeFileSync(join(dir, 'precious.txt'), 'not yours\n');
    symlinkSync('precious.txt', join(dir, 'secrets.vault.evidence.jsonl'));
    const vault = readFileSync(join(dir, 'secrets.vault'));
    const r = await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's']);
    expect(r.code, r.stderr).toBe(10);
    expect(r.stderr).toContain('it is a symbolic link to a file that is not an evidence log');
    expect(existsSync(join(dir, 's'))).toBe(false);
    expect(readFileSync(join(dir, 'precious.txt'), 'utf8')).toBe('not yours\n');
    expect(readFileSync(join(dir, 'secrets.vault')).equals(vault)).toBe(true);
    // Put on another disk on purpose: a link to an (empty, then growing) log is followed.
    rmSync(join(dir, 'secrets.vault.evidence.jsonl'));
    mkdirSync(join(dir, 'logs'));
    writeFileSync(join(dir, 'logs/vault.log'), '');
    symlinkSync('logs/vault.log', join(dir, 'secrets.vault.evidence.jsonl'));
    for (const o of ['s1', 's2']) expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', o])).code).toBe(0);
    expect(readFileSync(join(dir, 'logs/vault.log'), 'utf8').trim().split('\n').length).toBeGreaterThanOrEqual(2);
    expect((await cli(dir, ['evidence', 'verify'])).code).toBe(0);
  });

  it('a named pipe or a device as --out is refused, and left as it is', async () => {
    expect((await cli(dir, ['init'])).code).toBe(0);
    expect((await cli(dir, ['add', 'a', '-t', 'kek', '--generate'])).code).toBe(0);
    expect(spawnSync('mkfifo', [join(dir, 'pipe')]).status).toBe(0);
    const nodes: [string, string][] = [['pipe', 'a named pipe']];
    if (spawnSync('mknod', [join(dir, 'null'), 'c', '1', '3']).status === 0) nodes.push(['null', 'a character device']);
    else if (process.env.CI === 'true') throw new Error('mknod is needed in CI (run as root)');
    for (const [name, kind] of nodes) {
      for (const force of [[], ['--force']]) {
        const r = await cli(dir, ['get', 'a', '--out', name, ...force]);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toBe(`vault-tool: error: refusing to write ${join(dir, name)}: it is ${kind}, not a regular file\n`);
        const st = lstatSync(join(dir, name));
        expect(st.isFile()).toBe(false);
      }
    }
  });
});

describe('files the tool names itself beside a path are never written through a link', () => {
  it('a link at <key>.new: rekey refuses it, the file it names keeps its bytes, the vault is not touched', async () => {
    expect((await cli(dir, ['init'])).code).toBe(0);
    writeFileSync(join(dir, 'precious.txt'), 'not yours\n');
    symlinkSync('precious.txt', join(dir, 'vault.key.new'));
    const vault = readFileSync(join(dir, 'secrets.vault'));
    const r = await cli(dir, ['rekey']);
    expect(r.code).toBe(10);
    expect(r.stderr).toContain(
      `vault-tool: error: refusing to write the new key file ${join(dir, 'vault.key.new')}: it is a symbolic link, and vault-tool never writes its own files through one\n`,
    );
    expect(readFileSync(join(dir, 'precious.txt'), 'utf8')).toBe('not yours\n');
    expect(readFileSync(join(dir, 'secrets.vault')).equals(vault)).toBe(true);
    // Confirming through such a link is refused as well.
    expect((await cli(dir, ['rekey', '--confirm'])).code).not.toBe(0);
    expect(readFileSync(join(dir, 'precious.txt'), 'utf8')).toBe('not yours\n');
    expect((await cli(dir, ['list'])).code).toBe(0);
  });

  it('a link at the deferred evidence file in the state folder: the record is not written through it', async () => {
    expect((await cli(dir, ['init'])).code).toBe(0);
    expect((await cli(dir, ['add', 'a', '-t', 'kek', '--generate'])).code).toBe(0);
    // An older copy of the vault: a read of it is recorded for the newest one, kept in the state folder meanwhile.
    writeFileSync(join(dir, 'old.vault'), readFileSync(join(dir, 'secrets.vault')));
    expect((await cli(dir, ['add', 'b', '-t', 'kek', '--generate'])).code).toBe(0);
    const vaultId = JSON.parse((await cli(dir, ['--json', 'list'])).stdout).vault.vaultId as string;
    mkdirSync(join(dir, '.state/evidence-deferred'), { recursive: true });
    writeFileSync(join(dir, 'precious.txt'), 'not yours\n');
    symlinkSync(join(dir, 'precious.txt'), join(dir, `.state/evidence-deferred/${vaultId}.jsonl`));
    const r = await cli(dir, ['get', 'a', '--out', 'a.out', '--vault-file', 'old.vault']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('this entry.get is NOT recorded in the evidence log');
    expect(readFileSync(join(dir, 'precious.txt'), 'utf8')).toBe('not yours\n');
  });
});

describe('a recovered key file keeps the scrypt work factor the vault key had', () => {
  const workFactor = (f: string) =>
    Number(/-> scrypt \S+ (\d+)/.exec(Buffer.from(readFileSync(f, 'utf8').split('\n').slice(1, -2).join(''), 'base64').toString('latin1'))![1]);
  it('init --work-factor 12 (not the default 18), then combine into a new file, and after a rekey', async () => {
    const env = { PW: 'correct horse battery staple' };
    const g = ['--passphrase-env', 'PW'];
    expect((await cli(dir, [...g, 'init', '--passphrase', '--work-factor', '12'], { env })).code).toBe(0);
    expect(workFactor(join(dir, 'vault.key'))).toBe(12);
    expect((await cli(dir, [...g, 'escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's1'], { env })).code).toBe(0);
    const [s1, s2] = shareFiles(join(dir, 's1'));
    expect((await cli(dir, [...g, 'escrow', 'combine', s1!, s2!, '-o', 'new.key'], { env })).code).toBe(0);
    expect(workFactor(join(dir, 'new.key'))).toBe(12);
    expect((await cli(dir, [...g, 'rekey'], { env })).code).toBe(0);
    expect((await cli(dir, [...g, 'rekey', '--confirm'], { env })).code).toBe(0);
    expect(workFactor(join(dir, 'vault.key'))).toBe(12);
    expect((await cli(dir, [...g, 'escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's2'], { env })).code).toBe(0);
    const [t1, t2] = shareFiles(join(dir, 's2'));
    expect((await cli(dir, [...g, 'escrow', 'combine', t1!, t2!, '-o', 'after-rekey.key'], { env })).code).toBe(0);
    expect(workFactor(join(dir, 'after-rekey.key'))).toBe(12);
    expect((await cli(dir, [...g, 'list', '--key-file', 'after-rekey.key'], { env })).code).toBe(0);
  });
});
