import { RESULT_WORD } from '../errors/verdict.js';
import type { Check, VerifyResult } from './verify.js';

/**
 * The Markdown report an auditor files: what was checked, when, by whom,
 * against what, the verdict of each check (ok, FAIL, INCONCLUSIVE), and
 * what to do about each one that is not ok. Names and verdicts only: never
 * a value, never a hash of one.
 */
const REMEDY: Record<Check['area'], string> = {
  entries:
    'An entry version breaks its rule or its fingerprint: the vault was written by a faulty tool or edited. Restore the vault from a copy that verifies, and investigate.',
  evidence:
    'The evidence log does not match the vault: keep the damaged log for investigation; `vault-tool evidence repair` writes back records the vault holds; a log edited elsewhere cannot be repaired.',
  escrow:
    "The custodians' shares do not open the vault key (it was replaced by `vault-tool rekey --confirm` after the last split): until the current key is split again, losing `vault.key` loses every secret. Split it now, in a ceremony: `vault-tool escrow reshare` (or `vault-tool escrow split`), then have the custodians destroy their old shares.",
  copies:
    'A copy that does not open, is of another vault, lacks entry versions or opens only with a replaced key cannot serve in a disaster: replace it with `vault-tool copy --replace ID` (a new copy in the same place; the old registration is dropped), or stop checking it with `vault-tool copy forget ID`.',
  drift:
    'Production does not hold the escrowed key: if a key rotated in production and was never escrowed, import it now (`vault-tool add … --update`, `vault-tool k8s import`); if production holds an older version, find out why (a rollback, a rotation never deployed); if it holds nothing where the plan says, correct the plan or the deployment.',
  canaries:
    "No escrowed version opens the canary: the key production used is not in the vault. Import production's key, then make a new canary (`vault-tool canary create`).",
  backups:
    'A backup that does not verify, or whose key the vault no longer holds, cannot be restored; a component whose newest verified backup is older than its RPO is not protected as promised: take a new backup now (`vault-tool backup …`) and find out why.',
  archive:
    'A WAL archive with a gap, a file that does not verify, a newest segment older than its RPO, or an archive_command that fails loses the points in time after it: find the cause in pg_stat_archiver and the server log (`vault-tool backup wal-status --archiver`), take a new base backup now (`vault-tool backup postgres --base`) so that recovery can start after a gap, and keep the older base backups until their points in time no longer matter.',
  shares:
    'The shares brought do not recover the current vault key: check each share (`vault-tool escrow check`); if they are from an older split, split the current key again (`vault-tool escrow reshare`).',
};

/** What to do when a check could not be judged on the host that ran it. */
const UNDECIDED: Record<Check['area'], string> = {
  entries: 'Run the verification again.',
  evidence: 'Run the verification again.',
  escrow: 'Run the verification again.',
  copies: "The copy's place could not be reached from this host (an rclone remote, a network): fix the access, or run the verification where it is reachable.",
  drift:
    'The production source could not be read from this host (a cluster, a file or a permission out of reach): fix the access, or run the verification where it is reachable.',
  canaries: 'Run the verification again.',
  backups:
    "This host could not judge the backup: its checker is missing, older than the tool that wrote the backup, or was killed (its data is intact: both SHA-256s match the signed manifest). Install a checker at least as new as the backup host's (e.g. the same PostgreSQL major version), or verify on the backup host; nothing was recorded against the backup.",
  archive:
    'The archive, one of its files, or the server behind pg_stat_archiver could not be read from this host (a remote, a network, a permission, a checker missing): fix the access, or run the verification where they are reachable; nothing was recorded against the archive.',
  shares: 'Run the verification again.',
};

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const MARK: Record<Check['verdict'], string> = { ok: 'pass', failed: '**FAIL**', inconclusive: '**INCONCLUSIVE**' };

export interface ReportContext {
  plan?: { path: string; sha256: string };
  interval: string;
  nextDue?: string;
}

/** The summary's words: PASSED only when every check passed; what else it is, and how many of each. */
export function resultLine(r: Pick<VerifyResult, 'verdict' | 'checks'>): string {
  const failed = r.checks.filter((c) => c.verdict === 'failed').length;
  const undecided = r.checks.filter((c) => c.verdict === 'inconclusive').length;
  if (r.verdict === 'ok') return `${RESULT_WORD.ok} (${r.checks.length} checks)`;
  if (r.verdict === 'failed')
    return `${RESULT_WORD.failed} (${failed} of ${r.checks.length} checks${undecided ? `; ${undecided} more could not be judged on this host` : ''})`;
  return `${RESULT_WORD.inconclusive} (${undecided} of ${r.checks.length} checks could not be judged on this host; none failed; this is not a pass)`;
}

export function verificationReport(r: VerifyResult, ctx: ReportContext): string {
  const notOk = r.checks.filter((c) => c.verdict !== 'ok');
  const lines = [
    '# Vault verification report',
    '',
    `- **Result: ${resultLine(r)}**`,
    `- When: ${r.at}`,
    `- Operator: ${r.operator}`,
    `- Vault: ${r.vault.vaultId}, generation ${r.vault.generation}, key id ${r.vault.keyId}; ${r.vault.entries} entries, ${r.vault.versions} versions`,
    `- Plan: ${ctx.plan ? `${ctx.plan.path} (SHA-256 ${ctx.plan.sha256})` : 'none (command-line options)'}`,
    `- Interval: ${ctx.interval}${ctx.nextDue ? `; next verification due ${ctx.nextDue}` : ''}`,
    `- Evidence log: ${r.evidenceRecords} records verified; this run is recorded in it as a \`verify\` record holding this report's SHA-256`,
  ];
  if (r.shares) lines.push(`- Custodians who brought shares: ${r.shares.custodians.join(', ')}`);
  lines.push('', '## Checks', '', '| area | subject | result | detail |', '|---|---|---|---|');
  for (const c of r.checks) lines.push(`| ${c.area} | ${cell(c.subject)} | ${MARK[c.verdict]} | ${cell(c.message)} |`);
  const areas = new Set(r.checks.map((c) => c.area));
  const checked = [
    `- Entries: every version of every entry against its type's rule, its fingerprint and its history (${r.vault.versions} versions).`,
    '- Evidence log: hash chain, MACs, and the head the vault recorded.',
    r.escrow
      ? '- Escrow: the current share set opens the current vault key (by key id).'
      : '- Escrow: the vault key was never split among custodians; there is no escrow to check.',
    areas.has('shares')
      ? '- Shares brought by custodians: combined in memory, and the key they recover compared with the vault key.'
      : '- Shares: none brought.',
    areas.has('copies') ? `- Copies: ${r.copies.length}, each opened and compared with the vault entry by entry.` : '- Copies: none registered or given.',
    areas.has('drift') ? `- Production: ${r.drift.length} source(s), compared by keyed hash under a key made for this run.` : '- Production: no sources given.',
    areas.has('canaries') ? `- Canaries: ${r.canaries.length}, each decrypted with the escrowed key.` : '- Canaries: none registered.',
    areas.has('backups')
      ? `- Backups: ${r.backups.length} finding(s), each backup's manifest and key, and the RPO of each component that has one.`
      : '- Backups: not checked.',
    ...(areas.has('archive')
      ? [
          '- WAL archives: for each retained base backup, the archive continuous from its start to the newest segment (timelines followed); the files read in full as the read-data setting says; the RPO of each archive that has one; pg_stat_archiver where a connection was given.',
        ]
      : []),
  ];
  lines.push('', '## What was checked', '', ...checked);
  const failures = notOk.filter((c) => c.verdict === 'failed');
  const undecided = notOk.filter((c) => c.verdict === 'inconclusive');
  if (failures.length) {
    lines.push('', '## Failures and what to do', '');
    failures.forEach((c, i) => lines.push(`${i + 1}. **${c.area}: ${cell(c.subject)}**: ${cell(c.message)}`, `   ${REMEDY[c.area]}`));
  }
  if (undecided.length) {
    lines.push('', '## Could not be judged on this host', '');
    undecided.forEach((c, i) => lines.push(`${i + 1}. **${c.area}: ${cell(c.subject)}**: ${cell(c.message)}`, `   ${UNDECIDED[c.area]}`));
  }
  return lines.join('\n') + '\n';
}
