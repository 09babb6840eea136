import type { VaultStatus } from './status.js';

/**
 * The status as Prometheus metrics in the node_exporter textfile format:
 * `vault_tool_…` names, base units (seconds, Unix time), an explicit sample
 * for every series (0 rather than absent), labels escaped as the exposition
 * format requires. Names of entries, sources and copies only: no values.
 */
interface Metric {
  name: string;
  help: string;
  samples: { labels?: Record<string, string>; value: number }[];
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const ts = (iso?: string) => (iso ? Math.floor(Date.parse(iso) / 1000) : 0);

export function metricsOf(s: VaultStatus): string {
  const last = s.lastVerification;
  const m: Metric[] = [
    { name: 'vault_tool_info', help: 'The vault (value always 1).', samples: [{ labels: { vault_id: s.vault.vaultId, key_id: s.vault.keyId }, value: 1 }] },
    { name: 'vault_tool_vault_generation', help: 'The vault generation (goes up by one on every write).', samples: [{ value: s.vault.generation }] },
    { name: 'vault_tool_verify_last_timestamp_seconds', help: 'Unix time of the last verification run (0: never).', samples: [{ value: ts(last?.at) }] },
    {
      name: 'vault_tool_verify_last_success_timestamp_seconds',
      help: 'Unix time of the last successful verification (0: never).',
      samples: [{ value: ts(s.lastSuccess?.at) }],
    },
    {
      name: 'vault_tool_verify_last_status',
      help: 'Whether the last verification passed (1) or failed (0); 0 when none ran.',
      samples: [{ value: last?.ok ? 1 : 0 }],
    },
    { name: 'vault_tool_verify_last_failures', help: 'Checks that failed in the last verification.', samples: [{ value: last?.failures ?? 0 }] },
    {
      name: 'vault_tool_verify_next_due_timestamp_seconds',
      help: 'Unix time the next verification is due (0: due now, none succeeded).',
      samples: [{ value: ts(s.nextDue) }],
    },
    { name: 'vault_tool_verify_overdue', help: 'Whether verification is overdue (1) or not (0).', samples: [{ value: s.overdue ? 1 : 0 }] },
    { name: 'vault_tool_verify_overdue_seconds', help: 'Seconds past the due date (0 when not overdue).', samples: [{ value: s.overdueSeconds }] },
    {
      name: 'vault_tool_drift',
      help: 'Whether production held something other than the current escrowed value at the last verification (1), per entry and source.',
      samples: (last?.drift ?? []).map((d) => ({ labels: { entry: d.entry, source: d.source, status: d.status }, value: d.status === 'match' ? 0 : 1 })),
    },
    { name: 'vault_tool_entries_never_verified', help: 'Key entries never found to match production.', samples: [{ value: s.neverVerified.length }] },
    {
      name: 'vault_tool_copy_age_seconds',
      help: 'Seconds since each registered copy was made.',
      samples: s.copies.map((c) => ({ labels: { copy: c.id, kind: c.kind }, value: c.ageSeconds })),
    },
    {
      name: 'vault_tool_copy_failed',
      help: 'Whether a registered copy failed its check at the last verification (1) or passed (0).',
      samples: s.copies.map((c) => ({ labels: { copy: c.id, kind: c.kind }, value: c.lastStatus && c.lastStatus !== 'current' ? 1 : 0 })),
    },
    {
      name: 'vault_tool_canary_failed',
      help: 'Whether a canary failed to open with the current escrowed key at the last verification (1).',
      samples: (last?.canaries ?? []).map((c) => ({ labels: { canary: c.id.slice(0, 8), entry: c.entry }, value: c.status === 'opens' ? 0 : 1 })),
    },
    {
      name: 'vault_tool_escrow_share_set_epoch',
      help: 'The epoch of the current share set (0: the key was never split).',
      samples: [{ value: s.escrow?.epoch ?? 0 }],
    },
    {
      name: 'vault_tool_escrow_shares_match_key',
      help: 'Whether the current share set recovers the current vault key (1) or not (0).',
      samples: [{ value: s.escrow?.keyMatchesVault ? 1 : 0 }],
    },
    {
      name: 'vault_tool_drill_last_timestamp_seconds',
      help: 'Unix time of the last disaster-recovery drill (0: never).',
      samples: [{ value: ts(s.lastDrill?.at) }],
    },
    {
      name: 'vault_tool_drill_last_status',
      help: 'Whether the last drill passed (1) or failed (0); 0 when none ran.',
      samples: [{ value: s.lastDrill?.ok ? 1 : 0 }],
    },
    {
      name: 'vault_tool_drill_last_rto_seconds',
      help: 'The recovery time the last drill measured, in seconds (0: none ran; absent when the last drill failed: a failed drill measures none).',
      samples: !s.lastDrill ? [{ value: 0 }] : s.lastDrill.rtoSeconds !== undefined ? [{ value: s.lastDrill.rtoSeconds }] : [],
    },
    {
      name: 'vault_tool_backup_last_success_timestamp_seconds',
      help: 'Unix time of the newest verified backup, per component (0: none).',
      samples: s.backups.map((b) => ({ labels: { component: b.component }, value: ts(b.lastVerifiedAt) })),
    },
    {
      name: 'vault_tool_backup_rpo_missed',
      help: 'Whether the newest verified backup is older than the RPO target (1), per component.',
      samples: s.backups.map((b) => ({ labels: { component: b.component }, value: b.rpoMissed ? 1 : 0 })),
    },
    {
      name: 'vault_tool_backup_undecryptable',
      help: 'Whether the vault no longer holds the key of the newest backup (1), per component.',
      samples: s.backups.map((b) => ({ labels: { component: b.component }, value: b.keyHeld ? 0 : 1 })),
    },
  ];
  const out: string[] = [];
  for (const x of m) {
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
