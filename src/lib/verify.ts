/**
 * The quarterly verification (`vault-tool/verify`): the escrow opens the
 * current key, copies are made, readable and current, production holds
 * what the vault holds (by keyed hash), canaries open, custodians' shares
 * open the key, backups are trusted, readable and within their RPOs. Each
 * check reaches a verdict: ok, failed, or inconclusive (this host cannot
 * judge it). `runVerification` reads only; recording a run in the vault
 * (which moves the due date) is `vault-tool verify`'s, with its report.
 */
export { runVerification, checkEntries, type VerifyInput, type VerifyResult, type Check, type BackupFinding } from '../verify/verify.js';
export { checkBackups, type BackupsChecked } from '../verify/backups.js';
export { parseVerificationPlan, type VerificationPlan } from '../verify/plan.js';
export { parseSource, parseAgainst, type Source, type Against, type SourceContext } from '../verify/sources.js';
export { verificationReport, resultLine, type ReportContext } from '../verify/report.js';
export { vaultStatus, type VaultStatus } from '../verify/status.js';
export { parseInterval, dueState, type Interval, type Due } from '../verify/schedule.js';
export { VERDICTS, overall, type Verdict } from '../errors/verdict.js';
