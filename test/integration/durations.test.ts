import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir, type CliOptions } from '../helpers/cli.js';

/**
 * One duration grammar for every option and plan field (docs/FORMAT.md,
 * "Durations"): the procedures' own target, RPO ≤ 15 minutes, means 15
 * minutes everywhere, and the value is echoed in its normalized form.
 */
let dir: string;
let cleanup: () => void;
const T0 = new Date('2027-03-01T12:00:00Z');
const at = (minutes: number): CliOptions => ({ now: new Date(T0.getTime() + minutes * 60_000) });
const vt = (args: string[], opts: CliOptions = {}) => cli(dir, args, opts);

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-durations-'));
  expect((await vt(['init'])).code).toBe(0);
  expect((await vt(['add', 'k', '-t', 'kek', '--generate'])).code).toBe(0);
  const b = await vt(['backup', 'exec', '--name', 'app', '-r', 'repo', '--', 'echo', 'rows'], at(0));
  expect(b.code, b.stderr).toBe(0);
});
afterAll(() => cleanup());

describe('RPO: 15m is fifteen minutes, however it is written', () => {
  it.each(['15m', '15min', '0.25h', '900s', '15MIN'])('backup status --rpo %s', async (rpo) => {
    const ok = await vt(['backup', 'status', '-r', 'repo', '--rpo', rpo, '--json'], at(10));
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual([expect.objectContaining({ component: 'exec/app', rpoSeconds: 900, rpo: '15m', rpoMissed: false })]);
    const late = await vt(['backup', 'status', '-r', 'repo', '--rpo', rpo], at(20));
    expect(late.code).toBe(8);
    expect(late.stdout).toMatch(/^exec\/app +\S+ +20m +15m MISSED +[0-9a-f]{16} +yes$/m);
    expect(late.stderr).toContain('RPO missed for exec/app (15m)');
  });

  it('the same in status, with the normalized value echoed', async () => {
    const r = await vt(['status', '-r', 'repo', '--rpo', '90min'], at(100));
    expect(r.stdout).toMatch(/^exec\/app +\S+ +1h40m +1h30m MISSED +yes$/m);
  });

  it('an RPO file: per kind and component, strict, its errors naming the field', async () => {
    writeFileSync(join(dir, 'rpo.yaml'), 'rpo:\n  default: 1d\n  exec: 2h\n  exec/app: 15min\n');
    const r = await vt(['backup', 'status', '-r', 'repo', '--rpo-file', 'rpo.yaml', '--json'], at(10));
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ component: 'exec/app', rpo: '15m', rpoMissed: false })]);
    for (const [text, message] of [
      ['rpo:\n  exec/app: 15\n', 'rpo.yaml: rpo.exec/app: expected a duration such as 15m, 6h, 1d'],
      ['rpo:\n  exec/app: 15 minutes\n', 'rpo.yaml: rpo.exec/app: expected a number and one of the units s, m, min, h, d, w, mo, y'],
      ['rpo: { default: 1d }\nrpoo: 2h\n', 'rpo.yaml: rpoo: unknown field (expected rpo)'],
      [
        'rpo:\n  Exec/App: 1h\n',
        'rpo.yaml: rpo.Exec/App: expected default, a kind (postgres, postgres-base, postgres-wal, redis, files, k8s, exec, bucket) or a component KIND/NAME',
      ],
    ]) {
      writeFileSync(join(dir, 'rpo.yaml'), text!);
      const bad = await vt(['backup', 'status', '-r', 'repo', '--rpo-file', 'rpo.yaml']);
      expect(bad.code).toBe(11);
      expect(bad.stderr).toContain(`vault-tool: error: ${message}`);
    }
  });
});

describe("the verification plan's RPO: the scheduled verify checks it", () => {
  it('within it: a pass line per component; past it: a failure, in the output, the report and the metrics', async () => {
    writeFileSync(join(dir, 'rpo-plan.yaml'), 'apiVersion: vault-tool/v1\nkind: VerificationPlan\nbackups: { repo: repo, rpo: { exec/app: 15min } }\n');
    const ok = await vt(['verify', '--plan', 'rpo-plan.yaml', '--json'], at(10));
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).checks.find((c: { subject: string }) => c.subject === 'exec/app: RPO 15m')).toMatchObject({
      verdict: 'ok',
      message: 'exec/app: the newest verified backup is 10m old, within the RPO of 15m',
    });
    const late = await vt(['verify', '--plan', 'rpo-plan.yaml', '--prometheus', 'rpo.prom', '--report', 'rpo.md'], at(20));
    expect(late.code).toBe(8);
    expect(late.stdout).toMatch(/^FAIL backups: exec\/app: the newest verified backup \(\S+\) is 20m old, over the RPO of 15m$/m);
    expect(readFileSync(join(dir, 'rpo.md'), 'utf8')).toContain('**backups: exec/app: RPO 15m**');
    const prom = readFileSync(join(dir, 'rpo.prom'), 'utf8');
    expect(prom).toContain('vault_tool_backup_rpo_missed{component="exec/app"} 1\n');
    expect(prom).toContain('vault_tool_backup_rpo_seconds{component="exec/app"} 900\n');
  });

  it('without an RPO, no component is ever reported as having met one', async () => {
    writeFileSync(join(dir, 'no-rpo.yaml'), 'apiVersion: vault-tool/v1\nkind: VerificationPlan\nbackups: { repo: repo }\n');
    expect((await vt(['verify', '--plan', 'no-rpo.yaml', '--prometheus', 'none.prom'], at(20))).code).toBe(0);
    const prom = readFileSync(join(dir, 'none.prom'), 'utf8');
    expect(prom).toMatch(/vault_tool_backup_last_success_timestamp_seconds\{component="exec\/app"\} [1-9]/);
    expect(prom).not.toMatch(/vault_tool_backup_rpo_missed\{/);
    expect((await vt(['status', '-r', 'repo', '--prometheus', 'none.prom'], at(21))).code).toBe(0);
    expect(readFileSync(join(dir, 'none.prom'), 'utf8')).not.toMatch(/vault_tool_backup_rpo_missed\{/);
  });
});

describe('intervals, timeouts and keep rules read the same grammar', () => {
  it('verify --interval 15m is fifteen minutes; status echoes 90m as 1h30m', async () => {
    const r = await vt(['verify', '--interval', '15m', '--json'], at(0));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).nextDue).toBe('2027-03-01T12:15:00.000Z');
    const s = await vt(['status', '--interval', '90m'], at(1));
    expect(s.stdout).toMatch(/^verification \(1h30m\): /m);
    expect((await vt(['status', '--interval', '2w', '--json'], at(1))).stdout).toContain('"interval": "14d"');
    expect((await vt(['status', '--interval', 'quarterly', '--json'], at(1))).stdout).toContain('"interval": "quarterly"');
    const bad = await vt(['status', '--interval', 'fortnightly']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('vault-tool: error: --interval "fortnightly": expected a number and one of the units');
    expect(bad.stderr).toContain('vault-tool: hint: quarterly, monthly, yearly, or a duration such as 90d, 12w, 3mo, 36h');
  });

  it("a plan's interval is echoed normalized in the report", async () => {
    writeFileSync(join(dir, 'plan.yaml'), 'apiVersion: vault-tool/v1\nkind: VerificationPlan\ninterval: 12w\n');
    expect((await vt(['verify', '--plan', 'plan.yaml', '--report', 'r.md'])).code).toBe(0);
    expect(readFileSync(join(dir, 'r.md'), 'utf8')).toMatch(/^- Interval: 84d; next verification due /m);
  });

  it('--request-timeout takes seconds or a duration', async () => {
    expect((await vt(['verify', '--request-timeout', '90s'])).code).toBe(0);
    expect((await vt(['verify', '--request-timeout', '30'])).code).toBe(0);
    const bad = await vt(['verify', '--request-timeout', '5 parsecs']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('must be a number of seconds, or a duration such as 90s, 2m, 1h');
  });

  it("--keep-within: restic's m (months) is refused rather than guessed; mo and min are clear", async () => {
    const m = await vt(['backup', 'prune', '-r', 'repo', '--keep-within', '6m']);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain('vault-tool: error: --keep-within "6m": ambiguous: "m" is minutes here, but months in restic');
    expect(m.stderr).toContain('vault-tool: hint: write 6mo for months, or 30min for minutes');
    const mo = await vt(['backup', 'prune', '-r', 'repo', '--keep-within', '6mo', '--json'], at(60 * 24 * 100));
    expect(JSON.parse(mo.stdout).decisions[0].reasons).toContain('within the last 6mo');
    const min = await vt(['backup', 'prune', '-r', 'repo', '--keep-within', '30min', '--json'], at(10));
    expect(JSON.parse(min.stdout).decisions[0].reasons).toContain('within the last 30m');
  });
});
