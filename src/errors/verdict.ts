/**
 * What a check may conclude (docs/THREAT-MODEL.md, "Verdicts"): it answers
 * "would recovery work?".
 *
 * - `ok`: it would, as far as this check can tell.
 * - `failed`: the data or the key is proved bad (an authentication failure,
 *   a hash mismatch, a truncation, a stale escrow, an RPO missed…).
 * - `inconclusive`: this host cannot judge (a checker missing, too old or
 *   killed, a source that cannot be reached). Never counted against the
 *   data, and never a reason to remove anything.
 */
export type Verdict = 'ok' | 'failed' | 'inconclusive';

export const VERDICTS: readonly Verdict[] = ['ok', 'failed', 'inconclusive'];

/** The verdict of several checks: failed if any failed, else inconclusive if any could not judge, else ok (also for none). */
export function overall(verdicts: Iterable<Verdict>): Verdict {
  let out: Verdict = 'ok';
  for (const v of verdicts) {
    if (v === 'failed') return 'failed';
    if (v === 'inconclusive') out = 'inconclusive';
  }
  return out;
}

/** How a summary names a verdict: PASSED only when every check that applies passed. */
export const RESULT_WORD: Record<Verdict, string> = { ok: 'PASSED', failed: 'FAILED', inconclusive: 'INCONCLUSIVE' };
