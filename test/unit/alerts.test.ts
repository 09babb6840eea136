import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { archiveFindings } from '../../src/backup/status.js';
import { archiverFailing, WAL_WRITTEN, walMetrics } from '../../src/backup/wal/status.js';
import { metricList, metricsOf } from '../../src/verify/metrics.js';
import type { VaultStatus } from '../../src/verify/status.js';
import { ROOT } from '../helpers/cli.js';
import { needs } from '../helpers/require.js';

/**
 * docs/alerts.yaml and the metrics are one list: every metric that signals a
 * failure (or a check that could not judge) has an alert rule, every rule
 * reads metrics vault-tool writes, and every rule has a promtool unit test
 * that makes it fire.
 */
const rulesFile = join(ROOT, 'docs/alerts.yaml');
const testsFile = join(ROOT, 'docs/alerts.test.yaml');
const rules = (parse(readFileSync(rulesFile, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap((g) => g.rules);
const tests = parse(readFileSync(testsFile, 'utf8')) as {
  tests: { alert_rule_test: { alertname: string; eval_time: string; exp_alerts: unknown[] }[] }[];
};

const minutes = (t: string) => Number(/^(\d+)m$/.exec(t)?.[1] ?? Number.NaN);

/** A status in which every series has samples (every kind of label, an RPO). */
const status: VaultStatus = {
  at: '2027-01-01T00:15:00.000Z',
  vault: { vaultId: 'a'.repeat(32), generation: 3, keyId: 'b'.repeat(16), updatedAt: '2027-01-01T00:00:00.000Z' },
  interval: 'quarterly',
  lastVerification: {
    at: '2027-01-01T00:00:00.000Z',
    ok: false,
    verdict: 'failed',
    operator: 'o',
    failures: 1,
    inconclusive: 1,
    reportSha256: 'c'.repeat(64),
    drift: [{ entry: 'e', source: 'envvar:E', status: 'never-escrowed' }],
    canaries: [{ id: 'd'.repeat(32), entry: 'e', status: 'fails' }],
  },
  overdue: true,
  overdueSeconds: 5,
  lastDrill: { at: '2027-01-01T00:00:00.000Z', ok: false, rtoTargetSeconds: 5, rtoMissed: true, reportSha256: 'c'.repeat(64) },
  escrow: { setId: 's', epoch: 1, threshold: 2, count: 3, custodians: ['a', 'b', 'c'], keyMatchesVault: false, stale: true, message: 'stale' },
  copies: [{ id: '1a2b3c4d', kind: 'vault', dest: '/usb', file: 'f', createdAt: '2027-01-01T00:00:00.000Z', ageSeconds: 1, lastStatus: 'stale' }],
  neverVerified: ['e'],
  backups: [
    { component: 'postgres/app', lastVerifiedAt: '2027-01-01T00:00:00.000Z', ageSeconds: 1, rpoSeconds: 900, rpo: '15m', rpoMissed: true, keyHeld: false },
    { component: 'files/etc', keyHeld: true },
    {
      component: 'postgres-wal/main',
      lastVerifiedAt: '2027-01-01T00:00:00.000Z',
      ageSeconds: 1200,
      rpoSeconds: 900,
      rpo: '15m',
      rpoMissed: true,
      keyId: 'b'.repeat(16),
      keyHeld: true,
      wal: {
        cluster: 'main',
        segments: 12,
        newest: '000000010000000000000012',
        archivedAt: '2027-01-01T00:00:00.000Z',
        ageSeconds: 1200,
        rpoSeconds: 900,
        rpoMissed: true,
        bases: 1,
        archiver: {
          archived_count: '12',
          last_archived_wal: '000000010000000000000012',
          last_archived_time: '2027-01-01 00:00:00+00',
          failed_count: '3',
          last_failed_wal: '000000010000000000000013',
          last_failed_time: '2027-01-01 00:05:00+00',
        },
      },
    },
    {
      component: 'postgres-wal/damaged',
      keyHeld: true,
      wal: { cluster: 'damaged', segments: 0, bases: 1, rpoMissed: false, problem: { message: 'archive.json: altered', verdict: 'failed' } },
    },
    {
      component: 'postgres-wal/foreign',
      lastVerifiedAt: '2027-01-01T00:00:00.000Z',
      ageSeconds: 60,
      keyId: 'b'.repeat(16),
      keyHeld: true,
      wal: { cluster: 'foreign', segments: 3, newest: '000000010000000000000003', bases: 1, rpoMissed: false, trusted: false },
    },
    {
      component: 'postgres-wal/skewed',
      keyId: 'b'.repeat(16),
      keyHeld: true,
      wal: {
        cluster: 'skewed',
        segments: 3,
        newest: '000000010000000000000003',
        archivedAt: '2027-01-02T00:00:00.000Z',
        bases: 1,
        rpoMissed: false,
        trusted: true,
        future: true,
      },
    },
    {
      component: 'postgres-wal/away',
      keyHeld: true,
      wal: { cluster: 'away', segments: 0, bases: 0, rpoMissed: false, problem: { message: 'cannot list the repository', verdict: 'inconclusive' } },
    },
    {
      component: 'postgres-wal/quiet',
      lastVerifiedAt: '2027-01-01T00:00:00.000Z',
      ageSeconds: 60,
      keyId: 'b'.repeat(16),
      keyHeld: true,
      wal: {
        cluster: 'quiet',
        segments: 3,
        newest: '000000010000000000000003',
        bases: 1,
        rpoMissed: false,
        trusted: true,
        archiverError: 'cannot read pg_stat_archiver: timeout',
      },
    },
  ],
};
// What backup wal-status --prometheus writes beyond what status writes of each archive: when it was written.
const metrics: { name: string; signals?: string }[] = [...metricList(status), { name: WAL_WRITTEN }];
const named = (expr: string) => [...expr.matchAll(/\bvault_tool_[a-z_]+\b/g)].map((m) => m[0]);

describe('docs/alerts.yaml and the metrics hold together', () => {
  it('every metric that signals a failure or an inconclusive check has an alert rule', () => {
    const alerted = new Set(rules.flatMap((r) => named(r.expr)));
    const signals = metrics.filter((m) => m.signals).map((m) => m.name);
    expect(signals.length).toBeGreaterThan(12);
    for (const s of [
      'vault_tool_escrow_stale',
      'vault_tool_backup_rpo_missed',
      'vault_tool_backup_undecryptable',
      'vault_tool_verify_last_failures',
      'vault_tool_verify_overdue',
      'vault_tool_drill_last_status',
      'vault_tool_drill_rto_missed',
      'vault_tool_wal_rpo_missed',
      'vault_tool_wal_archiver_failing',
      'vault_tool_wal_archive_failed',
      'vault_tool_wal_archive_inconclusive',
    ])
      expect(signals).toContain(s);
    expect(signals.filter((n) => !alerted.has(n))).toEqual([]);
  });

  it('every rule reads metrics vault-tool writes', () => {
    const written = new Set(metrics.map((m) => m.name));
    expect(rules.flatMap((r) => named(r.expr)).filter((n) => !written.has(n))).toEqual([]);
  });

  it('status --prometheus writes each WAL archive as backup wal-status --prometheus does, and not as a backup too', () => {
    const text = metricsOf(status);
    const wal = status.backups.find((b) => b.wal)!.wal!;
    const alone = walMetrics([wal]);
    // Every line wal-status writes for the cluster, the same in the vault's metrics.
    expect(alone.split('\n').filter((l) => l && !text.includes(`${l}\n`))).toEqual([]);
    expect(text).toContain('vault_tool_wal_rpo_missed{cluster="main"} 1\n');
    expect(text).toContain('vault_tool_wal_archiver_failing{cluster="main"} 1\n');
    expect(text).toContain('vault_tool_wal_archiver_failures{cluster="main"} 3\n');
    // One alert per cause: the archive's RPO is VaultWalArchiveRpoMissed's, never VaultBackupRpoMissed's.
    expect(text).not.toMatch(/^vault_tool_backup_(rpo_missed|rpo_seconds|last_success_timestamp_seconds)\{component="postgres-wal\/main"\}/m);
    expect(text).toContain('vault_tool_backup_undecryptable{component="postgres-wal/main"} 0\n');
  });

  it('whatever status finds wrong with an archive is a metric: damaged or signed by no trusted host fails, out of reach is inconclusive', () => {
    const text = metricsOf(status);
    for (const [cluster, failed, inconclusive] of [
      ['main', 0, 0],
      ['damaged', 1, 0],
      ['foreign', 1, 0],
      ['skewed', 1, 0],
      ['away', 0, 1],
      ['quiet', 0, 1],
    ] as const) {
      expect(text).toContain(`vault_tool_wal_archive_failed{cluster="${cluster}"} ${failed}\n`);
      expect(text).toContain(`vault_tool_wal_archive_inconclusive{cluster="${cluster}"} ${inconclusive}\n`);
    }
    // And each is what status reports as a failure, or as not judged.
    for (const b of status.backups.filter((x) => x.wal)) {
      const f = archiveFindings(b);
      const archiverFails = archiverFailing(b.wal!.archiver);
      expect(text).toContain(`vault_tool_wal_archive_failed{cluster="${b.wal!.cluster}"} ${f.failed.length - (archiverFails ? 1 : 0) > 0 ? 1 : 0}\n`);
      expect(text).toContain(`vault_tool_wal_archive_inconclusive{cluster="${b.wal!.cluster}"} ${f.inconclusive.length > 0 ? 1 : 0}\n`);
    }
  });

  it('the metrics say when they were written, and a rule fires when they are not written again', () => {
    // The overdue and RPO gauges move only when the metrics are written: a job that stopped must not leave them saying all is well.
    expect(metricsOf(status)).toContain(`vault_tool_status_timestamp_seconds ${Date.parse('2027-01-01T00:15:00.000Z') / 1000}\n`);
    expect(rules.find((r) => r.alert === 'VaultMetricsStale')?.expr).toBe('time() - vault_tool_status_timestamp_seconds > 3600');
  });

  it('backup wal-status --prometheus says when it wrote its metrics, and a rule fires when they are not written again', () => {
    const wal = status.backups.find((b) => b.wal)!.wal!;
    expect(walMetrics([wal], new Date('2027-01-01T00:15:00.000Z'))).toContain(
      `vault_tool_wal_status_timestamp_seconds{cluster="main"} ${Date.parse('2027-01-01T00:15:00.000Z') / 1000}\n`,
    );
    expect(rules.find((r) => r.alert === 'VaultWalMetricsStale')?.expr).toBe('time() - vault_tool_wal_status_timestamp_seconds > 3600');
  });

  it('a drill slower than its RTO is its own metric', () => {
    const text = metricsOf(status);
    expect(text).toContain('vault_tool_drill_rto_missed 1\n');
    expect(text).toContain('vault_tool_drill_rto_target_seconds 5\n');
    const none = metricsOf({ ...status, lastDrill: undefined });
    expect(none).toContain('vault_tool_drill_rto_missed 0\n');
    expect(none).not.toMatch(/^vault_tool_drill_rto_target_seconds /m);
  });

  it('a component without an RPO has no rpo_missed sample (never reported as met)', () => {
    const text = metricsOf(status);
    expect(text).toContain('vault_tool_backup_rpo_missed{component="postgres/app"} 1\n');
    expect(text).toContain('vault_tool_backup_rpo_seconds{component="postgres/app"} 900\n');
    expect(text).not.toMatch(/vault_tool_backup_rpo_(missed|seconds)\{component="files\/etc"\}/);
    expect(text).toContain('vault_tool_escrow_stale 1\n');
    expect(text).toContain('vault_tool_verify_last_inconclusive 1\n');
  });

  it('every alert has a promtool unit test in which it fires, then clears on the same series', () => {
    const firesAndClears = (alert: string) =>
      tests.tests.some((t) => {
        const cases = t.alert_rule_test.filter((a) => a.alertname === alert);
        return cases.some((f) => f.exp_alerts.length && cases.some((c) => !c.exp_alerts.length && minutes(c.eval_time) > minutes(f.eval_time)));
      });
    expect(rules.length).toBeGreaterThan(12);
    expect(rules.map((r) => r.alert).filter((a) => !firesAndClears(a))).toEqual([]);
    // The check finds a rule without a clearing case.
    const saved = tests.tests;
    tests.tests = saved.map((t) => ({ ...t, alert_rule_test: t.alert_rule_test.filter((a) => a.alertname !== 'VaultEscrowStale' || a.exp_alerts.length) }));
    expect(firesAndClears('VaultEscrowStale')).toBe(false);
    tests.tests = saved;
  });

  it.skipIf(!needs('promtool'))('promtool checks the rules and runs their unit tests; the metrics pass its linter', () => {
    const check = spawnSync('promtool', ['check', 'rules', rulesFile], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    const unit = spawnSync('promtool', ['test', 'rules', testsFile], { encoding: 'utf8' });
    expect(unit.status, unit.stdout + unit.stderr).toBe(0);
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: metricsOf(status), encoding: 'utf8' });
    expect(lint.stdout + lint.stderr).toBe('');
  });
});
