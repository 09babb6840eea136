import { parseYaml } from '../vault/yaml.js';
import { fail, isRecord, list, map, object, oneOf, optional, parseShape, string, type Shape } from '../vault/shape.js';
import { VaultError } from '../errors/errors.js';
import { resolvedPath } from '../fs/resolved.js';

/**
 * The restore policy (docs/FORMAT.md, "Restore policy"): one file for every
 * restore, of Secrets into a cluster and of data from backups.
 *
 *   apiVersion: vault-tool/v1
 *   kind: RestorePolicy
 *   protect:
 *     contexts: [prod, "prod-*"]          # Kubernetes contexts (glob patterns: * and ?)
 *     databases: [orders, "db1.internal/*"] # NAME, HOST/NAME or HOST:PORT/NAME
 *     folders: [/srv/app]                 # a folder and everything in it
 *     redis: [/var/lib/redis]             # where a Redis dump.rdb is restored
 *     buckets: ["s3:proofs"]              # REMOTE:BUCKET[/PREFIX] and everything under it
 *   confirm: totp                         # or context (the target's name, typed)
 *   totpEntry: ops/restore-totp           # with confirm: totp, a totp-secret entry in the vault
 *   operationalHours: "09:00-18:00"       # local time of `timezone`, end exclusive
 *   days: [mon, tue, wed, thu, fri]       # default: every day
 *   timezone: Europe/Berlin               # default: the machine's
 *
 * `protectedContexts: [...]` (the first form, for Kubernetes contexts only)
 * is read as `protect.contexts`.
 */
export interface RestorePolicy {
  protect: Protected;
  confirm: 'context' | 'totp';
  totpEntry?: string;
  hours: { start: number; end: number; text: string };
  days: number[];
  timezone?: string;
}

/** The patterns of each type of target a policy protects. */
export interface Protected {
  contexts: string[];
  databases: string[];
  folders: string[];
  redis: string[];
  buckets: string[];
}

/**
 * A restore's target as the guard sees it: its type, the name a person
 * confirms it by, and the forms of it the patterns are matched against (a
 * folder by its path and by the path with links resolved; a database by
 * its name and by HOST/NAME and HOST:PORT/NAME).
 */
export interface GuardTarget {
  type: keyof Protected | 'file';
  name: string;
  forms: string[];
  /** What the restore writes there, when its name alone does not say it (the globals: the server's roles). */
  note?: string;
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

const patterns = (want: string) => optional(list(string({ want })));

const PolicyShape = object({
  apiVersion: string(),
  kind: string(),
  protect: optional(
    object({
      contexts: patterns('a context name or a pattern'),
      databases: patterns('a database (NAME, HOST/NAME or HOST:PORT/NAME) or a pattern'),
      folders: patterns('an absolute folder path or a pattern'),
      redis: patterns('the absolute path of a folder a Redis dump.rdb is restored into, or a pattern'),
      buckets: patterns('REMOTE:BUCKET[/PREFIX] or a pattern'),
    }),
  ),
  protectedContexts: patterns('a context name or a pattern'),
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
  if (p.protectedContexts && p.protect?.contexts)
    throw new VaultError(
      'invalid',
      `${source}: protectedContexts and protect.contexts both given: keep protect.contexts (protectedContexts is its first spelling)`,
    );
  for (const [field, list] of [
    ['folders', p.protect?.folders],
    ['redis', p.protect?.redis],
  ] as const) {
    const i = (list ?? []).findIndex((f) => !f.startsWith('/') && !f.startsWith('*'));
    if (i >= 0) throw new VaultError('invalid', `${source}: protect.${field}[${i}]: ${JSON.stringify(list![i])} is not an absolute path`);
  }
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
    protect: {
      contexts: p.protect?.contexts ?? p.protectedContexts ?? [],
      databases: (p.protect?.databases ?? []).map(hostLowercase),
      folders: (p.protect?.folders ?? []).map(trimSlash),
      redis: (p.protect?.redis ?? []).map(trimSlash),
      buckets: (p.protect?.buckets ?? []).map(trimSlash),
    },
    confirm,
    ...(p.totpEntry !== undefined ? { totpEntry: p.totpEntry } : {}),
    hours: parseHours(p.operationalHours ?? DEFAULT_HOURS, source),
    days: p.days ?? [0, 1, 2, 3, 4, 5, 6],
    ...(p.timezone !== undefined ? { timezone: p.timezone } : {}),
  };
}

const trimSlash = (s: string) => (s.length > 1 ? s.replace(/\/+$/, '') : s);

/** A database pattern's host part in lowercase (host names are not case-sensitive; database names are). */
const hostLowercase = (s: string) => {
  const i = s.indexOf('/');
  return i < 0 ? s : s.slice(0, i).toLowerCase() + s.slice(i);
};

/**
 * A folder pattern as written and with the links of its fixed part resolved
 * (the folders before the first `*` or `?`): a policy naming `/srv/app`,
 * a link to `/data/app`, protects `/data/app` named directly too.
 */
function patternForms(pattern: string): string[] {
  if (!pattern.startsWith('/')) return [pattern];
  const parts = pattern.split('/');
  const glob = parts.findIndex((x) => /[*?]/.test(x));
  const fixed = glob < 0 ? parts : parts.slice(0, glob);
  const prefix = fixed.join('/') || '/';
  const real = resolvedPath(prefix);
  if (real === prefix) return [pattern];
  const rest = glob < 0 ? '' : parts.slice(glob).join('/');
  return [pattern, rest ? `${real === '/' ? '' : real}/${rest}` : real];
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

/**
 * A Kubernetes context as the policy sees it: its name, and the names of
 * the other contexts of the kubeconfig that reach the same API server (a
 * second context for a protected cluster is the same cluster).
 */
export function contextTarget(context: string, sameServer: string[] = []): GuardTarget {
  return {
    type: 'contexts',
    name: context,
    forms: [context, ...sameServer],
    ...(sameServer.length ? { note: `its API server is that of context ${sameServer.join(', ')} too` } : {}),
  };
}

/** Whether a Kubernetes context (or another context of the same API server) is protected. */
export function isProtected(policy: RestorePolicy, context: string, sameServer: string[] = []): boolean {
  return protects(policy, contextTarget(context, sameServer)) !== undefined;
}

/**
 * The pattern of the policy that protects a target, or undefined. A folder,
 * a Redis folder or a bucket pattern protects what it matches and
 * everything under it (`/srv/app` protects `/srv/app/config`), by its path
 * as written and with its links resolved. A path is protected by the folder
 * and the Redis folder patterns alike, whatever the restore writes there: a
 * Redis folder is a folder too, and a file or a folder restored into a Redis
 * folder (`-o /var/lib/redis/dump.rdb`) replaces what Redis loads.
 */
export function protects(policy: RestorePolicy, t: GuardTarget): string | undefined {
  const p = policy.protect;
  const under = (pattern: string, form: string) => globMatch(pattern, form) || globMatch(`${pattern === '/' ? '' : pattern}/*`, form);
  const lists: { list: string[]; tree: boolean }[] =
    t.type === 'contexts' || t.type === 'databases'
      ? [{ list: p[t.type], tree: false }]
      : t.type === 'buckets'
        ? [{ list: p.buckets, tree: true }]
        : [
            { list: p.redis, tree: true },
            { list: p.folders, tree: true },
          ];
  for (const { list, tree } of lists)
    for (const pattern of list)
      if (tree ? patternForms(pattern).some((p) => t.forms.some((f) => under(p, f))) : t.forms.some((f) => globMatch(pattern, f))) return pattern;
  return undefined;
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
