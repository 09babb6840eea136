import { VaultError } from '../errors/errors.js';
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
 */
export interface KeepPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** Keep everything newer than this many milliseconds. */
  withinMs?: number;
}

export interface Decision {
  component: string;
  file: string;
  at?: string;
  keyId?: string;
  keep: boolean;
  reasons: string[];
}

/** "30d", "12h", "2w", "1y", "6m" (months) as milliseconds (restic's duration letters). */
export function parseDuration(s: string): number {
  const m = /^([1-9][0-9]{0,5})([hdwmy])$/.exec(s.trim());
  if (!m) throw new VaultError('usage', `duration ${JSON.stringify(s)}: expected a number and h, d, w, m (months) or y, e.g. 30d`);
  return Number(m[1]) * { h: 3.6e6, d: 8.64e7, w: 6.048e8, m: 2.592e9, y: 3.1536e10 }[m[2] as 'h' | 'd' | 'w' | 'm' | 'y'];
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
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-/.exec(b.file);
    const at = m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : Number.NaN;
    return Number.isNaN(at) || now.getTime() - at < DAY ? 'incomplete, but less than a day old: it may still be being written' : null;
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
): Decision[] {
  if (!Object.values(policy).some((v) => v !== undefined && v > 0)) {
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
    if (policy.withinMs) for (const b of good) if (now.getTime() - Date.parse(b.manifest!.finishedAt) <= policy.withinMs) add(b, 'within the kept period');
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
    for (const b of list.filter((x) => !good.includes(x))) {
      const meta = b.manifest ? { at: b.manifest.finishedAt, keyId: b.manifest.keyId } : {};
      const doubted = distrust.get(b) ?? unprovenBad(b, now);
      if (doubted) out.push({ component, file: b.file, ...meta, keep: true, reasons: [`does not count (${doubted}); left in place for a person to decide`] });
      else {
        const why = b.problem ?? `failed verification: ${b.manifest!.verification!.message}`;
        out.push({ component, file: b.file, ...meta, keep: false, reasons: [`not a good backup (${why}): it does not count, and goes`] });
      }
    }
  }
  return out.sort((a, b) => (a.component === b.component ? (b.at ?? '').localeCompare(a.at ?? '') : a.component.localeCompare(b.component)));
}
