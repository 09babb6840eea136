import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, cli, haveBinary, tempDir } from '../helpers/cli.js';
import { parseShareFile, shareToText } from '../../src/escrow/files.js';

let dir: string;
let cleanup: () => void;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
  expect((await cli(dir, ['add', 'platform/kek', '-t', 'kek', '--generate'])).code).toBe(0);
});
afterEach(() => cleanup());

const five = ['-c', 'alice', '-c', 'bob', '-c', 'carol', '-c', 'dave', '-c', 'erin'];
const shareFile = (name: string) => join(dir, 'shares', readdirSync(join(dir, 'shares')).find((f) => f.includes(name) && f.includes('.share'))!);

describe('escrow round trip', () => {
  it('init → add → split 3-of-5 → delete vault.key → combine 3 shares → list succeeds', async () => {
    const before = (await cli(dir, ['get', 'platform/kek'])).stdout;
    const split = await cli(dir, ['escrow', 'split', '-k', '3', ...five, '-o', 'shares', '--json']);
    expect(split.code).toBe(0);
    const info = JSON.parse(split.stdout);
    expect(info).toMatchObject({ epoch: 1, threshold: 3, count: 5, selfTested: 10, subsets: 10 });
    for (const f of readdirSync(join(dir, 'shares'))) expect(statSync(join(dir, 'shares', f)).mode & 0o777).toBe(0o600);
    rmSync(join(dir, 'vault.key'));
    expect((await cli(dir, ['list'])).code).toBe(5);
    const comb = await cli(dir, [
      'escrow',
      'combine',
      shareFile('bob'),
      shareFile('dave'),
      shareFile('erin'),
      '-o',
      'vault.key',
      '--manifest',
      'shares/manifest.json',
    ]);
    const manifestKey = JSON.parse(split.stdout).manifestKey;
    expect(comb.stderr).toBe(
      `shares checked against the manifest signed by manifest key ${manifestKey} (it must match the custodians' sheets)\nrecorded in the evidence log of ${join(dir, 'secrets.vault')} (escrow.combine)\n`,
    );
    expect(comb.stdout).toBe(`recovered key id ${info.keyId} from shares of bob, dave, erin (set ${info.setId}); wrote vault.key (mode 0600)\n`);
    expect(statSync(join(dir, 'vault.key')).mode & 0o777).toBe(0o600);
    expect((await cli(dir, ['list'])).code).toBe(0);
    expect((await cli(dir, ['get', 'platform/kek'])).stdout).toBe(before);
  });

  it('combine refuses too few shares, an existing key file, and names a bad share among more than K', async () => {
    await cli(dir, ['escrow', 'split', '-k', '3', ...five, '-o', 'shares']);
    const few = await cli(dir, ['escrow', 'combine', shareFile('alice'), shareFile('bob'), '-o', 'k2']);
    expect(few.code).toBe(6);
    expect(few.stderr).toMatch(/need 3 shares of set [0-9a-f]{16}, have 2: 1 more needed/);
    const exists = await cli(dir, ['escrow', 'combine', shareFile('alice'), shareFile('bob'), shareFile('carol'), '-o', 'vault.key']);
    expect(exists.code).toBe(10);
    expect(exists.stderr).toContain('vault.key already exists; refusing to overwrite it');
    const dup = await cli(dir, ['escrow', 'combine', shareFile('alice'), shareFile('alice'), shareFile('carol'), '-o', 'k3']);
    expect(dup.code).toBe(7);
    expect(dup.stderr).toContain('share 1 (alice) was given twice');
    const typo = readFileSync(shareFile('carol'), 'utf8').replace(/(VT1-.{6})(.)/, (_m, a: string, c: string) => a + (c === 'A' ? 'B' : 'A'));
    writeFileSync(join(dir, 'typo.share'), typo);
    const t = await cli(dir, ['escrow', 'combine', shareFile('alice'), 'typo.share', '-o', 'k4']);
    expect(t.code).toBe(7);
    expect(t.stderr).toMatch(/typo.share: group 2 has a typo/);
  });

  it('combine names a share whose checksums pass but whose bytes cannot be a share, and sets it aside among more than K', async () => {
    await cli(dir, ['escrow', 'split', '-k', '3', ...five, '-o', 'shares']);
    const dave = parseShareFile(readFileSync(shareFile('dave'), 'utf8'));
    writeFileSync(join(dir, 'forged.share'), shareToText({ ...dave, share: dave.share.subarray(0, 32) }) + '\n');
    const k = await cli(dir, ['escrow', 'combine', shareFile('alice'), shareFile('bob'), 'forged.share', '-o', 'k1']);
    expect(k.code).toBe(7);
    expect(k.stderr).toContain('share 4 (dave): its share bytes are 32 bytes long, not 33: it is damaged or forged');
    const more = await cli(dir, [
      'escrow',
      'combine',
      shareFile('alice'),
      'forged.share',
      shareFile('bob'),
      shareFile('carol'),
      '-o',
      'k2',
      '--skip-vault-check',
    ]);
    expect(more.code, more.stderr).toBe(0);
    expect(more.stderr).toContain('share 4 (dave)');
    expect(more.stdout).toMatch(/from shares of alice, bob, carol/);
  });

  it('escrow check verifies one share alone against the manifest', async () => {
    await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'alice', '-c', 'bob', '-o', 'shares']);
    const ok = await cli(dir, ['escrow', 'check', shareFile('alice')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      /share 1 of 2 \(any 2\) for alice: checksums and envelope valid\nset [0-9a-f]{16}, epoch 1, vault key id [0-9a-f]{16}\nlisted in the manifest signed by manifest key [0-9A-F-]{24}/,
    );
    const m = JSON.parse(readFileSync(join(dir, 'shares/manifest.json'), 'utf8'));
    m.custodians[0].label = 'mallory';
    writeFileSync(join(dir, 'shares/manifest.json'), JSON.stringify(m));
    const bad = await cli(dir, ['escrow', 'check', shareFile('alice')]);
    expect(bad.code).toBe(7);
    expect(bad.stderr).toContain('the manifest signature does not verify');
  });

  it('refuses to split into a folder that already holds shares', async () => {
    await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'shares']);
    const again = await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'shares']);
    expect(again.code).toBe(10);
    const bad = await cli(dir, ['escrow', 'split', '-k', '4', '-c', 'a', '-c', 'b', '-o', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      'vault-tool: error: threshold must be at most the number of shares: 4 of 2 could never be brought together\n' +
        'vault-tool: hint: give -k 2 or fewer, or name 4 or more custodians (-c NAME, once each)\n',
    );
  });
});

describe('reshare, status, ceremony, evidence', () => {
  it('reshare makes a new set and epoch, and says old shares still open the key', async () => {
    await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-c', 'c', '-o', 's1']);
    const r = await cli(dir, ['escrow', 'reshare', '-k', '2', '-c', 'a', '-c', 'b', '-c', 'd', '-o', 's2']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('shares of earlier sets still open the same vault key');
    const st = JSON.parse((await cli(dir, ['escrow', 'status', '--json'])).stdout);
    expect(st).toMatchObject({ epoch: 2, previousSets: 1, keyMatchesVault: true });
    expect(st.custodians.map((c: { label: string }) => c.label)).toEqual(['a', 'b', 'd']);
    const mixed = await cli(dir, [
      'escrow',
      'combine',
      join(dir, 's1', readdirSync(join(dir, 's1')).find((f) => f.endsWith('-a.share'))!),
      join(dir, 's2', readdirSync(join(dir, 's2')).find((f) => f.endsWith('-b.share'))!),
      '-o',
      'k',
    ]);
    expect(mixed.code).toBe(7);
    expect(mixed.stderr).toContain('shares of different splits never combine');
  });

  it('reshare --rekey replaces the vault key first: old shares no longer open it', async () => {
    await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's1']);
    const before = (await cli(dir, ['get', 'platform/kek'])).stdout;
    const r = await cli(dir, ['escrow', 'reshare', '-k', '2', '-c', 'a', '-c', 'c', '-o', 's2', '--rekey']);
    expect(r.code).toBe(0);
    expect((await cli(dir, ['get', 'platform/kek'])).stdout).toBe(before);
    const s1 = readdirSync(join(dir, 's1'))
      .filter((f) => f.endsWith('.share'))
      .map((f) => join(dir, 's1', f));
    expect((await cli(dir, ['escrow', 'combine', ...s1, '-o', 'old.key'])).code).toBe(0);
    expect((await cli(dir, ['list', '--key-file', 'old.key'])).code).toBe(3);
    const s2 = readdirSync(join(dir, 's2'))
      .filter((f) => f.endsWith('.share'))
      .map((f) => join(dir, 's2', f));
    expect((await cli(dir, ['escrow', 'combine', ...s2, '-o', 'new.key'])).code).toBe(0);
    expect((await cli(dir, ['list', '--key-file', 'new.key'])).code).toBe(0);
  });

  it('a ceremony answered line by line: each custodian types back a group; the transcript lands in the evidence log without share values', async () => {
    const { parseShareFile, shareGroups } = await import('../../src/escrow/files.js');
    const p = spawn(process.execPath, [BIN, 'escrow', 'split', '-k', '2', '-c', 'alice', '-c', 'bob', '-o', 'c1', '--ceremony'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state'), USER: 'officer-olga' },
    });
    let err = '';
    let asked = 0;
    const timer = setTimeout(() => p.kill(), 20_000);
    p.on('close', () => clearTimeout(timer));
    p.stderr.on('data', (c: Buffer) => {
      err += c;
      const qs = [...err.matchAll(/\? (.*)\n/g)].map((m) => m[1]!);
      while (asked < qs.length) {
        const q = qs[asked++]!;
        if (q.startsWith('Are these the custodians')) {
          p.stdin.write('yes\n');
          continue;
        }
        const m = /^(\w+): type group (\d+) of your share/.exec(q)!;
        const file = readdirSync(join(dir, 'c1')).find((f) => f.endsWith(`-${m[1]}.share`))!;
        const groups = shareGroups(parseShareFile(readFileSync(join(dir, 'c1', file), 'utf8')));
        // bob mistypes once, then gets it right.
        if (m[1] === 'bob' && !err.includes('bob: that is not group')) p.stdin.write('AAAAA\n');
        else p.stdin.write(groups[Number(m[2]) - 1]!.toLowerCase() + '\n');
      }
    });
    const code = await new Promise((r) => p.on('close', r));
    expect(err, err).toContain('bob: that is not group');
    expect(err).toContain('ceremony recorded in the evidence log: 2 of 2 custodians confirmed receipt');
    expect(code).toBe(0);
    const st = JSON.parse((await cli(dir, ['escrow', 'status', '--json'])).stdout);
    expect(st.custodians.every((c: { receiptConfirmedAt?: string }) => c.receiptConfirmedAt)).toBe(true);
    const recs = JSON.parse((await cli(dir, ['evidence', 'verify', '--json'])).stdout);
    expect(recs.map((r: { event: string }) => r.event)).toEqual(['escrow.split', 'escrow.ceremony']);
    expect(recs[1].data).toMatchObject({
      officer: 'officer-olga',
      custodians: [
        { label: 'alice', receiptConfirmed: true },
        { label: 'bob', receiptConfirmed: true },
      ],
    });
    const text = readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8');
    for (const f of readdirSync(join(dir, 'c1')).filter((x) => x.endsWith('.share'))) {
      for (const g of shareGroups(parseShareFile(readFileSync(join(dir, 'c1', f), 'utf8')))) expect(text.toUpperCase()).not.toContain(g);
    }
    const cancelled = await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'alice', '-c', 'bob', '-o', 'c2', '--ceremony'], { stdin: 'no\n' });
    expect(cancelled.code).toBe(2);
    expect(cancelled.stderr).toContain('ceremony cancelled: custodians not confirmed');
  });

  it('the evidence log detects an edited, removed or reordered record', async () => {
    await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's1']);
    await cli(dir, ['escrow', 'reshare', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's2']);
    await cli(dir, ['escrow', 'reshare', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's3']);
    const path = join(dir, 'secrets.vault.evidence.jsonl');
    const good = readFileSync(path, 'utf8');
    expect((await cli(dir, ['evidence', 'verify'])).code).toBe(0);
    const lines = good.trimEnd().split('\n');
    const cases: [string, string, string][] = [
      ['edited', [lines[0], lines[1]!.replace('"threshold":2', '"threshold":3'), lines[2]].join('\n') + '\n', 'evidence record 2 fails its MAC: it was edited'],
      [
        'edited last',
        [lines[0], lines[1], lines[2]!.replace('"threshold":2', '"threshold":3')].join('\n') + '\n',
        'evidence record 3 fails its MAC: it was edited',
      ],
      ['removed in the middle', [lines[0], lines[2]].join('\n') + '\n', 'evidence record 2 has sequence 3: records were removed or reordered'],
      [
        'removed at the end',
        [lines[0], lines[1]].join('\n') + '\n',
        'the evidence log lacks record 3, which the vault holds: the log was cut, or a write was interrupted',
      ],
      ['two removed at the end', lines[0] + '\n', 'the evidence log has 1 records, the vault recorded 3: records were removed from the end'],
      ['reordered', [lines[1], lines[0], lines[2]].join('\n') + '\n', 'evidence record 1 has sequence 2: records were removed or reordered'],
      ['blank line', [lines[0], '', lines[1], lines[2]].join('\n') + '\n', 'evidence log line 2 is blank: the log was edited'],
      [
        'cut mid-line',
        [lines[0], lines[1], lines[2]!.slice(0, 40)].join('\n'),
        'the evidence log lacks record 3, which the vault holds: the log was cut, or a write was interrupted',
      ],
      ['text appended', good + '{"seq":4', 'the evidence log ends in a partial record after record 3: the log was cut or edited'],
      ['a record appended', good + lines[2] + '\n', 'evidence record 4 has sequence 3: records were removed or reordered'],
    ];
    for (const [what, content, message] of cases) {
      writeFileSync(path, content);
      const r = await cli(dir, ['evidence', 'verify']);
      expect(r.code, what).toBe(4);
      expect(r.stderr.split('\n')[0], what).toBe(`vault-tool: error: ${message}`);
    }
  });
});

describe.skipIf(!haveBinary('age'))('shares encrypted to a custodian', () => {
  it('the Debian age tool decrypts the share, and combine/check take --identity', async () => {
    const kg = spawnSync('age-keygen', ['-o', 'alice.id'], { cwd: dir, encoding: 'utf8' });
    expect(kg.status).toBe(0);
    const pub = /public key: (age1\S+)/.exec(readFileSync(join(dir, 'alice.id'), 'utf8'))![1]!;
    const r = await cli(dir, ['escrow', 'split', '-k', '2', '-c', `alice=${pub}`, '-c', 'bob', '-o', 'shares']);
    expect(r.code).toBe(0);
    const enc = join(dir, 'shares', 'share-01-alice.share.age');
    expect(readFileSync(enc, 'utf8')).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
    const html = readFileSync(join(dir, 'shares', 'share-01-alice.html'), 'utf8');
    expect(html).toContain('Your share is encrypted to your age key');
    expect(html).not.toContain('VT1-');
    const d = spawnSync('age', ['-d', '-i', 'alice.id', enc], { cwd: dir, encoding: 'utf8' });
    expect(d.status).toBe(0);
    expect(d.stdout).toMatch(/^VT1-[0-9A-Z-]+$/m);
    expect((await cli(dir, ['escrow', 'check', enc])).code).toBe(2);
    expect((await cli(dir, ['escrow', 'check', enc, '-i', 'alice.id'])).code).toBe(0);
    rmSync(join(dir, 'vault.key'));
    const c = await cli(dir, ['escrow', 'combine', enc, join(dir, 'shares', 'share-02-bob.share'), '-i', 'alice.id', '-o', 'vault.key']);
    expect(c.code).toBe(0);
    expect((await cli(dir, ['list'])).code).toBe(0);
  });
});
