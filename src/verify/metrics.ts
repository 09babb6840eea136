import { WAL_METRICS } from '../backup/wal/status.js';
import type { VaultStatus } from './status.js';

/**
 * The status as Prometheus metrics in the node_exporter textfile format:
 * `vault_tool_…` names, base units (seconds, Unix time), an explicit sample
 * for every series that applies (0 rather than absent; a series that does
 * not apply, such as an RPO a component does not have, is left out rather
 * than reported as met), labels escaped as the exposition format requires.
 * Names of entries, sources and copies only: no values.
 *
 * `signals` marks what a metric raises: `failure` (a check found the data,
 * a key or the escrow bad, or a promise missed) or `inconclusive` (a check
 * could not judge). Every metric that signals something has an alert rule
 * in docs/alerts.yaml (test/unit/alerts.test.ts holds the two together).
 */
export interface Metric {
  name: string;
  help: string;
  signals?: 'failure' | 'inconclusive';
  samples: { labels?: Record<string, string>; value: number }[];
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const ts = (iso?: string) => (iso ? Math.floor(Date.parse(iso) / 1000) : 0);
const FAILED_DRIFT = new Set(['older-version', 'never-escrowed', 'missing']);
const FAILED_COPY = new Set(['stale', 'diverged', 'other-vault', 'old-key', 'missing', 'damaged']);

export function metricList(s: VaultStatus): Metric[] {
  const last = s.lastVerification;
  const verdict = last ? (last.verdict ?? (last.ok ? 'ok' : 'failed')) : undefined;
  // A WAL archive has metrics of its own (vault_tool_wal_…, per cluster, as `backup wal-status` writes them): not twice.
  const plain = s.backups.filter((b) => !b.wal);
  const archives = s.backups.flatMap((b) => (b.wal ? [b.wal] : []));
  const withRpo = plain.filter((b) => b.rpoMissed !== undefined);
  return [
    { name: 'vault_tool_info', help: 'The vault (value always 1).', samples: [{ labels: { vault_id: s.vault.vaultId, key_id: s.vault.keyId }, value: 1 }] },
    { name: 'vault_tool_vault_generation', help: 'The vault generation (goes up by one on every write).', samples: [{ value: s.vault.generation }] },
    // The overdue and RPO gauges move only when these metrics are written again: a job that stops writing them must not leave them saying all is well.
    ...(s.at
      ? [
          {
            name: 'vault_tool_status_timestamp_seconds',
            help: 'Unix time these metrics were written (VaultMetricsStale fires when they are not written again).',
            samples: [{ value: ts(s.at) }],
          },
        ]
      : []),
    { name: 'vault_tool_verify_last_timestamp_seconds', help: 'Unix time of the last verification run (0: never).', samples: [{ value: ts(last?.at) }] },
    {
      name: 'vault_tool_verify_last_success_timestamp_seconds',
      help: 'Unix time of the last verification that passed (0: never).',
      samples: [{ value: ts(s.lastSuccess?.at) }],
    },
    {
      name: 'vault_tool_verify_last_status',
      help: 'Whether the last verification passed every check (1); 0 when a check failed, when one could not be judged, or when none ran.',
      samples: [{ value: verdict === 'ok' ? 1 : 0 }],
    },
    {
      name: 'vault_tool_verify_last_failures',
      help: 'Checks that failed in the last verification.',
      signals: 'failure',
      samples: [{ value: last?.failures ?? 0 }],
    },
    {
      name: 'vault_tool_verify_last_inconclusive',
      help: 'Checks the last verification could not judge on the host that ran it (a checker missing, too old or killed; a source out of reach).',
      signals: 'inconclusive',
      samples: [{ value: last?.inconclusive ?? 0 }],
    },
    {
      name: 'vault_tool_verify_next_due_timestamp_seconds',
      help: 'Unix time the next verification is due (0: due now, none passed).',
      samples: [{ value: ts(s.nextDue) }],
    },
    { name: 'vault_tool_verify_overdue', help: 'Whether verification is overdue (1) or not (0).', signals: 'failure', samples: [{ value: s.overdue ? 1 : 0 }] },
    { name: 'vault_tool_verify_overdue_seconds', help: 'Seconds past the due date (0 when not overdue).', samples: [{ value: s.overdueSeconds }] },
    {
      name: 'vault_tool_drift',
      help: 'Whether production held something other than the current escrowed value, or nothing where the plan says, at the last verification (1), per entry and source; 0 also when the source could not be read (counted as inconclusive).',
      signals: 'failure',
      samples: (last?.drift ?? []).map((d) => ({ labels: { entry: d.entry, source: d.source, status: d.status }, value: FAILED_DRIFT.has(d.status) ? 1 : 0 })),
    },
    {
      name: 'vault_tool_entries_never_verified',
      help: 'Key entries never found to match production.',
      samples: [{ value: s.neverVerified.length }],
    },
    {
      name: 'vault_tool_copy_age_seconds',
      help: 'Seconds since each registered copy was made.',
      samples: s.copies.map((c) => ({ labels: { copy: c.id, kind: c.kind }, value: c.ageSeconds })),
    },
    {
      name: 'vault_tool_copy_failed',
      help: 'Whether a registered copy failed its check at the last verification (1) or not (0; also when it could not be reached).',
      signals: 'failure',
      samples: s.copies.map((c) => ({ labels: { copy: c.id, kind: c.kind }, value: c.lastStatus && FAILED_COPY.has(c.lastStatus) ? 1 : 0 })),
    },
    {
      name: 'vault_tool_canary_failed',
      help: 'Whether a canary failed to open with the current escrowed key at the last verification (1).',
      signals: 'failure',
      samples: (last?.canaries ?? []).map((c) => ({ labels: { canary: c.id.slice(0, 8), entry: c.entry }, value: c.status === 'opens' ? 0 : 1 })),
    },
    {
      name: 'vault_tool_escrow_share_set_epoch',
      help: 'The epoch of the current share set (0: the key was never split).',
      samples: [{ value: s.escrow?.epoch ?? 0 }],
    },
    {
      name: 'vault_tool_escrow_shares_match_key',
      help: 'Whether the current share set opens the current vault key (1) or not (0; also 0 when the key was never split).',
      samples: [{ value: s.escrow?.keyMatchesVault ? 1 : 0 }],
    },
    {
      name: 'vault_tool_escrow_stale',
      help: "Whether the key was split and the current share set does not open the current vault key (1): the custodians' shares cannot open the vault.",
      signals: 'failure',
      samples: [{ value: s.escrow?.stale ? 1 : 0 }],
    },
    {
      name: 'vault_tool_drill_last_timestamp_seconds',
      help: 'Unix time of the last disaster-recovery drill (0: never).',
      samples: [{ value: ts(s.lastDrill?.at) }],
    },
    {
      name: 'vault_tool_drill_last_status',
      help: 'Whether the last drill passed (1) or failed (0); 0 when none ran.',
      signals: 'failure',
      samples: [{ value: s.lastDrill?.ok ? 1 : 0 }],
    },
    {
      name: 'vault_tool_drill_last_rto_seconds',
      help: 'The recovery time the last drill measured, in seconds (0: none ran; absent when the last drill failed: a failed drill measures none).',
      samples: !s.lastDrill ? [{ value: 0 }] : s.lastDrill.rtoSeconds !== undefined ? [{ value: s.lastDrill.rtoSeconds }] : [],
    },
    {
      name: 'vault_tool_drill_rto_target_seconds',
      help: 'The RTO the last drill was timed against, in seconds (no sample when its plan sets none).',
      samples: s.lastDrill?.rtoTargetSeconds !== undefined ? [{ value: s.lastDrill.rtoTargetSeconds }] : [],
    },
    {
      name: 'vault_tool_drill_rto_missed',
      help: 'Whether the recovery of the last drill took longer than its RTO (1) or not (0; also when it set none or measured none).',
      signals: 'failure',
      samples: [{ value: s.lastDrill?.rtoMissed ? 1 : 0 }],
    },
    {
      name: 'vault_tool_backup_last_success_timestamp_seconds',
      help: 'Unix time of the newest verified backup, per component (0: none).',
      samples: plain.map((b) => ({ labels: { component: b.component }, value: ts(b.lastVerifiedAt) })),
    },
    {
      name: 'vault_tool_backup_rpo_seconds',
      help: 'The RPO of each component that has one, in seconds (a component without an RPO has no sample).',
      samples: withRpo.map((b) => ({ labels: { component: b.component }, value: b.rpoSeconds! })),
    },
    {
      name: 'vault_tool_backup_rpo_missed',
      help: 'Whether the newest verified backup is older than the RPO (1) or not (0), per component that has an RPO (no sample without one).',
      signals: 'failure',
      samples: withRpo.map((b) => ({ labels: { component: b.component }, value: b.rpoMissed ? 1 : 0 })),
    },
    {
      name: 'vault_tool_backup_undecryptable',
      help: 'Whether the vault no longer holds the key of the newest backup (1), per component (a WAL archive: of its newest segment).',
      signals: 'failure',
      samples: s.backups.map((b) => ({ labels: { component: b.component }, value: b.keyHeld ? 0 : 1 })),
    },
    {
      name: 'vault_tool_backup_excluded',
      help: "Backups that do not count until a full read passes them, per component: a full read failed, or the stored file's size is not its manifest's (0: none).",
      signals: 'failure',
      samples: plain.map((b) => ({ labels: { component: b.component }, value: b.excluded?.length ?? 0 })),
    },
    ...WAL_METRICS.map(
      (m): Metric => ({
        name: m.name,
        help: m.help,
        ...(m.signals ? { signals: m.signals } : {}),
        samples: archives.map((w) => ({ labels: { cluster: w.cluster }, value: m.value(w) })),
      }),
    ),
    // What status finds of an archive beyond its RPO and archive_command (backup/status.ts, archiveFindings): a metric each, so no finding is silent.
    {
      name: 'vault_tool_wal_archive_failed',
      help: 'Whether the WAL archive failed its check (1): its archive.json or catalog is damaged, its newest segment is signed by no host the vault trusts or dated in the future, or one of its newest segments has a manifest a restore would refuse.',
      signals: 'failure',
      samples: archives.map((w) => ({
        labels: { cluster: w.cluster },
        value: w.problem?.verdict === 'failed' || w.trusted === false || w.future || w.unusable?.some((u) => u.verdict === 'failed') ? 1 : 0,
      })),
    },
    {
      name: 'vault_tool_wal_archive_inconclusive',
      help: "Whether the WAL archive, or its server's pg_stat_archiver where a connection is given, could not be read from this host, or holds files a later push completed that no full read has passed yet (1): not judged, which is not a pass.",
      signals: 'inconclusive',
      samples: archives.map((w) => ({
        labels: { cluster: w.cluster },
        value:
          w.problem?.verdict === 'inconclusive' ||
          w.archiverError !== undefined ||
          (w.completedUnread?.length ?? 0) > 0 ||
          w.unusable?.some((u) => u.verdict === 'inconclusive')
            ? 1
            : 0,
      })),
    },
  ];
}

export function metricsOf(s: VaultStatus): string {
  const out: string[] = [];
  for (const x of metricList(s)) {
    out.push(`# HELP ${x.name} ${x.help}`, `# TYPE ${x.name} gauge`);
    for (const s2 of x.samples) {
      const labels = s2.labels
        ? `{${Object.entries(s2.labels)
            .map(([k, v]) => `${k}="${esc(v)}"`)
            .join(',')}}`
        : '';
      out.push(`${x.name}${labels} ${s2.value}`);
    }
  }
  return out.join('\n') + '\n';
}
