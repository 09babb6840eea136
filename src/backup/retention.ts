import { VaultError } from '../errors/errors.js';
import { parseDuration as parseOne, subtractDuration, type Duration } from '../vault/duration.js';
import { stampedAt } from '../vault/time.js';
import type { Listed } from './repo.js';

/**
 * Which backups to keep, with restic's rules and names (`--keep-last`,
 * `--keep-hourly/daily/weekly/monthly/yearly`, `--keep-within`), per
 * component, and with what restic cannot know:
 * - only verified backups count: a failed or incomplete backup never takes
 *   the place of a good one (and is removed as garbage); one that cannot be
 *   judged (untrusted signer, key not held) does not count and is kept;
 * - the newest verified backup of each component is never removed;
 * - the newest verified backup each component has under the current backup
 *   key is never removed (a rotated key must not leave nothing it opens);
 * - no rules at all is an error, not "remove everything";
 * - only what is proved bad goes: a backup whose full read failed (a
 *   verdict recorded by a trusted host), an incomplete one (no manifest)
 *   older than a day (a younger one may still be being written), a manifest
 *   whose file is gone. A manifest that cannot be read (a newer format, an
 *   edited one) or a backup never verified is kept for a person to decide.
 *   A verdict that could not be reached (inconclusive) is never recorded,
 *   so it never removes anything;
 * - the last backup of a component is never removed on the word of another
 *   host: when no verified backup of a component is left, the newest one
 *   whose failed verdict another host recorded stays until this host's own
 *   full read confirms it (a host with an older checker, or a faulty one,
 *   must not be able to empty a component).
 */
export interface KeepPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** Keep everything newer than this (calendar months count as months). */
  within?: Duration;
}

export interface Decision {
  component: string;
  file: string;
  at?: string;
  keyId?: string;
  keep: boolean;
  reasons: string[];
  /** It goes on a recorded failed full read (a verdict a full read that passes would lift), not on a problem of its own. */
  failedVerification?: true;
}

/** `--keep-within`: restic's rule, where a bare `m` would be months; it is refused rather than guessed. */
export function parseKeepWithin(text: string): Duration {
  return parseOne(text, { what: '--keep-within', bareMinutes: false });
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The period a time falls in, for each bucket rule (UTC; weeks are ISO weeks). */
function bucket(kind: 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly', d: Date): string {
  const y = d.getUTCFullYear();
  switch (kind) {
    case 'hourly':
      return `${y}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}`;
    case 'daily':
      return `${y}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    case 'monthly':
      return `${y}-${pad(d.getUTCMonth() + 1)}`;
    case 'yearly':
      return String(y);
    case 'weekly': {
      const t = new Date(Date.UTC(y, d.getUTCMonth(), d.getUTCDate()));
      const day = t.getUTCDay() || 7;
      t.setUTCDate(t.getUTCDate() + 4 - day);
      const week = Math.ceil(((t.getTime() - Date.UTC(t.getUTCFullYear(), 0, 1)) / 8.64e7 + 1) / 7);
      return `${t.getUTCFullYear()}-W${pad(week)}`;
    }
  }
}

const DAY = 86_400_000;

/** Why a backup that is not good is not proved bad either (null: it is proved bad, and may go). */
function unprovenBad(b: Listed, now: Date): string | null {
  if (!b.problem) return b.manifest?.verification ? null : 'never verified';
  if (b.problem.startsWith('no manifest')) {
    const at = stampedAt(b.file);
    if (Number.isNaN(at)) return 'incomplete, and its name carries no time: it may still be being written';
    return now.getTime() - at < DAY ? 'incomplete, but less than a day old: it may still be being written' : null;
  }
  if (b.problem.startsWith('the backup file is missing')) return null;
  return b.problem;
}

const RULES = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;

/**
 * `doubt(b)` names why a backup cannot be judged (a signer the vault does
 * not trust, a key it no longer holds): such a backup does not count, and is
 * left in place for a person to decide, never removed.
 */
export function decideRetention(
  backups: Listed[],
  policy: KeepPolicy,
  now: Date,
  currentKeyId: string | undefined,
  doubt: (b: Listed) => string | null = () => null,
  o: { host?: string } = {},
): Decision[] {
  if (!Object.values(policy).some((v) => v !== undefined && (typeof v === 'number' ? v > 0 : true))) {
    throw new VaultError('usage', 'no keep rule given: a prune without rules would remove every backup', { code: 'prune-no-rules' });
  }
  const out: Decision[] = [];
  const byComponent = new Map<string, Listed[]>();
  for (const b of backups) byComponent.set(b.component, [...(byComponent.get(b.component) ?? []), b]);
  for (const [component, list] of byComponent) {
    const distrust = new Map(list.map((b) => [b, b.manifest && !b.problem ? doubt(b) : null]));
    const good = list
      .filter((b) => !b.problem && b.manifest?.verification?.ok && !distrust.get(b))
      .sort((a, b) => b.manifest!.finishedAt.localeCompare(a.manifest!.finishedAt));
    const reasons = new Map<Listed, string[]>(good.map((b) => [b, []]));
    const add = (b: Listed, r: string) => reasons.get(b)!.push(r);
    good.slice(0, policy.last ?? 0).forEach((b, i) => add(b, `last ${i + 1} of ${policy.last}`));
    for (const rule of RULES) {
      const n = policy[rule] ?? 0;
      const seen = new Set<string>();
      for (const b of good) {
        if (seen.size >= n) break;
        const k = bucket(rule, new Date(b.manifest!.finishedAt));
        if (seen.has(k)) continue;
        seen.add(k);
        add(b, `${rule} ${k}`);
      }
    }
    if (policy.within) {
      const since = subtractDuration(now, policy.within).getTime();
      for (const b of good) if (Date.parse(b.manifest!.finishedAt) >= since) add(b, `within the last ${policy.within.text}`);
    }
    if (good[0]) add(good[0], 'the newest verified backup of the component (never removed)');
    const current = good.find((b) => b.manifest!.keyId === currentKeyId);
    if (current) add(current, 'the newest verified backup the current backup key opens (never removed)');
    for (const b of good)
      out.push({
        component,
        file: b.file,
        at: b.manifest!.finishedAt,
        keyId: b.manifest!.keyId,
        keep: reasons.get(b)!.length > 0,
        reasons: reasons.get(b)!.length ? reasons.get(b)! : ['matched no keep rule'],
      });
    const rest = list.filter((x) => !good.includes(x));
    // With no verified backup left, the newest one another host judged bad is the component's last: it stays until this host confirms it.
    const lastHope = good.length
      ? undefined
      : rest
          .filter((b) => b.manifest && !b.problem && b.manifest.verification && !b.manifest.verification.ok && b.manifest.signer.id !== o.host)
          .sort((a, b) => b.manifest!.finishedAt.localeCompare(a.manifest!.finishedAt))[0];
    for (const b of rest) {
      const meta = b.manifest ? { at: b.manifest.finishedAt, keyId: b.manifest.keyId } : {};
      const doubted = distrust.get(b) ?? unprovenBad(b, now);
      if (doubted) out.push({ component, file: b.file, ...meta, keep: true, reasons: [`does not count (${doubted}); left in place for a person to decide`] });
      else if (b === lastHope)
        out.push({
          component,
          file: b.file,
          ...meta,
          keep: true,
          reasons: [
            `the last backup of the component: its failed verification was recorded by host key ${b.manifest!.signer.id}, not this host; it is kept until a full read here confirms it`,
          ],
        });
      else {
        const why = b.problem ?? `failed verification: ${b.manifest!.verification!.message}`;
        out.push({
          component,
          file: b.file,
          ...meta,
          keep: false,
          reasons: [`not a good backup (${why}): it does not count, and goes`],
          ...(b.problem ? {} : { failedVerification: true as const }),
        });
      }
    }
  }
  return out.sort((a, b) => (a.component === b.component ? (b.at ?? '').localeCompare(a.at ?? '') : a.component.localeCompare(b.component)));
}
