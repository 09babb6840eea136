import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import encodeQR from '@paulmillr/qr';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEnvelope } from '../../src/escrow/envelope.js';
import { parseShareFile } from '../../src/escrow/files.js';
import { encodeText } from '../../src/escrow/text.js';
import { cli, haveBinary, ROOT, tempDir } from '../helpers/cli.js';

/**
 * The recovery kit in Debian's Chromium, headless, driven by playwright-core
 * (nothing downloaded): shares typed and loaded, the key rebuilt and checked
 * with the CLI and the Debian `age`, the vault opened, values read, errors
 * named, and no request but the file itself.
 */
const KIT = pathToFileURL(join(ROOT, 'dist/recovery-kit.html')).href;
const CHROMIUM = '/usr/bin/chromium';
const ready = haveBinary('chromium') && haveBinary('age');

let dir: string;
let cleanup: () => void;
let browser: Browser;
const five = ['-c', 'alice', '-c', 'bob', '-c', 'carol', '-c', 'dave', '-c', 'erin'];
const shareFile = (folder: string, name: string) => join(dir, folder, readdirSync(join(dir, folder)).find((f) => f.includes(`-${name}.share`))!);
const shareText = (folder: string, name: string) =>
  readFileSync(shareFile(folder, name), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VT1-'))!;
const PASSWORD = 'correct horse battery staple';

async function run(cwd: string, args: string[], stdin?: string) {
  const r = await cli(cwd, args, stdin === undefined ? {} : { stdin });
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-kit-'));
  if (!ready) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  await run(dir, ['init']);
  await run(dir, ['add', 'platform/kek', '-t', 'kek', '--generate']);
  await run(dir, ['add', 'db/password', '-t', 'password', '--from-stdin'], PASSWORD);
  const backupId = execFileSync('age-keygen', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .split('\n')
    .find((l) => l.startsWith('AGE-SECRET-KEY-1'))!;
  writeFileSync(join(dir, 'backup.id'), backupId + '\n');
  await run(dir, ['add', 'backup/identity', '-t', 'generic', '--from-file', 'backup.id']);
  await run(dir, ['escrow', 'split', '-k', '3', ...five, '-o', 'set1']);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  cleanup();
});

/** A fresh page of the kit; every request it makes is recorded. */
async function openKit(): Promise<{ page: Page; requests: string[]; violations: () => Promise<string[]> }> {
  const page = await browser.newPage({ acceptDownloads: true });
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(KIT);
  await page.evaluate(() => {
    (window as unknown as { violations: string[] }).violations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      (window as unknown as { violations: string[] }).violations.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  return { page, requests, violations: () => page.evaluate(() => (window as unknown as { violations: string[] }).violations) };
}

async function typeShare(page: Page, text: string) {
  await page.fill('#share-input', text);
  await page.click('#add-share');
}

async function download(page: Page, click: () => Promise<void>): Promise<Buffer> {
  const [d] = await Promise.all([page.waitForEvent('download'), click()]);
  return readFileSync((await d.path())!);
}

const text = (page: Page, sel: string) => page.locator(sel).innerText();
/** The page answers events asynchronously: wait until the element says it. */
const see = (page: Page, sel: string, expected: string) => expect.poll(() => text(page, sel), { timeout: 20_000 }).toBe(expected);

describe.skipIf(!ready)('the recovery kit in Chromium', () => {
  it('3 of 5 typed shares (a typo named by its group first) rebuild the key; the vault opens and matches `list`; values are revealed and downloaded; vault.key opens the vault with the CLI and the Debian age; no request but the file', async () => {
    const { page, requests, violations } = await openKit();
    expect(await page.locator('#script-status').count()).toBe(0);
    // alice types her share with a typo in group 5: it is named as soon as the group is complete.
    const alice = shareText('set1', 'alice');
    const groups = alice.split('-');
    const g5 = groups[5]!;
    const wrong = g5[1] === 'A' ? 'B' : 'A';
    const typo = [...groups.slice(0, 5), g5[0] + wrong + g5.slice(2), ...groups.slice(6)].join('-');
    await page.fill('#share-input', typo.slice(0, 4 + 6 * 5 - 1));
    await see(page, '#share-typing-note', `group 5 (${g5[0] + wrong + g5.slice(2)}) has a typo: its check character ${g5[4]} does not fit the four before it`);
    expect(await page.locator('#share-typing span.typo').getAttribute('data-group')).toBe('5');
    expect(await page.locator('#share-typing span.ok').count()).toBe(4);
    await page.click('#add-share');
    await expect.poll(() => text(page, '#share-error')).toContain('the typed share: group 5 has a typo');
    expect(await page.locator('#share-list li').count()).toBe(0);
    // Corrected, and then carol and erin.
    await page.fill('#share-input', alice.slice(0, 4 + 6 * 3 - 1));
    await see(page, '#share-typing-note', `3 of ${groups.length - 1} groups typed and checked`);
    await typeShare(page, alice);
    await see(page, '#share-summary', '1 of the 3 shares needed: 2 more needed.');
    await see(page, '#share-error', '');
    expect(await page.locator('#rebuild').isDisabled()).toBe(true);
    await typeShare(page, shareText('set1', 'carol').toLowerCase().replace(/-/g, ' '));
    await typeShare(page, shareText('set1', 'erin'));
    await expect.poll(() => page.locator('#share-list li').count()).toBe(3);
    await page.click('#rebuild');
    await page.locator('#key').waitFor({ state: 'visible' });
    const status = JSON.parse(await run(dir, ['--json', 'list']));
    await see(page, '#key-id', status.vault.keyId);
    await see(page, '#key-source', `shares of alice, carol, erin (set ${parseShareFile(alice).setId})`);
    await see(
      page,
      '#key-exact',
      "The shares carry the key file's creation time: the downloaded plain vault.key is the original file byte for byte (sha256sum gives the same).",
    );
    await see(
      page,
      '#key-mode-note',
      'vault-tool refuses a key file that others can read, and a browser saves downloads readable by others: before using the downloaded file with vault-tool, run chmod 600 vault.key.',
    );

    // The downloaded vault.key is the original file, byte for byte; it opens the vault with vault-tool and with the Debian age.
    const key = await download(page, () => page.click('#download-key'));
    expect(key.equals(readFileSync(join(dir, 'vault.key')))).toBe(true);
    writeFileSync(join(dir, 'kit.key'), key, { mode: 0o644 });
    chmodSync(join(dir, 'kit.key'), 0o644);
    // As a browser saves it (readable by others), vault-tool refuses it, naming the chmod the kit names.
    const loose = await cli(dir, ['list', '--key-file', 'kit.key']);
    expect(loose.code).toBe(13);
    expect(loose.stderr).toContain(`run: chmod 600 ${join(dir, 'kit.key')}`);
    chmodSync(join(dir, 'kit.key'), 0o600);

    // The record of the rebuild: the kit cannot write the evidence log, so it is downloaded and kept beside the key file,
    // and the next write of the vault with that key file carries it into the log.
    await page.click('#download-record');
    await see(page, '#record-error', 'say who rebuilt the key');
    await page.fill('#record-operator', 'Olga (officer)');
    const record = await download(page, () => page.click('#download-record'));
    expect(record.toString()).not.toContain(alice.slice(4, 9));
    const rec = JSON.parse(record.toString());
    expect(rec).toMatchObject({
      event: 'escrow.combine',
      data: {
        keyId: status.vault.keyId,
        operator: 'Olga (officer)',
        custodians: [
          { index: 1, label: 'alice' },
          { index: 3, label: 'carol' },
          { index: 5, label: 'erin' },
        ],
        setAside: [],
        vault: 'none',
        via: expect.stringMatching(/^recovery kit /),
      },
    });
    const listed = JSON.parse(await run(dir, ['--json', 'list', '--key-file', 'kit.key']));
    expect(listed.entries).toEqual(status.entries);
    const age = spawnSync('age', ['-d', '-i', join(dir, 'kit.key'), join(dir, 'secrets.vault')], { encoding: 'utf8' });
    expect(age.status, age.stderr).toBe(0);
    expect(JSON.parse(age.stdout).entries.map((e: { name: string }) => e.name)).toEqual(['platform/kek', 'db/password', 'backup/identity']);
    // Placed beside a copy of the key file, the record goes into the log at the next write with that key file.
    const copyDir = join(dir, 'kit-record');
    execFileSync('mkdir', [copyDir]);
    for (const f of ['secrets.vault', 'secrets.vault.evidence.jsonl']) writeFileSync(join(copyDir, f), readFileSync(join(dir, f)));
    writeFileSync(join(copyDir, 'vault.key'), key, { mode: 0o600 });
    writeFileSync(join(copyDir, 'vault.key.evidence-pending.jsonl'), record, { mode: 0o600 });
    await run(copyDir, ['add', 'after/kit', '-t', 'kek', '--generate']);
    const logged = JSON.parse(await run(copyDir, ['evidence', 'verify', '--json'])).find((r: { event: string }) => r.event === 'escrow.combine');
    expect(logged.data).toMatchObject({ ...rec.data, deferred: { at: rec.at, file: join(copyDir, 'vault.key.evidence-pending.jsonl') } });

    // The vault: verified, and the entries as `vault-tool list --json` has them.
    await page.setInputFiles('#vault-file', join(dir, 'secrets.vault'));
    await page.locator('#vault-verified').waitFor();
    expect(await text(page, '#vault-verified')).toContain(
      `opens with key id ${status.vault.keyId}; header MAC, every payload chunk, header and payload agreeing, and 3 value fingerprints checked. 3 entries`,
    );
    const rows = await page.locator('#entries tbody tr').evaluateAll((trs) =>
      trs.map((tr) =>
        Array.from(tr.querySelectorAll('td'))
          .slice(0, 4)
          .map((td) => td.textContent),
      ),
    );
    expect(rows).toEqual(
      status.entries.map((e: { name: string; type: string; version: number; fingerprint: string }) => [e.name, e.type, String(e.version), e.fingerprint]),
    );
    await page.locator('tr[data-entry="db/password"] button[data-action="reveal"]').click();
    await see(page, '#value-text', PASSWORD);
    await see(page, '#value-title', 'db/password (version 1)');
    const kek = await download(page, () => page.locator('tr[data-entry="platform/kek"] button[data-action="download"]').click());
    expect(kek.equals((await cli(dir, ['get', 'platform/kek'])).stdoutBytes)).toBe(true);

    // Other age files: one to the vault key, one to the identity kept as the entry backup/identity.
    writeFileSync(join(dir, 'dump.sql'), 'CREATE TABLE t (id int);\n');
    const backupRecipient = execFileSync('age-keygen', ['-y', join(dir, 'backup.id')], { encoding: 'utf8' }).trim();
    execFileSync('age', ['-r', backupRecipient, '-o', join(dir, 'dump.sql.age'), join(dir, 'dump.sql')]);
    execFileSync('age', ['-r', listedRecipient(key), '-a', '-o', join(dir, 'note.txt.age'), join(dir, 'dump.sql')]);
    await page.setInputFiles('#age-file', join(dir, 'dump.sql.age'));
    await page.locator('#age-download').waitFor({ state: 'visible' });
    expect(await text(page, '#age-result')).toMatch(/^dump\.sql\.age opened with entry backup\/identity@1: 25 bytes, sha256 [0-9a-f]{64}$/);
    expect((await download(page, () => page.click('#age-download'))).toString()).toBe('CREATE TABLE t (id int);\n');
    await page.setInputFiles('#age-file', join(dir, 'note.txt.age'));
    await page.locator('#age-result').filter({ hasText: 'note.txt.age opened with the vault key' }).waitFor();

    // Nothing but the file itself was requested, and a fetch is blocked by the CSP.
    const fetched = await page.evaluate(() =>
      fetch('https://example.com/').then(
        () => 'fetched',
        () => 'blocked',
      ),
    );
    expect(fetched).toBe('blocked');
    expect(await violations()).toEqual(['connect-src https://example.com/']);
    expect(requests.filter((u) => !u.startsWith('blob:'))).toEqual([KIT]);
    await page.close();
  }, 120_000);

  it('names a share from another set (typed first, it blocks nothing), a duplicate, a forged share with exactly K, and a bad share among more than K', async () => {
    await run(dir, ['escrow', 'split', '-k', '3', ...five, '-o', 'set2']);
    const { page, requests } = await openKit();
    const bob1 = parseShareFile(readFileSync(shareFile('set1', 'bob'), 'utf8'));
    const dave2 = parseShareFile(readFileSync(shareFile('set2', 'dave'), 'utf8'));
    await typeShare(page, shareText('set2', 'dave'));
    await typeShare(page, shareText('set1', 'bob'));
    await see(page, '#share-error', '');
    await see(page, '#share-summary', `Shares of 2 sets, none with enough yet: set ${dave2.setId} needs 2 more, set ${bob1.setId} needs 2 more.`);
    expect(await page.locator('#share-list .set-head').allInnerTexts()).toEqual([
      `Set ${dave2.setId} (epoch 2, key id ${dave2.keyId}): 1 of the 3 shares needed, 2 more needed.`,
      `Set ${bob1.setId} (epoch 1, key id ${bob1.keyId}): 1 of the 3 shares needed, 2 more needed.`,
    ]);
    await typeShare(page, shareText('set1', 'bob'));
    await see(page, '#share-error', `share 2 (bob) of set ${bob1.setId} was already added`);
    // A forged share: right set, valid checksums, other y values.
    const dave1 = parseShareFile(readFileSync(shareFile('set1', 'dave'), 'utf8'));
    const ys = new Uint8Array(dave1.share);
    ys[3]! ^= 0x21;
    await typeShare(page, encodeText(encodeEnvelope({ ...dave1, share: ys })));
    await typeShare(page, shareText('set1', 'erin'));
    await see(page, '#share-summary', `Shares of 2 sets: set ${bob1.setId} has enough (3 needed); the shares of the other sets are set aside.`);
    await page.click('#rebuild');
    await see(
      page,
      '#rebuild-error',
      `the 3 shares do not recover key id ${bob1.keyId}: at least one of them is wrong; share 4 (dave) is from set ${dave2.setId}, not set ${bob1.setId}: shares of different splits never combine\nhint: check each share on its own against the signed manifest`,
    );
    // With a fourth, good share, the key is rebuilt and the others named: the share of set 2, the forged one, and one of the wrong length.
    await typeShare(page, shareText('set1', 'alice'));
    await typeShare(page, encodeText(encodeEnvelope({ ...parseShareFile(readFileSync(shareFile('set1', 'carol'), 'utf8')), share: ys.subarray(0, 32) })));
    await page.click('#rebuild');
    await page.locator('#key').waitFor({ state: 'visible' });
    await see(page, '#key-id', bob1.keyId);
    await see(
      page,
      '#key-bad',
      [
        `share 4 (dave) is from set ${dave2.setId}, not set ${bob1.setId}: shares of different splits never combine`,
        'share 4 (dave) does not fit the recovered key: it is damaged or forged',
        'share 3 (carol): its share bytes are 32 bytes long, not 33: it is damaged or forged',
      ].join('\n'),
    );
    expect(requests).toEqual([KIT]);
    await page.close();
  }, 120_000);

  it('shows which set the vault needs; two sets with enough are not guessed between, and either can be chosen; older versions of an entry can be taken', async () => {
    // The vault rotates db/password: version 1 is what older backups need.
    await run(dir, ['add', 'db/password', '-t', 'password', '--update', '--from-stdin'], 'rotated password');
    const { page } = await openKit();
    const current = parseShareFile(readFileSync(shareFile('set2', 'alice'), 'utf8'));
    const older = parseShareFile(readFileSync(shareFile('set1', 'alice'), 'utf8'));
    // The vault first: its header names the key it needs, before any share is typed.
    await page.setInputFiles('#vault-file', join(dir, 'secrets.vault'));
    await see(page, '#vault-needs', `secrets.vault opens with key id ${current.keyId}: it needs the shares of a set of that key.`);
    await see(page, '#share-summary', `No shares yet. The chosen vault needs a set of key id ${current.keyId}.`);
    for (const n of ['alice', 'bob', 'carol']) await typeShare(page, shareText('set1', n));
    for (const n of ['alice', 'bob', 'erin']) await typeShare(page, shareText('set2', n));
    await see(
      page,
      '#share-summary',
      `Shares of 2 sets, and 2 of them have enough: choose the set to rebuild from (Rebuild from this set). The chosen vault needs a set of key id ${current.keyId}.`,
    );
    expect(await page.locator('#share-list .set-head.needed').count()).toBe(2);
    await page.click('#rebuild');
    await expect.poll(() => text(page, '#rebuild-error')).toContain('the shares of 2 different sets each reach their threshold');
    expect(await page.locator('#key').isHidden()).toBe(true);
    await page.click(`button[data-rebuild-set="${older.setId}"]`);
    await page.locator('#key').waitFor({ state: 'visible' });
    await see(page, '#key-source', `shares of alice, bob, carol (set ${older.setId})`);
    // The vault chosen before opens as soon as there is a key.
    await page.locator('#vault-verified').waitFor();
    const row = page.locator('tr[data-entry="db/password"]');
    expect(await row.locator('select[data-version] option').allInnerTexts()).toEqual([
      'version 2 (current)',
      expect.stringMatching(/^version 1 of \d{4}-\d\d-\d\d$/),
    ]);
    await row.locator('button[data-action="reveal"]').click();
    await see(page, '#value-text', 'rotated password');
    await see(page, '#value-title', 'db/password (version 2)');
    await row.locator('select[data-version]').selectOption('1');
    const history = JSON.parse(await run(dir, ['--json', 'history', 'db/password']));
    await see(page, 'tr[data-entry="db/password"] td:nth-child(3)', '1 (current: 2)');
    expect(await text(page, 'tr[data-entry="db/password"] td:nth-child(4)')).toBe(
      JSON.stringify(history)
        .match(/"fp:[0-9a-f]{24}"/g)![0]!
        .slice(1, -1),
    );
    await row.locator('button[data-action="reveal"]').click();
    await see(page, '#value-text', PASSWORD);
    await see(page, '#value-title', 'db/password (version 1, an older version: the current one is 2)');
    const old = await download(page, () => row.locator('button[data-action="download"]').click());
    expect(old.toString()).toBe(PASSWORD);
    await page.close();
  }, 120_000);

  it('refuses a tampered vault, a vault of another key, and says which check failed', async () => {
    const { page } = await openKit();
    for (const n of ['alice', 'bob', 'carol']) await typeShare(page, shareText('set1', n));
    await page.click('#rebuild');
    await page.locator('#key').waitFor({ state: 'visible' });
    const vault = readFileSync(join(dir, 'secrets.vault'));
    const payload = Buffer.from(vault);
    payload[payload.length - 20]! ^= 1;
    writeFileSync(join(dir, 'payload-tampered.vault'), payload);
    await page.setInputFiles('#vault-file', join(dir, 'payload-tampered.vault'));
    await page.locator('#vault-error').filter({ hasText: 'vault integrity check failed' }).waitFor();
    await see(
      page,
      '#vault-error',
      'vault integrity check failed: payload chunk 0 failed authentication (truncated or modified)\nhint: the file is damaged or was modified; use another copy',
    );
    const header = Buffer.from(
      vault.toString('latin1').replace(/^(-> vault-tool 1 [0-9a-f]{32} )(\d+)/m, (_m, a: string, g: string) => a + String(Number(g) + 1)),
      'latin1',
    );
    writeFileSync(join(dir, 'header-tampered.vault'), header);
    await page.setInputFiles('#vault-file', join(dir, 'header-tampered.vault'));
    await page.locator('#vault-error').filter({ hasText: 'header mac' }).waitFor();
    await see(
      page,
      '#vault-error',
      'vault integrity check failed: header mac mismatch: the file was modified\nhint: the file is damaged or was modified; use another copy',
    );
    expect(await page.locator('#entries').isHidden()).toBe(true);
    const other = join(dir, 'other');
    execFileSync('mkdir', [other]);
    await run(other, ['init']);
    const otherId = JSON.parse(await run(other, ['--json', 'list'])).vault.keyId;
    await page.setInputFiles('#vault-file', join(other, 'secrets.vault'));
    await page.locator('#vault-error').filter({ hasText: 'this vault opens with' }).waitFor();
    expect(await text(page, '#vault-error')).toContain(`this vault opens with key id ${otherId}; the key file holds key id `);
    await page.close();
  }, 120_000);

  it('opens a passphrase-protected vault.key, and a share file encrypted to a custodian', async () => {
    const prot = join(dir, 'protected');
    execFileSync('mkdir', [prot]);
    const env = { VAULT_TOOL_PASSPHRASE: 'kit passphrase' };
    const r = await cli(prot, ['--passphrase-env', 'VAULT_TOOL_PASSPHRASE', 'init', '--passphrase', '--work-factor', '12'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect((await cli(prot, ['--passphrase-env', 'VAULT_TOOL_PASSPHRASE', 'add', 'x/kek', '-t', 'kek', '--generate'], { env })).code).toBe(0);
    const { page } = await openKit();
    await page.setInputFiles('#key-file', join(prot, 'vault.key'));
    await page.click('#open-key');
    await see(page, '#key-error', 'the key file is passphrase-protected: type its passphrase');
    await page.fill('#key-passphrase', 'not it');
    await page.click('#open-key');
    await page.locator('#key-error').filter({ hasText: 'wrong passphrase' }).waitFor();
    await see(page, '#key-error', 'wrong passphrase for the key file');
    await page.fill('#key-passphrase', 'kit passphrase');
    await page.click('#open-key');
    await page.locator('#key').waitFor({ state: 'visible' });
    await see(page, '#key-source', 'vault.key (passphrase-protected)');
    await page.setInputFiles('#vault-file', join(prot, 'secrets.vault'));
    await page.locator('#vault-verified').waitFor();
    expect(await page.locator('#entries tbody tr').count()).toBe(1);
    // The vault records that its key was protected: the kit says so, and protects the download with a passphrase typed twice.
    await see(page, '#key-protect-note', 'this vault records that its key file was passphrase-protected: protect the download too');
    await page.fill('#key-protect', 'new passphrase');
    await page.fill('#key-protect-again', 'new passphrasE');
    await page.click('#download-key');
    await see(page, '#download-error', 'the two passphrases differ: type them again');
    await page.fill('#key-protect-again', 'new passphrase');
    const protectedKey = await download(page, () => page.click('#download-key'));
    expect(protectedKey.toString().startsWith('-----BEGIN AGE ENCRYPTED FILE-----\n')).toBe(true);
    writeFileSync(join(prot, 'kit.key'), protectedKey, { mode: 0o600 });
    const listed = await cli(prot, ['--passphrase-env', 'P', '--json', 'list', '--key-file', 'kit.key'], { env: { P: 'new passphrase' } });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).entries.map((e: { name: string }) => e.name)).toEqual(['x/kek']);
    expect((await cli(prot, ['--passphrase-env', 'P', 'list', '--key-file', 'kit.key'], { env: { P: 'kit passphrase' } })).code).toBe(3);
    await page.close();

    // A share encrypted to alice's age key: loaded as a file, opened with her identity.
    const aliceId = execFileSync('age-keygen', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    writeFileSync(join(dir, 'alice.id'), aliceId);
    const aliceRecipient = execFileSync('age-keygen', ['-y', join(dir, 'alice.id')], { encoding: 'utf8' }).trim();
    await run(dir, ['escrow', 'split', '-k', '2', '-c', `alice=${aliceRecipient}`, '-c', 'bob', '-o', 'set3']);
    const k = await openKit();
    const enc = join(dir, 'set3', 'share-01-alice.share.age');
    await k.page.setInputFiles('#share-files', enc);
    await k.page.locator('#share-error').filter({ hasText: 'encrypted' }).waitFor();
    await see(
      k.page,
      '#share-error',
      "share-01-alice.share.age is encrypted to a custodian's age key: give that custodian's identity (AGE-SECRET-KEY-1…) first",
    );
    await k.page.locator('details summary').click();
    await k.page.setInputFiles('#share-identity-file', join(dir, 'alice.id'));
    await k.page.waitForFunction(() => (document.getElementById('share-identity') as HTMLTextAreaElement).value.includes('AGE-SECRET-KEY-1'));
    await k.page.setInputFiles('#share-files', [enc, join(dir, 'set3', 'share-02-bob.share')]);
    await k.page.locator('#share-list li').nth(1).waitFor();
    await see(k.page, '#share-error', '');
    await k.page.click('#rebuild');
    await k.page.locator('#key').waitFor({ state: 'visible' });
    await expect.poll(() => text(k.page, '#key-source')).toMatch(/^shares of alice, bob \(set [0-9a-f]{16}\)$/);
    await k.page.close();
  }, 120_000);
});

function listedRecipient(keyFile: Buffer): string {
  return /# public key: (age1\S+)/.exec(keyFile.toString())![1]!;
}

/** A one-frame Y4M video of a QR code holding `text`: what Chromium's fake camera shows. */
function qrVideo(text: string, path: string): void {
  const grid = encodeQR(text, 'raw', { ecc: 'medium', border: 4 });
  const W = 640;
  const H = 480;
  const scale = Math.floor(Math.min(W, H) / grid.length);
  const y = Buffer.alloc(W * H, 235);
  const ox = Math.floor((W - grid.length * scale) / 2);
  const oy = Math.floor((H - grid.length * scale) / 2);
  grid.forEach((row, r) =>
    row.forEach((dark, c) => {
      if (!dark) return;
      for (let dy = 0; dy < scale; dy++) y.fill(16, (oy + r * scale + dy) * W + ox + c * scale, (oy + r * scale + dy) * W + ox + (c + 1) * scale);
    }),
  );
  const chroma = Buffer.alloc((W / 2) * (H / 2) * 2, 128);
  writeFileSync(path, Buffer.concat([Buffer.from(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\nFRAME\n`), y, chroma]));
}

describe.skipIf(!ready)('the recovery kit reads a QR code with the camera', () => {
  it("a share sheet's QR code, shown to the (fake) camera, becomes a checked share", async () => {
    const text = shareText('set1', 'bob');
    const video = join(dir, 'qr.y4m');
    qrVideo(text, video);
    const cam = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-video-capture=${video}`,
      ],
    });
    try {
      const page = await cam.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(KIT);
      await page.locator('#scan-qr').click();
      await page.locator('#share-list li').first().waitFor({ timeout: 30_000 });
      await see(
        page,
        '#share-list li',
        `share 2 (bob): share 2 of 5, any 3 recover the key; set ${parseShareFile(text).setId}, epoch 1, key id ${parseShareFile(text).keyId} Remove`,
      );
      expect(await page.locator('#scanner').isHidden()).toBe(true);
      expect(requests).toEqual([KIT]);
    } finally {
      await cam.close();
    }
  }, 120_000);
});
