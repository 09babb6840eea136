import { parseYaml } from '../vault/yaml.js';
import { fail, isRecord, list, map, object, oneOf, optional, parseShape, string, type Shape } from '../vault/shape.js';
import { VaultError } from '../errors/errors.js';

/**
 * Guard rails for restores into production (docs/FORMAT.md, "Restore policy"):
 *
 *   apiVersion: vault-tool/v1
 *   kind: RestorePolicy
 *   protectedContexts: [prod, "prod-*"]   # glob patterns (* and ?)
 *   confirm: context                      # or totp
 *   totpEntry: ops/restore-totp           # with confirm: totp, a totp-secret entry in the vault
 *   operationalHours: "09:00-18:00"       # local time of `timezone`, end exclusive
 *   days: [mon, tue, wed, thu, fri]       # default: every day
 *   timezone: Europe/Berlin               # default: the machine's
 */
export interface RestorePolicy {
  protectedContexts: string[];
  confirm: 'context' | 'totp';
  totpEntry?: string;
  hours: { start: number; end: number; text: string };
  days: number[];
  timezone?: string;
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
export const DEFAULT_HOURS = '09:00-18:00';

function parseHours(s: string, source: string): RestorePolicy['hours'] {
  const m = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/.exec(s);
  if (!m) throw new VaultError('invalid', `${source}: operationalHours ${JSON.stringify(s)} is not HH:MM-HH:MM`);
  const start = Number(m[1]) * 60 + Number(m[2]);
  const end = Number(m[3]) * 60 + Number(m[4]);
  if (end <= start || end > 24 * 60) throw new VaultError('invalid', `${source}: operationalHours must end after they start, within one day`);
  return { start, end, text: s };
}

const day: Shape<number> = map(string({ want: 'a day such as mon' }), (d, at) => {
  const i = DAYS.indexOf(d.toLowerCase().slice(0, 3));
  return i < 0 ? fail(at, `unknown day ${JSON.stringify(d)} (expected mon, tue, wed, thu, fri, sat, sun)`) : i;
});

const PolicyShape = object({
  apiVersion: string(),
  kind: string(),
  protectedContexts: optional(list(string({ want: 'a context name or a pattern' }))),
  confirm: optional(oneOf(['context', 'totp'] as const)),
  totpEntry: optional(string()),
  operationalHours: optional(string({ want: 'HH:MM-HH:MM' })),
  days: optional(list(day)),
  timezone: optional(string()),
});

export function parsePolicy(text: string, source: string): RestorePolicy {
  const raw = parseYaml(text, source);
  if (!isRecord(raw) || raw.kind !== 'RestorePolicy' || raw.apiVersion !== 'vault-tool/v1')
    throw new VaultError('invalid', `${source}: not a restore policy (expected apiVersion: vault-tool/v1 and kind: RestorePolicy)`);
  // Strict at every depth: an unknown field or a value of another form names its path.
  const p = parseShape(raw, PolicyShape, source);
  const confirm = p.confirm ?? 'context';
  if (confirm === 'totp' && p.totpEntry === undefined)
    throw new VaultError('invalid', `${source}: confirm: totp needs totpEntry (the vault entry holding the TOTP secret)`);
  if (p.timezone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: p.timezone });
    } catch {
      throw new VaultError('invalid', `${source}: unknown timezone ${JSON.stringify(p.timezone)}`);
    }
  }
  return {
    protectedContexts: p.protectedContexts ?? [],
    confirm,
    ...(p.totpEntry !== undefined ? { totpEntry: p.totpEntry } : {}),
    hours: parseHours(p.operationalHours ?? DEFAULT_HOURS, source),
    days: p.days ?? [0, 1, 2, 3, 4, 5, 6],
    ...(p.timezone !== undefined ? { timezone: p.timezone } : {}),
  };
}

/**
 * Whether `text` matches a glob of `*` (any run) and `?` (one character).
 * Greedy with one backtrack point (the last `*`), so the cost is at most
 * pattern × text steps whatever the pattern: no regular expression, which
 * backtracks exponentially on patterns such as `*a*a*a*b`.
 */
export function globMatch(pattern: string, text: string): boolean {
  const p = [...pattern];
  const t = [...text];
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    if (pi < p.length && (p[pi] === '?' || (p[pi] !== '*' && p[pi] === t[ti]))) {
      pi++;
      ti++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = ti;
    } else if (star >= 0) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

export function isProtected(policy: RestorePolicy, context: string): boolean {
  return policy.protectedContexts.some((p) => globMatch(p, context));
}

/** Whether `now` falls in the policy's operational hours (in its timezone). */
export function withinHours(policy: RestorePolicy, now: Date): { within: boolean; local: string } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: policy.timezone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(now)
      .map((p) => [p.type, p.value]),
  );
  const minutes = Number(parts.hour) * 60 + Number(parts.minute);
  const day = DAYS.indexOf(String(parts.weekday).toLowerCase().slice(0, 3));
  const within = policy.days.includes(day) && minutes >= policy.hours.start && minutes < policy.hours.end;
  return { within, local: `${parts.weekday} ${parts.hour}:${parts.minute}${policy.timezone ? ` ${policy.timezone}` : ''}` };
}

/** Checks a TOTP code (RFC 6238, SHA-1, 6 digits, 30 s, one step of drift) against a base32 secret or an otpauth:// URI. */
export async function checkTotp(secretValue: Buffer, code: string, now: Date): Promise<boolean> {
  const { Secret, TOTP, URI } = await import('otpauth');
  const s = secretValue.toString('utf8').trim();
  const totp = s.startsWith('otpauth://') ? URI.parse(s) : new TOTP({ secret: Secret.fromBase32(s.replace(/\s+/g, '').toUpperCase()) });
  if (!(totp instanceof TOTP)) throw new VaultError('invalid', 'the TOTP entry holds an HOTP URI, not a TOTP one');
  if (!/^\d{6,8}$/.test(code.trim())) return false;
  return totp.validate({ token: code.trim(), timestamp: now.getTime(), window: 1 }) !== null;
}
