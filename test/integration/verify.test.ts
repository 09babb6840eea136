import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript helper shared with the benchmarks
import { startKubeApi } from '../helpers/kube-api-server.mjs';
import { cli, haveBinary, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';

/**
 * Quarterly verification end to end. Every output of every command run
 * here (stdout, stderr, reports, metrics files) is kept, and after the last
 * test none may hold any secret value the vaults hold.
 */
let dir: string;
let cleanup: () => void;
const outputs: string[] = [];
const secrets = new Set<string>();
const vt = async (args: string[], opts: CliOptions = {}): Promise<CliResult> => {
  const r = await cli(dir, args, { ...opts, env: { USER: 'auditor-ann', RCLONE_CONFIG_OFFSITE_TYPE: 'local', ...opts.env } });
  outputs.push(r.stdout, r.stderr);
  return r;
};
const value = async (name: string) => {
  const v = (await cli(dir, ['get', name])).stdout;
  secrets.add(v);
  return v;
};
const failing = (r: CliResult) =>
  JSON.parse(r.stdout)
    .checks.filter((c: { ok: boolean }) => !c.ok)
    .map((c: { area: string; message: string }) => `${c.area}: ${c.message}`);

beforeAll(() => ({ dir, cleanup } = tempDir('vt-verify-')));

describe('drift: production compared with the escrow by keyed hash', () => {
  let srv: { close(): Promise<void>; kubeconfig(o?: object): string; state: { put(o: unknown): void } };
  beforeAll(async () => {
    srv = await startKubeApi({ namespaces: ['default', 'apps'] });
    writeFileSync(join(dir, 'kubeconfig'), srv.kubeconfig({ context: 'prod' }));
    expect((await vt(['init'])).code).toBe(0);
    for (const n of ['platform/master', 'zone/kek', 'app/hmac', 'app/db'])
      expect((await vt(['add', n, '-t', n === 'app/db' ? 'password' : 'kek', '--generate'])).code).toBe(0);
  });
  afterAll(async () => srv.close());

  it('matches in every kind of source, and says where production differs and how', async () => {
    const master = await value('platform/master');
    const kek1 = await value('zone/kek');
    await vt(['rotate', 'zone/kek']);
    await value('zone/kek');
    writeFileSync(join(dir, 'app.env'), `MASTER_KEY=${master}\nZONE_KEK='${kek1}'\n`);
    writeFileSync(join(dir, 'hmac.key'), (await value('app/hmac')) + '\n');
    srv.state.put({ metadata: { name: 'db', namespace: 'apps' }, data: { PASSWORD: Buffer.from('a-rotated-password-never-escrowed').toString('base64') } });
    const r = await vt(
      [
        'verify',
        '--json',
        '--kubeconfig',
        'kubeconfig',
        '--against',
        'env:app.env#MASTER_KEY=platform/master',
        '--against',
        'env:app.env#ZONE_KEK=zone/kek',
        '--against',
        'file:hmac.key=app/hmac',
        '--against',
        'envvar:APP_DB=app/db',
        '--against',
        'k8s:apps/db#PASSWORD=app/db',
      ],
      { env: { APP_DB: await value('app/db') } },
    );
    expect(r.code).toBe(8);
    const drift = JSON.parse(r.stdout).drift.map((d: { entry: string; source: string; status: string; heldVersion?: number }) => [
      d.source,
      d.status,
      d.heldVersion ?? null,
    ]);
    expect(drift).toEqual([
      ['env:app.env#MASTER_KEY', 'match', 1],
      ['env:app.env#ZONE_KEK', 'older-version', 1],
      ['file:hmac.key', 'match', 1],
      ['envvar:APP_DB', 'match', 1],
      ['k8s:apps/db#PASSWORD', 'never-escrowed', null],
    ]);
    expect(failing(r)).toEqual([
      "drift: production holds zone/kek@1, but the vault's current version is 2: a rotation was never deployed, or production was rolled back",
      'drift: production holds a value of app/db the vault never had: a key rotated in production and never escrowed',
    ]);
    expect(r.stderr).toContain('{"type":"error","code":"verify-failed","kind":"verify-failed","exit":8,"message":"verification failed: 2 checks of');
  });

  it('a missing source is a failure naming it, not a crash', async () => {
    const r = await vt([
      'verify',
      '--json',
      '--against',
      'env:app.env#NOPE=platform/master',
      '--against',
      'file:nowhere.bin=platform/master',
      '--against',
      'envvar:UNSET_VAR=platform/master',
    ]);
    expect(r.code).toBe(8);
    expect(failing(r)).toEqual([
      `drift: env:app.env#NOPE: ${join(dir, 'app.env')} has no variable NOPE`,
      `drift: file not found: ${join(dir, 'nowhere.bin')}`,
      'drift: envvar:UNSET_VAR: the environment variable UNSET_VAR is not set',
    ]);
  });
});

describe("canaries: a test message made with production's key opens with the escrowed one", () => {
  beforeEach(async () => {
    ({ dir, cleanup } = tempDir('vt-canary-'));
    await vt(['init']);
    await vt(['add', 'k', '-t', 'kek', '--generate']);
  });
  afterEach(() => cleanup());

  it('opens with the current version; names an older one; fails with a key the vault never had', async () => {
    writeFileSync(join(dir, 'prod.key'), await value('k'));
    expect((await vt(['canary', 'create', 'k', '--with', 'file:prod.key'])).code).toBe(0);
    writeFileSync(join(dir, 'other.key'), Buffer.alloc(32, 3).toString('base64'));
    const made = await vt(['canary', 'create', 'k', '--with', 'file:other.key']);
    expect(made.code).toBe(0);
    expect(made.stderr).toMatch(
      /warning: no escrowed version of k decrypts canary [0-9a-f]{8} \(made from file:other.key\): production's key is not in the vault/,
    );
    let r = await vt(['verify', '--json']);
    expect(JSON.parse(r.stdout).canaries.map((c: { status: string }) => c.status)).toEqual(['opens', 'fails']);
    await vt(['rotate', 'k']);
    await value('k');
    const id = JSON.parse((await vt(['canary', 'list', '--json'])).stdout).find((c: { status: string }) => c.status === 'fails').id;
    expect((await vt(['canary', 'rm', id.slice(0, 6)])).code).toBe(0);
    r = await vt(['verify', '--json']);
    expect(failing(r)).toEqual([
      expect.stringMatching(
        /^canaries: canary [0-9a-f]{8} opens with k@1, not the current version 2: production used an older key when it was made; make a new canary$/,
      ),
    ]);
  });
});

describe('copies: made, read back, registered, and checked entry version by entry version', () => {
  beforeEach(async () => {
    ({ dir, cleanup } = tempDir('vt-copies-'));
    await vt(['init']);
    await vt(['add', 'k', '-t', 'kek', '--generate']);
    await value('k');
  });
  afterEach(() => cleanup());

  it('a copy to a folder and a key copy to an rclone remote; both stay current through metadata changes', async () => {
    mkdirSync(join(dir, 'remote'));
    const c = await vt(['copy', '--to', 'usb', '--key-to', `offsite:${join(dir, 'remote')}`, '--json']);
    expect(c.code, c.stderr).toBe(0);
    const made = JSON.parse(c.stdout);
    expect(readdirSync(join(dir, 'usb'))).toEqual([made.vault.file]);
    expect(readdirSync(join(dir, 'remote'))).toEqual([made.key.file]);
    await vt(['canary', 'create', 'k', '--with', 'envvar:K'], { env: { K: await value('k') } });
    const r = await vt(['verify', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).copies.map((x: { kind: string; status: string }) => `${x.kind}:${x.status}`)).toEqual(['vault:current', 'key:current']);
  });

  it('the vault and its key in the same place are refused unless forced', async () => {
    const r = await vt(['copy', '--to', 'same', '--key-to', 'same']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^vault-tool: error: the vault and its key would be copied to the same place \(.*same\): whoever holds both holds every secret\nvault-tool: hint: give --key-to a different folder/,
    );
    expect((await vt(['copy', '--to', 'same', '--key-to', 'same', '--force'])).code).toBe(0);
  });

  it('reports a copy that is stale, of another vault, damaged, gone, or opens only with a replaced key', async () => {
    await vt(['copy', '--to', 'old', '--key-to', 'oldkey']);
    const stale = join(dir, 'old', readdirSync(join(dir, 'old'))[0]!);
    await vt(['add', 'k2', '-t', 'kek', '--generate']);
    await vt(['init', '--vault-file', 'other.vault', '--key-file', 'other.key']);
    copyFileSync(stale, join(dir, 'damaged.vault'));
    const bytes = readFileSync(join(dir, 'damaged.vault'));
    bytes[bytes.length - 20]! ^= 1;
    writeFileSync(join(dir, 'damaged.vault'), bytes);
    let r = await vt(['verify', '--json', '--copy', 'other.vault:./other.key', '--copy', 'damaged.vault', '--copy', 'gone.vault']);
    expect(r.code).toBe(8);
    const f = failing(r);
    expect(f[0]).toMatch(
      /^copies: vault copy [0-9a-f]{8} at .*\/old\/secrets\.vault\.\d{8}T\d{6}Z-[0-9a-f]{8} \(generation \d+, 0 days old\) lacks 1 entry version\(s\) the vault holds \(k2@1\): it cannot restore them$/,
    );
    expect(f[1]).toMatch(/^copies: key copy \.\/other\.key holds key id [0-9a-f]{16}, not a key of this vault$/);
    expect(f[2]).toMatch(/^copies: vault copy other\.vault is a copy of vault [0-9a-f]{12}, not of this vault \([0-9a-f]{12}\)$/);
    expect(f[3]).toMatch(/^copies: vault copy damaged\.vault: vault integrity check failed: payload chunk 0 failed authentication/);
    expect(f[4]).toBe('copies: vault copy gone.vault: the copy is not there');
    expect(f).toHaveLength(5);
    await vt(['copy', '--to', 'lone']);
    await vt(['rekey']);
    await vt(['rekey', '--confirm']);
    r = await vt(['verify', '--json']);
    // The first vault copy still opens with its own (old) key copy, and is reported stale; the lone one opens with nothing held now.
    expect(failing(r).filter((x: string) => x.includes('key copy') || x.includes('older than the last rekey'))).toEqual([
      expect.stringMatching(/^copies: key copy [0-9a-f]{8} at .* holds key id [0-9a-f]{16}, replaced on \S+: it no longer opens the vault$/),
      expect.stringMatching(
        /^copies: vault copy [0-9a-f]{8} at .*\/lone\/.* opens only with key id [0-9a-f]{16} \(replaced on \S+\): it is older than the last rekey, and the vault key no longer opens it$/,
      ),
    ]);
  });
});

describe('evidence, shares, the report and the record', () => {
  beforeEach(async () => {
    ({ dir, cleanup } = tempDir('vt-report-'));
    await vt(['init']);
    await vt(['add', 'k', '-t', 'kek', '--generate']);
    await vt(['escrow', 'split', '-k', '2', '-c', 'ann', '-c', 'bob', '-c', 'cy', '-o', 'shares']);
  });
  afterEach(() => cleanup());
  const share = (who: string) => join(dir, 'shares', readdirSync(join(dir, 'shares')).find((f) => f.endsWith(`-${who}.share`))!);

  it('a tampered evidence log fails verification at the exact record', async () => {
    await vt(['escrow', 'reshare', '-k', '2', '-c', 'ann', '-c', 'bob', '-o', 'shares2']);
    const path = join(dir, 'secrets.vault.evidence.jsonl');
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    writeFileSync(path, [lines[0]!.replace('"threshold":2', '"threshold":3'), lines[1]].join('\n') + '\n');
    const r = await vt(['verify', '--json']);
    expect(failing(r)).toEqual(['evidence: evidence record 1 fails its MAC: it was edited']);
  });

  it("custodians' shares are combined in memory: the right ones pass and are named in the record; an old split fails", async () => {
    const r = await vt(['verify', '--shares', share('ann'), share('cy'), '--operator', 'Olga (CISO)', '--report', 'q4.md']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(dir).filter((f) => f.includes('.key'))).toEqual(['vault.key']);
    const report = readFileSync(join(dir, 'q4.md'), 'utf8');
    outputs.push(report);
    expect(report).toMatch(/- \*\*Result: PASSED \(\d+ checks\)\*\*/);
    expect(report).toMatch(/\| escrow \| share set [0-9a-f]+ \| pass \| share set [0-9a-f]+ \(epoch 1, any 2 of 3: ann, bob, cy\) opens the vault key/);
    expect(report).toContain('- Operator: Olga (CISO)');
    expect(report).toContain('- Custodians who brought shares: ann, cy');
    const rec = JSON.parse((await vt(['evidence', 'verify', '--json'])).stdout).at(-1);
    expect(rec).toMatchObject({
      event: 'verify',
      data: { ok: true, operator: 'Olga (CISO)', custodians: ['ann', 'cy'], reportSha256: createHash('sha256').update(report).digest('hex') },
    });
    await vt(['rekey']);
    await vt(['rekey', '--confirm']);
    const old = await vt(['verify', '--json', '--shares', share('ann'), share('bob')]);
    expect(failing(old)).toEqual([
      expect.stringMatching(
        /^escrow: the escrow is stale: share set [0-9a-f]+ \(epoch 1, any 2 of 3: ann, bob, cy\) opens key id [0-9a-f]{16}, replaced on \S+, not the vault key/,
      ),
      expect.stringMatching(/^shares: the shares were combined and recover key id [0-9a-f]{16}, not the vault key [0-9a-f]{16}: they are from an older split$/),
    ]);
  });

  it("shares of a set split since (reshare without --rekey) open the key, and fail: the current set's shares were not checked", async () => {
    expect((await vt(['escrow', 'reshare', '-k', '2', '-c', 'dee', '-c', 'eve', '-o', 'new'])).code).toBe(0);
    const old = await vt(['verify', '--json', '--shares', share('ann'), share('bob')]);
    expect(old.code).toBe(8);
    expect(failing(old)).toEqual([
      expect.stringMatching(
        /^shares: the shares of ann, bob recover the vault key, but they are of share set [0-9a-f]{16} \(epoch 1\), not the current set [0-9a-f]{16} \(epoch 2: dee, eve\): the current shares were not checked$/,
      ),
    ]);
    const current = await vt(['verify', '--shares', join(dir, 'new/share-01-dee.share'), join(dir, 'new/share-02-eve.share')]);
    expect(current.code, current.stderr).toBe(0);
  });

  it('a failed run writes a report that says what to do about each failure', async () => {
    const r = await vt(['verify', '--against', 'envvar:NOPE=k', '--report-dir', 'reports']);
    expect(r.code).toBe(8);
    const report = readFileSync(join(dir, 'reports', readdirSync(join(dir, 'reports'))[0]!), 'utf8');
    outputs.push(report);
    expect(report).toContain('- **Result: FAILED (1 of');
    expect(report).toMatch(
      /## Failures and what to do\n\n1\. \*\*drift: k in envvar:NOPE\*\*: envvar:NOPE: the environment variable NOPE is not set\n {3}Production does not hold the escrowed key/,
    );
  });
});

describe('a stale escrow is a failure: in verify, its report, the metrics, status and rekey', () => {
  beforeAll(async () => {
    ({ dir, cleanup } = tempDir('vt-escrow-'));
    await vt(['init']);
    await vt(['add', 'k', '-t', 'kek', '--generate']);
    await vt(['escrow', 'split', '-k', '2', '-c', 'ann', '-c', 'bob', '-c', 'cy', '-o', 'shares']);
  });
  afterAll(() => cleanup());

  it('after rekey --confirm the shares open only the old key: every verdict says so until the new key is split', async () => {
    const before = await vt(['verify', '--json']);
    expect(before.code, before.stderr).toBe(0);
    expect(JSON.parse(before.stdout).checks.find((c: { area: string }) => c.area === 'escrow')).toMatchObject({ verdict: 'ok', ok: true });
    await vt(['rekey']);
    const confirm = await vt(['rekey', '--confirm']);
    expect(confirm.code).toBe(0);
    expect(confirm.stderr).toMatch(
      /vault-tool: warning: the escrow is stale: share set [0-9a-f]+ \(epoch 1, any 2 of 3: ann, bob, cy\) opens key id [0-9a-f]{16}, replaced on \S+, not the vault key [0-9a-f]{16}: the custodians' shares cannot open this vault\. .*run `vault-tool escrow reshare` \(or `vault-tool escrow split`\) now/,
    );
    const r = await vt(['verify', '--report', 'q.md', '--prometheus', 'm.prom']);
    expect(r.code).toBe(8);
    expect(r.stdout).toMatch(/^escrow +FAIL +share set [0-9a-f]+$/m);
    expect(r.stdout).toContain('FAIL escrow: the escrow is stale');
    expect(r.stderr).toContain('vault-tool: error: verification failed: 1 check of');
    const report = readFileSync(join(dir, 'q.md'), 'utf8');
    outputs.push(report);
    expect(report).toMatch(/- \*\*Result: FAILED \(1 of \d+ checks\)\*\*/);
    expect(report).toMatch(
      /## Failures and what to do\n\n1\. \*\*escrow: share set [0-9a-f]+\*\*: the escrow is stale: .*\n {3}The custodians' shares do not open the vault key/,
    );
    expect(report).toContain('`vault-tool escrow reshare`');
    const prom = readFileSync(join(dir, 'm.prom'), 'utf8');
    expect(prom).toContain('vault_tool_escrow_stale 1\n');
    expect(prom).toContain('vault_tool_verify_last_failures 1\n');
    expect(prom).toContain('vault_tool_verify_last_status 0\n');
    const st = await vt(['status']);
    expect(st.code).toBe(8);
    expect(st.stdout).toMatch(/^escrow: STALE — the escrow is stale/m);
    expect(st.stderr).toMatch(/^vault-tool: error: the escrow is stale: .*; the last verification failed/m);
    expect(st.stderr).toContain('vault-tool: hint: split the current key among the custodians again: `vault-tool escrow reshare`');
    await vt(['status', '--prometheus', 'm.prom']);
    expect(readFileSync(join(dir, 'm.prom'), 'utf8')).toContain('vault_tool_escrow_stale 1\n');
    // The new key split: the escrow opens the vault again, and every verdict says so.
    expect((await vt(['escrow', 'reshare', '-k', '2', '-c', 'ann', '-c', 'bob', '-o', 'shares2'])).code).toBe(0);
    expect((await vt(['verify'])).code).toBe(0);
    const ok = await vt(['status', '--prometheus', 'm.prom']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readFileSync(join(dir, 'm.prom'), 'utf8')).toContain('vault_tool_escrow_stale 0\n');
  });
});

describe('status, due dates and metrics', () => {
  beforeEach(async () => {
    ({ dir, cleanup } = tempDir('vt-status-'));
    await vt(['init']);
    await vt(['add', 'k', '-t', 'kek', '--generate']);
  });
  afterEach(() => cleanup());

  it('quarterly due dates across a year end and a leap day; overdue is its own exit code', async () => {
    const at = (iso: string) => ({ now: new Date(iso) });
    expect((await vt(['status'], at('2023-11-30T10:00:00Z'))).code).toBe(18);
    expect((await vt(['verify'], at('2023-11-30T10:00:00Z'))).code).toBe(0);
    const s = JSON.parse((await vt(['status', '--json'], at('2024-02-29T09:59:59Z'))).stdout);
    expect(s).toMatchObject({ nextDue: '2024-02-29T10:00:00.000Z', overdue: false });
    expect((await vt(['status'], at('2024-02-29T09:59:59Z'))).code).toBe(0);
    const late = await vt(['status'], at('2024-02-29T10:00:01Z'));
    expect(late.code).toBe(18);
    expect(late.stderr).toContain('verification is overdue: the last success was 2023-11-30T10:00:00.000Z, due every quarterly');
    expect((await vt(['verify'], at('2024-11-30T10:00:00Z'))).code).toBe(0);
    expect(JSON.parse((await vt(['status', '--json'], at('2024-12-01T00:00:00Z'))).stdout).nextDue).toBe('2025-02-28T10:00:00.000Z');
    expect(JSON.parse((await vt(['status', '--json', '--interval', 'yearly'], at('2024-12-01T00:00:00Z'))).stdout).nextDue).toBe('2025-11-30T10:00:00.000Z');
    expect(JSON.parse((await vt(['status', '--json', '--interval', '90d'], at('2024-12-01T00:00:00Z'))).stdout).nextDue).toBe('2025-02-28T10:00:00.000Z');
  });

  it.skipIf(!haveBinary('promtool', ['--version']))('the metrics pass promtool check metrics, with explicit zeros', async () => {
    await vt(['copy', '--to', 'usb']);
    await vt(['verify', '--against', 'envvar:NOPE=k', '--prometheus', 'vault_tool.prom']);
    const text = readFileSync(join(dir, 'vault_tool.prom'), 'utf8');
    outputs.push(text);
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
    expect(text).toContain('vault_tool_verify_last_status 0\n');
    expect(text).toContain('vault_tool_verify_last_success_timestamp_seconds 0\n');
    expect(text).toMatch(/vault_tool_drift\{entry="k",source="envvar:NOPE",status="missing"\} 1\n/);
    expect(text).toMatch(/vault_tool_copy_age_seconds\{copy="[0-9a-f]{8}",kind="vault"\} \d+\n/);
    expect(text).toContain('vault_tool_drill_last_rto_seconds 0\n');
    const rulesFile = join(import.meta.dirname, '../../docs/alerts.yaml');
    const rules = spawnSync('promtool', ['check', 'rules', rulesFile], { encoding: 'utf8' });
    expect(rules.status, rules.stdout + rules.stderr).toBe(0);
    // Every rule of the file, however many it holds.
    expect(rules.stdout).toContain(`SUCCESS: ${readFileSync(rulesFile, 'utf8').match(/^ {6}- alert: /gm)!.length} rules found`);
  });
});

// No output holds a secret: every stdout, stderr, report and metrics file of the tests above, in whatever
// order they ran, is free of every value the vaults held (checked after the last of them).
afterAll(() => {
  if (secrets.size) expect(outputs.length).toBeGreaterThan(0);
  for (const s of secrets) for (const o of outputs) expect(o.includes(s), 'a secret value in an output').toBe(false);
  cleanup();
});
