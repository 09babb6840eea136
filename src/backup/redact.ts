/**
 * A command line as it may be recorded or shown: the values of what looks
 * like a credential replaced by `***`, and those values, so that whoever
 * prints a message about the command (a tool's stderr echoing its headers)
 * can hide them too.
 *
 * What counts: a URI's userinfo password (`mongodb://admin:***@db`); a
 * `password=` query parameter; `-p<password>` (as mysql's); `--password=…`
 * and the word after `--password` (any option naming a pass, secret, token,
 * key, auth or credential, except one that names where the secret is: a
 * `-file`, `-path`, `-env`, `-fd`, `-dir`); `NAME=value` where NAME does
 * (also inside a `sh -c` script or a connection string); HTTP credentials
 * (`Authorization: Bearer …`, `Basic …`, any header naming a token, key,
 * secret or cookie, a bare `Bearer …`, curl's `-u user:password`); and
 * tokens by their form (JWTs, GitHub, GitLab, Slack, Vault, Stripe-style
 * `sk_…` keys, age secret keys, PEM private keys, and long random-looking
 * strings). A value that is a shell variable (`$TOKEN`, `${TOKEN}`) or a
 * file reference (`@file`) is not a secret: it is the right way to pass one (and `$1`, `$@` in a
 * script are its arguments).
 */
const SECRET_WORD = '(?:pass|pwd|secret|token|key|auth|credential)';
const WHERE = /(?:file|path|env|fd|dir)$/i;
const SECRET_OPTION = new RegExp(`^--?[A-Za-z0-9_.-]*${SECRET_WORD}[A-Za-z0-9_.-]*$`, 'i');
const SECRET_OPTION_VALUE = new RegExp(`^(--?[A-Za-z0-9_.-]*${SECRET_WORD}[A-Za-z0-9_.-]*=)(.+)`, 'i');
const SECRET_ASSIGNMENT = new RegExp(
  `(^|[\\s;&|'"(])((?:[A-Za-z_][A-Za-z0-9_.-]*)?${SECRET_WORD}[A-Za-z0-9_.-]*)(\\s*=\\s*)('[^']*'|"[^"]*"|[^\\s'";&|)]+)`,
  'gi',
);
const URI_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^/?#\s:@]*:)([^/?#\s]*)(@)/gi;
const QUERY_SECRET = new RegExp(`([?&;][^=&#\\s]*${SECRET_WORD}[^=&#\\s]*=)([^&#\\s]*)`, 'gi');
/** A header naming a credential: its scheme (Bearer, Basic…) is kept, the credential hidden. */
const HEADER_NAME = `[A-Za-z0-9-]*(?:${SECRET_WORD}|cookie)[A-Za-z0-9-]*`;
const SCHEME = '(?:(?:Bearer|Basic|Token|Digest|Negotiate|Bot|ApiKey)\\s+)?';
/** An argument that is a header (curl -H, wget --header): all of its value. */
const HEADER_ARG = new RegExp(`^(\\s*${HEADER_NAME}\\s*:\\s*${SCHEME})(\\S.*)$`, 'is');
const HEADER_OPTION = /^(?:-H|--header|--proxy-header)$/;
/** A header inside a script (sh -c 'curl -H "Authorization: Bearer …"'): the word after the colon and a space. */
const HEADER_IN_TEXT = new RegExp(`((?:^|[\\s'"])${HEADER_NAME}:\\s+${SCHEME})([^\\s'"]+)`, 'gi');
const BEARER = /(\b(?:Bearer|Basic)\s+)([A-Za-z0-9._~+/=-]{8,})/g;
const USER_OPTION = /^(?:-u|--user|-U|--proxy-user)$/;
const TOKEN_FORMS = [
  /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g,
  /\bgithub_pat_[A-Za-z0-9_]{20,}/g,
  /\bglpat-[A-Za-z0-9_-]{20,}/g,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g,
  /\bhv[sbr]\.[A-Za-z0-9_-]{20,}/g,
  /\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}/g,
  /\bsk-[A-Za-z0-9_-]{20,}/g,
  /\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b/gi,
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g,
];
const RANDOM_RUN = /[A-Za-z0-9+/_=-]{32,}/g;

/** Not a secret but where one is: `$VAR`, `${VAR}`, `@file`, or nothing. */
const isReference = (v: string) => v === '' || /^["']?(?:\$\{?(?:[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?])\}?|@\S+)["']?$/.test(v) || /^\*+$/.test(v);

/** Shannon entropy in bits per character. */
function entropy(s: string): number {
  const n = new Map<string, number>();
  for (const c of s) n.set(c, (n.get(c) ?? 0) + 1);
  let h = 0;
  for (const k of n.values()) h -= (k / s.length) * Math.log2(k / s.length);
  return h;
}

/** The share of `s` in words (a capital and three lower-case letters or more): high in names, low in random text. */
function wordShare(s: string): number {
  let n = 0;
  for (const m of s.matchAll(/[A-Z]?[a-z]{3,}/g)) n += m[0].length;
  return n / s.length;
}

/**
 * A long run that looks random: upper and lower case and digits, many
 * distinct characters, and little of it in words (`ThisIsMyBackupFolder2024`
 * is a name; random base64 of 24 bytes or more falls below the word share
 * limit 99 times in 100). Not a path (leading `/`, `//`).
 */
export function looksRandom(s: string): boolean {
  return (
    s.length >= 32 && /[A-Z]/.test(s) && /[a-z]/.test(s) && /[0-9]/.test(s) && !s.startsWith('/') && !s.includes('//') && entropy(s) >= 4 && wordShare(s) < 0.55
  );
}

/** A folder's name: lowercase (`srv`, `backups`, `postgres`, `x`) or a capitalized word (`Backups`). */
const FOLDER = /^(?:[a-z0-9][a-z0-9._-]{0,63}|[A-Z][a-z]{1,63})$/;

/**
 * A relative path (`srv/backups/postgres/x/20261206T233855Z-f24d64ae`):
 * folder names, two of them of three characters or more, then a last
 * part. Random base64 seldom holds two `/` after such names (an AWS secret
 * key's parts are mixed-case runs); the parts of a path are still judged
 * one by one.
 */
function isPath(run: string): boolean {
  const parts = run.split('/');
  // A backup's own name (its time and id, as every backup file is named) ends a path whatever its folders are called.
  if (parts.length > 1 && BACKUP_NAME.test(parts.at(-1)!)) return true;
  const folders = parts.slice(0, -1);
  return folders.every((f) => FOLDER.test(f)) && folders.filter((f) => f.length >= 3).length >= 2;
}

/** The name a backup file starts with (`20261206T233855Z-f24d64ae`, before its `.pgdump.age`). */
const BACKUP_NAME = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;

export interface Redacted {
  /** The arguments as they may be recorded. */
  shown: string[];
  redacted: boolean;
  /** The values hidden (to hide them from messages too); never recorded. */
  secrets: string[];
}

export function redactArgs(args: string[]): Redacted {
  const secrets = new Set<string>();
  /**
   * Replaces group `g` of each match of `re` with *** (unless it is a
   * reference); every part of the regular expression is a group, so the
   * text around the secret is kept as it was.
   */
  const hide = (text: string, re: RegExp, g: number) => {
    const groups = new RegExp(`${re.source}|`).exec('')!.length - 1;
    return text.replace(re, (...m: unknown[]) => {
      const parts = m.slice(1, groups + 1).map((x) => (typeof x === 'string' ? x : ''));
      const value = parts[g - 1]!;
      if (isReference(value)) return m[0] as string;
      secrets.add(value.replace(/^(['"])(.*)\1$/s, '$2'));
      parts[g - 1] = '***';
      return parts.join('');
    });
  };
  const shown = args.map((a, i) => {
    const prev = args[i - 1] ?? '';
    if (SECRET_OPTION.test(prev) && !SECRET_OPTION_VALUE.test(prev) && !WHERE.test(prev) && !a.startsWith('-')) {
      if (isReference(a)) return a;
      secrets.add(a);
      return '***';
    }
    if (USER_OPTION.test(prev) && a.includes(':')) return hide(a, /^([^:]*:)(.+)$/s, 2);
    if (HEADER_OPTION.test(prev) || /^\s*[A-Za-z0-9-]+:\s/.test(a)) {
      const h = HEADER_ARG.exec(a);
      if (h) return isReference(h[2]!) ? a : hide(a, HEADER_ARG, 2);
    }
    if (/^-p.+/.test(a) && !a.startsWith('--')) return hide(a, /^(-p)(.+)$/s, 2);
    // Tokens known by their form first: a PEM block spans words the rules below would cut.
    let out = a;
    for (const re of TOKEN_FORMS) out = hide(out, new RegExp(`()(${re.source})`, re.flags), 2);
    const opt = SECRET_OPTION_VALUE.exec(out);
    if (opt && !WHERE.test(opt[1]!.slice(0, -1))) out = hide(out, SECRET_OPTION_VALUE, 2);
    out = hide(out, URI_PASSWORD, 2);
    out = hide(out, QUERY_SECRET, 2);
    out = hide(out, SECRET_ASSIGNMENT, 4);
    out = hide(out, HEADER_IN_TEXT, 2);
    out = hide(out, BEARER, 2);
    const random = (run: string) => {
      if (!looksRandom(run)) return run;
      secrets.add(run);
      return '***';
    };
    // A path is judged part by part: a token may still sit in one (a webhook's path), a file name does not make the whole random.
    out = out.replace(RANDOM_RUN, (run) => (isPath(run) ? run.split('/').map(random).join('/') : random(run)));
    return out;
  });
  return { shown, redacted: shown.some((s, i) => s !== args[i]), secrets: [...secrets] };
}
