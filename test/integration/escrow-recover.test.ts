import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';
import { encodeEnvelope } from '../../src/escrow/envelope.js';
import { parseShareFile, shareGroups } from '../../src/escrow/files.js';
import { encodeText } from '../../src/escrow/text.js';
import { formatKeyFile, newVaultKey } from '../../src/vault/keyfile.js';

/**
 * Recovering the vault key from shares as the procedures do it: with one bad
 * share among more than K (RUNBOOK §8), key files that hash the same as the
 * original, and a record of who rebuilt the key from whose shares.
 */
let dir: string;
let cleanup: () => void;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
  expect((await cli(dir, ['add', 'platform/kek', '-t', 'kek', '--generate'])).code).toBe(0);
});
afterEach(() => cleanup());

const five = ['-c', 'alice', '-c', 'bob', '-c', 'carol', '-c', 'dave', '-c', 'erin'];
const shareFile = (folder: string, name: string) => join(dir, folder, readdirSync(join(dir, folder)).find((f) => f.endsWith(`-${name}.share`))!);
const sha256 = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

async function split(folder: string, args: string[] = five, k = '3'): Promise<{ setId: string; keyId: string }> {
  const r = await cli(dir, ['escrow', 'split', '-k', k, ...args, '-o', folder, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

/** A share file with one character of group 2 changed: its check character no longer fits. */
function mistype(from: string, to: string): string {
  const text = readFileSync(from, 'utf8').replace(/(VT1-.{6})(.)/, (_m, a: string, c: string) => a + (c === 'A' ? 'B' : 'A'));
  writeFileSync(join(dir, to), text, { mode: 0o600 });
  return join(dir, to);
}

describe('more than K shares with one bad one: the bad one is set aside, the key comes from the others', () => {
  it('a mistyped share file among K+1', async () => {
    const s = await split('shares');
    const typo = mistype(shareFile('shares', 'carol'), 'typo.share');
    const r = await cli(dir, ['escrow', 'combine', shareFile('shares', 'alice'), typo, shareFile('shares', 'bob'), shareFile('shares', 'erin'), '-o', 'k.key']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`recovered key id ${s.keyId} from shares of alice, bob, erin (set ${s.setId}); wrote k.key (mode 0600)\n`);
    expect(r.stderr).toMatch(new RegExp(`^vault-tool: warning: set aside: ${typo.replace(/[.]/g, '\\.')}: group 2 has a typo\\n`));
    // With exactly K, the same typo stops the command, naming the file and the group.
    const k = await cli(dir, ['escrow', 'combine', shareFile('shares', 'alice'), typo, shareFile('shares', 'bob'), '-o', 'k2.key']);
    expect(k.code).toBe(7);
    expect(k.stderr).toMatch(
      /^vault-tool: error: .*typo\.share: group 2 has a typo; need 3 shares of set [0-9a-f]{16}, have 2: 1 more needed\nvault-tool: hint: compare group 2 with the share sheet, character by character\n$/,
    );
  });

  it('a share of another set, given first, among K+1; and with --manifest, a share the manifest does not list', async () => {
    const s1 = await split('s1');
    await cli(dir, ['escrow', 'reshare', '-k', '3', ...five, '-o', 's2']);
    const files = [shareFile('s2', 'dave'), shareFile('s1', 'alice'), shareFile('s1', 'bob'), shareFile('s1', 'carol')];
    const r = await cli(dir, ['escrow', 'combine', ...files, '-o', 'k.key', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ setId: s1.setId, used: ['alice', 'bob', 'carol'], bad: [{ index: 4, label: 'dave' }] });
    expect(j.setAside).toEqual([
      {
        name: 'share 4 (dave)',
        why: 'other-set',
        reason: `share 4 (dave) is from set ${parseShareFile(readFileSync(files[0]!, 'utf8')).setId}, not set ${s1.setId}: shares of different splits never combine`,
      },
    ]);
    const m = await cli(dir, ['escrow', 'combine', ...files, '-o', 'k2.key', '-m', 's1/manifest.json']);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stderr).toContain(`set aside: ${files[0]}: share is from set `);
  });

  it('blank-line-separated shares on stdin, one of them mistyped', async () => {
    await split('shares');
    const text = (n: string) => readFileSync(shareFile('shares', n), 'utf8');
    const typo = readFileSync(mistype(shareFile('shares', 'bob'), 'typo.share'), 'utf8');
    const r = await cli(dir, ['escrow', 'combine', '-o', 'k.key'], { stdin: [text('alice'), typo, text('carol'), text('dave')].join('\n') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('from shares of alice, carol, dave');
    expect(r.stderr).toMatch(/set aside: share 2 on stdin: group 2 has a typo/);
  });

  it('two sets that each have K are refused, naming both, rather than guessed between', async () => {
    const s1 = await split('s1');
    await cli(dir, ['escrow', 'reshare', '-k', '2', '-c', 'alice', '-c', 'bob', '-o', 's2']);
    const r = await cli(dir, [
      'escrow',
      'combine',
      shareFile('s1', 'alice'),
      shareFile('s2', 'alice'),
      shareFile('s1', 'bob'),
      shareFile('s2', 'bob'),
      shareFile('s1', 'carol'),
      '-o',
      'k.key',
    ]);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain(
      `the shares of 2 different sets each reach their threshold (set ${s1.setId} (epoch 1, key id ${s1.keyId}): share 1 (alice), share 2 (bob), share 3 (carol); set `,
    );
    expect(r.stderr).toContain('hint: give the shares of one set only: `vault-tool escrow status` names the current set');
    expect(existsSync(join(dir, 'k.key'))).toBe(false);
  });
});

describe('a share file that cannot be read, whatever the reason, is set aside among more than K', () => {
  /** A split whose alice and bob shares are encrypted to their own age identities (alice.id, bob.id). */
  async function encryptedSplit(): Promise<{ keyId: string }> {
    const ids: Record<string, string> = {};
    for (const who of ['alice', 'bob', 'mallory']) {
      const k = newVaultKey();
      writeFileSync(join(dir, `${who}.id`), formatKeyFile(k), { mode: 0o600 });
      ids[who] = k.recipient;
    }
    return split('enc', ['-c', `alice=${ids.alice}`, '-c', `bob=${ids.bob}`, '-c', 'carol', '-c', 'dave', '-c', 'erin']);
  }
  const enc = (who: string) => join(dir, 'enc', readdirSync(join(dir, 'enc')).find((f) => f.endsWith(`-${who}.share.age`))!);
  const plain = ['carol', 'dave', 'erin'].map((w) => () => shareFile('enc', w));

  it('a damaged, a truncated, and an undecryptable .share.age (no identity for it, or the wrong one)', async () => {
    const s = await encryptedSplit();
    const text = readFileSync(enc('alice'), 'utf8');
    const lines = text.split('\n');
    // A character flipped in the middle of the armored body.
    const mid = Math.floor(lines.length / 2);
    lines[mid] = (lines[mid]![0] === 'A' ? 'B' : 'A') + lines[mid]!.slice(1);
    writeFileSync(join(dir, 'damaged.share.age'), lines.join('\n'));
    writeFileSync(join(dir, 'truncated.share.age'), readFileSync(enc('alice')).subarray(0, 200));
    const cases: [string, string[], RegExp][] = [
      ['damaged.share.age', ['-i', 'alice.id'], /^damaged\.share\.age: .*(failed authentication|invalid)/],
      ['truncated.share.age', ['-i', 'alice.id'], /^truncated\.share\.age: invalid armor end line$/],
      // bob's share, and only alice's identity given.
      [enc('bob'), ['-i', 'alice.id'], /the share is not encrypted to the identity given with --identity/],
      // No identity at all.
      [enc('bob'), [], /is encrypted to a custodian's age key/],
    ];
    for (const [bad, ids, why] of cases) {
      const r = await cli(dir, [
        'escrow',
        'combine',
        bad,
        ...plain.map((f) => f()),
        ...ids,
        '-o',
        `k-${cases.findIndex((c) => c[0] === bad && c[1] === ids)}.key`,
        '--json',
      ]);
      expect(r.code, `${bad} ${ids.join(' ')}: ${r.stderr}`).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.keyId).toBe(s.keyId);
      expect(j.used).toEqual(['carol', 'dave', 'erin']);
      expect(j.setAside).toHaveLength(1);
      expect(j.setAside[0]).toMatchObject({ name: bad, why: 'unreadable' });
      expect(j.setAside[0].reason).toMatch(why);
    }
    // With exactly K, the undecryptable share is the error, with what to do about it.
    const k = await cli(dir, ['escrow', 'combine', 'truncated.share.age', plain[0]!(), plain[1]!(), '-i', 'alice.id', '-o', 'k-exact.key']);
    expect(k.code).toBe(7);
    expect(k.stderr).toContain("vault-tool: hint: the encrypted share file is damaged: use the custodian's other copy, or type the share from their sheet\n");
    // A missing share file is still an error of the command line.
    const missing = await cli(dir, ['escrow', 'combine', 'nope.share', ...plain.map((f) => f()), '-o', 'k-missing.key']);
    expect(missing.code).toBe(5);
    expect(missing.stderr.split('\n')[0]).toBe(`vault-tool: error: share file not found: ${join(dir, 'nope.share')}`);
  });

  it('verify --shares: a mistyped share is a FAIL line of its own; the report and the record are written', async () => {
    await split('shares');
    const typo = mistype(shareFile('shares', 'alice'), 'typo-a.share');
    const files = [typo, shareFile('shares', 'bob'), shareFile('shares', 'carol'), shareFile('shares', 'dave')];
    const before = JSON.parse((await cli(dir, ['evidence', 'verify', '--json'])).stdout).length;
    const r = await cli(dir, ['verify', '--shares', ...files, '--report', 'report.md']);
    expect(r.code, r.stderr).toBe(8);
    expect(r.stdout).toMatch(/shares +pass +shares of bob, carol, dave\nshares +FAIL +.*typo-a\.share\n/);
    expect(r.stdout).toContain(`FAIL shares: ${typo}: group 2 has a typo`);
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toContain('typo-a.share');
    const recs = JSON.parse((await cli(dir, ['evidence', 'verify', '--json'])).stdout);
    expect(recs.length).toBe(before + 1);
    expect(recs.at(-1).event).toBe('verify');
  });

  it('the drill sets a bad share aside and recovers the key from the others', async () => {
    await split('shares');
    const typo = mistype(shareFile('shares', 'alice'), 'typo-a.share');
    writeFileSync(
      join(dir, 'drill.yaml'),
      `apiVersion: vault-tool/v1\nkind: DrillPlan\nshares: { files: [${[typo, shareFile('shares', 'bob'), shareFile('shares', 'carol'), shareFile('shares', 'dave')].join(', ')}] }\nchecks:\n  - { entries: [platform/kek] }\n`,
    );
    const r = await cli(dir, ['drill', '--plan', 'drill.yaml', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/combine the shares\s+ok .*the shares of bob, carol, dave recover the vault key .*set aside: .*typo-a\.share: group 2 has a typo/);
  });
});

describe('shares piped one after another', () => {
  it('share files run together with cat (no blank lines) read as the shares they are', async () => {
    const s = await split('shares');
    const stdin = ['alice', 'bob', 'carol'].map((n) => readFileSync(shareFile('shares', n), 'utf8')).join('');
    expect(stdin).not.toMatch(/\n\s*\n/);
    const r = await cli(dir, ['escrow', 'combine', '-o', 'k.key', '--json'], { stdin });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ keyId: s.keyId, used: ['alice', 'bob', 'carol'], setAside: [] });
    // The bare share lines, one after another, too.
    const bare = ['alice', 'bob', 'carol']
      .map((n) =>
        readFileSync(shareFile('shares', n), 'utf8')
          .split('\n')
          .find((l) => l.startsWith('VT1-')),
      )
      .join('\n');
    const b = await cli(dir, ['escrow', 'combine', '-o', 'k2.key', '--json'], { stdin: bare });
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout).used).toEqual(['alice', 'bob', 'carol']);
  });

  it('two shares in one file are said to be two shares, not a typo', async () => {
    await split('shares');
    const two = ['alice', 'bob']
      .map((n) =>
        readFileSync(shareFile('shares', n), 'utf8')
          .split('\n')
          .find((l) => l.startsWith('VT1-')),
      )
      .join('-');
    writeFileSync(join(dir, 'two.share'), two + '\n');
    const r = await cli(dir, ['escrow', 'check', 'two.share']);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(
      /^vault-tool: error: two\.share: the text holds more than one share \(VT1- starts again after group \d+\)\nvault-tool: hint: give each share its own file, or separate the shares by a blank line\n$/,
    );
  });

  it('no shares at all: the error says how to give them', async () => {
    const r = await cli(dir, ['escrow', 'combine', '-o', 'k.key'], { stdin: '' });
    expect(r.code).toBe(6);
    expect(r.stderr).toBe(
      'vault-tool: error: no shares given\nvault-tool: hint: name the share files (vault-tool escrow combine -o vault.key A.share B.share …), or type the shares on a terminal; piped on stdin, give them one after another\n',
    );
  });
});

describe('a key file rebuilt from shares is the original, byte for byte', () => {
  it('after split, and after reshare --rekey (the new key); shares of format 1 say why theirs differs', async () => {
    const original = sha256(join(dir, 'vault.key'));
    expect(await split('s1')).toMatchObject({ keyFileExact: true });
    const c = await cli(dir, ['escrow', 'combine', shareFile('s1', 'bob'), shareFile('s1', 'dave'), shareFile('s1', 'erin'), '-o', 'rebuilt.key']);
    expect(c.code, c.stderr).toBe(0);
    expect(sha256(join(dir, 'rebuilt.key'))).toBe(original);
    expect(c.stderr).not.toContain('do not carry');

    await cli(dir, ['escrow', 'reshare', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's2', '--rekey']);
    const c2 = await cli(dir, ['escrow', 'combine', shareFile('s2', 'a'), shareFile('s2', 'b'), '-o', 'rebuilt2.key']);
    expect(c2.code, c2.stderr).toBe(0);
    expect(sha256(join(dir, 'rebuilt2.key'))).toBe(sha256(join(dir, 'vault.key')));

    // Shares written before format 2 carry no creation time: the key opens the vault, only the "# created:" line differs, and the command says so.
    for (const n of ['a', 'b']) {
      const s = parseShareFile(readFileSync(shareFile('s2', n), 'utf8'));
      const { keyCreatedAt: _t, ...v1 } = s;
      writeFileSync(join(dir, `v1-${n}.share`), encodeText(encodeEnvelope({ ...v1, version: 1 })) + '\n');
    }
    const old = await cli(dir, ['escrow', 'combine', 'v1-a.share', 'v1-b.share', '-o', 'v1.key'], { now: new Date('2031-01-02T03:04:05.678Z') });
    expect(old.code, old.stderr).toBe(0);
    expect(old.stderr).toContain("these shares do not carry the key file's creation time (shares made before share format 2)");
    const lines = (p: string) => readFileSync(join(dir, p), 'utf8').split('\n');
    expect(lines('v1.key')[1]).toBe('# created: 2031-01-02T03:04:05.678Z');
    expect(lines('v1.key').filter((_, i) => i !== 1)).toEqual(lines('vault.key').filter((_, i) => i !== 1));
    expect((await cli(dir, ['list', '--key-file', 'v1.key'])).code).toBe(0);
  });
});

describe('a key file not as vault-tool writes it', () => {
  it('split says a rebuilt file will not be the same bytes; the key still opens the vault', async () => {
    const path = join(dir, 'vault.key');
    writeFileSync(path, readFileSync(path, 'utf8').replace(/\n(AGE-SECRET)/, '\n# kept in safe 2\n$1'), { mode: 0o600 });
    const r = await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'shares', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).keyFileExact).toBe(false);
    expect(r.stderr).toContain('the key file is not as vault-tool writes it (made by another tool, or its comment lines edited)');
    const c = await cli(dir, ['escrow', 'combine', shareFile('shares', 'a'), shareFile('shares', 'b'), '-o', 'k.key']);
    expect(c.code, c.stderr).toBe(0);
    expect(sha256(join(dir, 'k.key'))).not.toBe(sha256(path));
    expect((await cli(dir, ['list', '--key-file', 'k.key'])).code).toBe(0);
    const plain = await cli(dir, ['escrow', 'reshare', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's2', '--json']);
    expect(JSON.parse(plain.stdout).keyFileExact).toBe(false);
  });
});

describe('the drill writes the same key file (--write-key)', () => {
  it('byte for byte the original', async () => {
    await split('shares');
    const plan = [
      'apiVersion: vault-tool/v1',
      'kind: DrillPlan',
      'rto: 2h',
      'shares:',
      '  files: [shares/share-01-alice.share, shares/share-03-carol.share, shares/share-05-erin.share]',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'drill.yaml'), plan);
    const r = await cli(dir, ['drill', '--plan', 'drill.yaml', '--write-key', 'drill.key']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(sha256(join(dir, 'drill.key'))).toBe(sha256(join(dir, 'vault.key')));
  });
});

describe('escrow combine leaves a record: who rebuilt the key, from which custodians', () => {
  it('in the vault it opens, without share values', async () => {
    await split('shares');
    const typo = mistype(shareFile('shares', 'carol'), 'typo.share');
    const r = await cli(
      dir,
      ['escrow', 'combine', shareFile('shares', 'alice'), typo, shareFile('shares', 'bob'), shareFile('shares', 'erin'), '-o', 'k.key'],
      {
        env: { USER: 'officer-olga' },
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`recorded in the evidence log of ${join(dir, 'secrets.vault')} (escrow.combine)`);
    const recs = JSON.parse((await cli(dir, ['evidence', 'verify', '--json'])).stdout);
    const rec = recs.find((x: { event: string }) => x.event === 'escrow.combine');
    expect(rec.data).toMatchObject({
      keyFile: join(dir, 'k.key'),
      operator: 'officer-olga',
      custodians: [
        { index: 1, label: 'alice' },
        { index: 2, label: 'bob' },
        { index: 5, label: 'erin' },
      ],
      setAside: [{ name: typo, why: 'unreadable' }],
      vault: 'opens',
      replaced: null,
      protected: false,
    });
    expect(typeof rec.data.host).toBe('string');
    const log = readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8').toUpperCase();
    for (const n of ['alice', 'bob', 'carol', 'erin'])
      for (const g of shareGroups(parseShareFile(readFileSync(shareFile('shares', n), 'utf8')))) expect(log).not.toContain(g);
    expect(existsSync(join(dir, 'k.key.evidence-pending.jsonl'))).toBe(false);
  });

  it('on a fresh machine (no vault): beside the key file, carried into the log by the next write with that key file', async () => {
    await split('shares');
    const fresh = join(dir, 'fresh');
    mkdirSync(fresh);
    for (const n of ['alice', 'bob', 'carol']) copyFileSync(shareFile('shares', n), join(fresh, `${n}.share`));
    const r = await cli(fresh, ['escrow', 'combine', 'alice.share', 'bob.share', 'carol.share', '-o', 'vault.key'], { env: { USER: 'restorer' } });
    expect(r.code, r.stderr).toBe(0);
    const pending = join(fresh, 'vault.key.evidence-pending.jsonl');
    expect(r.stderr).toContain(
      `there is no vault at ${join(fresh, 'secrets.vault')}: the record of this rebuild is kept in ${pending}; the next command that writes a vault with --key-file vault.key carries it into that vault's evidence log`,
    );
    const waiting = readFileSync(pending, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(waiting).toHaveLength(1);
    expect(waiting[0]).toMatchObject({
      event: 'escrow.combine',
      data: { operator: 'restorer', vault: 'none', custodians: [{ label: 'alice' }, { label: 'bob' }, { label: 'carol' }] },
    });
    // The vault arrives (from a backup copy, with its log); a read carries nothing, the first write carries the record in.
    copyFileSync(join(dir, 'secrets.vault'), join(fresh, 'secrets.vault'));
    copyFileSync(join(dir, 'secrets.vault.evidence.jsonl'), join(fresh, 'secrets.vault.evidence.jsonl'));
    expect((await cli(fresh, ['list'])).code).toBe(0);
    expect(existsSync(pending)).toBe(true);
    // A record of another key (not this vault's) is not carried into its log: it stays, and the write says so.
    const foreign = JSON.stringify({ event: 'escrow.combine', at: '2030-01-01T00:00:00.000Z', data: { ...waiting[0].data, keyId: '0123456789abcdef' } });
    writeFileSync(pending, readFileSync(pending, 'utf8') + foreign + '\n');
    const w = await cli(fresh, ['add', 'after/restore', '-t', 'kek', '--generate']);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stderr).toContain(`${pending}: 1 record is of a key this vault does not know (key id 0123456789abcdef): left in the file`);
    expect(readFileSync(pending, 'utf8')).toBe(foreign + '\n');
    const recs = JSON.parse((await cli(fresh, ['evidence', 'verify', '--json'])).stdout);
    const rec = recs.find((x: { event: string }) => x.event === 'escrow.combine');
    expect(rec.data).toMatchObject({ operator: 'restorer', vault: 'none', deferred: { at: waiting[0].at, file: pending } });
  });

  it('a combine that fails writes no record', async () => {
    await split('shares');
    const r = await cli(dir, ['escrow', 'combine', shareFile('shares', 'alice'), shareFile('shares', 'bob'), '-o', 'k.key']);
    expect(r.code).toBe(6);
    expect(readdirSync(dir).filter((f) => f.includes('pending'))).toEqual([]);
    rmSync(join(dir, 'shares'), { recursive: true });
  });
});
