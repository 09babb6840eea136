import type { Check, VerifyResult } from './verify.js';

/**
 * The Markdown report an auditor files: what was checked, when, by whom,
 * against what, the verdict of each check, and what to do about each
 * failure. Names and verdicts only: never a value, never a hash of one.
 */
const REMEDY: Record<Check['area'], string> = {
  entries:
    'An entry version breaks its rule or its fingerprint: the vault was written by a faulty tool or edited. Restore the vault from a copy that verifies, and investigate.',
  evidence:
    'The evidence log does not match the vault: keep the damaged log for investigation; `vault-tool evidence repair` writes back records the vault holds; a log edited elsewhere cannot be repaired.',
  copies:
    'A copy that does not open, is of another vault, lacks entry versions or opens only with a replaced key cannot serve in a disaster: make a new one with `vault-tool copy --to DEST [--key-to DEST2]` and remove the old one.',
  drift:
    'Production does not hold the escrowed key: if a key rotated in production and was never escrowed, import it now (`vault-tool add … --update`, `vault-tool k8s import`); if production holds an older version, find out why (a rollback, a rotation never deployed).',
  canaries:
    "No escrowed version opens the canary: the key production used is not in the vault. Import production's key, then make a new canary (`vault-tool canary create`).",
  backups:
    'A backup that does not verify, or whose key the vault no longer holds, cannot be restored: take a new backup now (`vault-tool backup …`) and find out why.',
  shares:
    'The shares brought do not recover the current vault key: check each share (`vault-tool escrow check`); if they are from an older split, split the current key again (`vault-tool escrow reshare`).',
};

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export interface ReportContext {
  plan?: { path: string; sha256: string };
  interval: string;
  nextDue?: string;
}

export function verificationReport(r: VerifyResult, ctx: ReportContext): string {
  const failures = r.checks.filter((c) => !c.ok);
  const lines = [
    '# Vault verification report',
    '',
    `- **Result: ${r.ok ? 'PASSED' : `FAILED (${failures.length} of ${r.checks.length} checks)`}**`,
    `- When: ${r.at}`,
    `- Operator: ${r.operator}`,
    `- Vault: ${r.vault.vaultId}, generation ${r.vault.generation}, key id ${r.vault.keyId}; ${r.vault.entries} entries, ${r.vault.versions} versions`,
    `- Plan: ${ctx.plan ? `${ctx.plan.path} (SHA-256 ${ctx.plan.sha256})` : 'none (command-line options)'}`,
    `- Interval: ${ctx.interval}${ctx.nextDue ? `; next verification due ${ctx.nextDue}` : ''}`,
    `- Evidence log: ${r.evidenceRecords} records verified; this run is recorded in it as a \`verify\` record holding this report's SHA-256`,
  ];
  if (r.shares) lines.push(`- Custodians who brought shares: ${r.shares.custodians.join(', ')}`);
  lines.push('', '## Checks', '', '| area | subject | result | detail |', '|---|---|---|---|');
  for (const c of r.checks) lines.push(`| ${c.area} | ${cell(c.subject)} | ${c.ok ? 'pass' : '**FAIL**'} | ${cell(c.message)} |`);
  const areas = new Set(r.checks.map((c) => c.area));
  const checked = [
    `- Entries: every version of every entry against its type's rule, its fingerprint and its history (${r.vault.versions} versions).`,
    '- Evidence log: hash chain, MACs, and the head the vault recorded.',
    areas.has('copies') ? `- Copies: ${r.copies.length}, each opened and compared with the vault entry by entry.` : '- Copies: none registered or given.',
    areas.has('drift') ? `- Production: ${r.drift.length} source(s), compared by keyed hash under a key made for this run.` : '- Production: no sources given.',
    areas.has('canaries') ? `- Canaries: ${r.canaries.length}, each decrypted with the escrowed key.` : '- Canaries: none registered.',
    areas.has('backups') ? `- Backups: ${r.backups.length}.` : '- Backups: not checked.',
  ];
  lines.push('', '## What was checked', '', ...checked);
  if (failures.length) {
    lines.push('', '## Failures and what to do', '');
    failures.forEach((c, i) => lines.push(`${i + 1}. **${c.area}: ${cell(c.subject)}**: ${cell(c.message)}`, `   ${REMEDY[c.area]}`));
  }
  return lines.join('\n') + '\n';
}
