import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

type Env = Record<string, string | undefined>;

const run = promisify(execFile);

/**
 * The environment of a process vault-tool starts as another user (the
 * restore's prefetcher as the data directory's owner, the drill's
 * throwaway PostgreSQL as `postgres`) or leaves running in the background:
 * an allow-list, never the caller's whole environment. Only what finding
 * programs, the locale and the clock need (PATH, LANG, LANGUAGE, the
 * standard locale categories LOCALE_NAMES, TZ),
 * and the names in `also` the process reads itself (vault-tool's and
 * rclone's non-secret settings: BACKGROUND_SETTINGS); nothing else — no
 * passphrase variable, no cloud or rclone credential, no libpq password or
 * service, no proxy (whose address may carry one), no NODE_OPTIONS. HOME,
 * USER and LOGNAME are the account's (`as`) when given, else the caller's
 * own (the same user). docs/THREAT-MODEL.md lists what is passed.
 */
export function envForProcess(env: Env, also: readonly string[] = [], as?: Pick<Account, 'user' | 'home'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (BASE.has(k) || LOCALE_NAMES.has(k) || also.includes(k)) out[k] = v;
  }
  if (as) Object.assign(out, { HOME: as.home, USER: as.user, LOGNAME: as.user });
  else for (const k of ['HOME', 'USER', 'LOGNAME']) if (env[k] !== undefined) out[k] = env[k]!;
  return out;
}

const BASE = new Set(['PATH', 'LANG', 'LANGUAGE', 'TZ']);

/**
 * The locale categories POSIX and glibc define, by name: never any `LC_`
 * name, since SSH passes `LC_*` through (AcceptEnv) and so carries
 * whatever a client puts in such a variable, a token included.
 */
export const LOCALE_NAMES: ReadonlySet<string> = new Set([
  'LC_ALL',
  'LC_CTYPE',
  'LC_COLLATE',
  'LC_MESSAGES',
  'LC_MONETARY',
  'LC_NUMERIC',
  'LC_TIME',
  'LC_ADDRESS',
  'LC_IDENTIFICATION',
  'LC_MEASUREMENT',
  'LC_NAME',
  'LC_PAPER',
  'LC_TELEPHONE',
]);

/**
 * What a vault-tool process in the background reads of its environment
 * beyond BASE, all of it settings rather than secrets: its external
 * programs' bound, a debugging switch, how it runs itself, and where
 * rclone's configuration file is (a path; the account must be able to read
 * it: a remote configured only in RCLONE_CONFIG_* variables holds
 * credentials, which are not passed).
 */
export const BACKGROUND_SETTINGS = ['VAULT_TOOL_TIMEOUT', 'VAULT_TOOL_DEBUG', 'VAULT_TOOL_COMMAND', 'RCLONE_CONFIG'] as const;

export interface Account {
  user: string;
  uid: number;
  gid: number;
  home: string;
}

/**
 * An account by name or uid, from the passwd database (through getent, so
 * NSS sources count, bounded in time; in `env`'s allow-list when given, else
 * in this process's environment): its name, ids and home folder (`/` when
 * it records none). Throws when there is none.
 */
export async function accountOf(user: string, env?: Env): Promise<Account> {
  const { stdout } = await run('getent', ['passwd', '--', user], { ...(env ? { env: envForProcess(env) } : {}), timeout: 30_000 });
  const f = stdout.split('\n')[0]!.split(':');
  if (f.length < 7 || !f[0] || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) throw new Error(`no account ${JSON.stringify(user)}`);
  return { user: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' };
}

/**
 * A command run as another account (`ids`, when given) with the account's
 * supplementary groups, through `setpriv --init-groups` (util-linux): Node's
 * spawn with `{ uid, gid }` sets the primary group alone, so a repository,
 * identity file or rclone configuration the account reads through another
 * group (ssl-cert, a backup group) would not be readable by what runs. No
 * PAM session and no change to the environment given (envForProcess).
 * Without `ids`, the command as it is.
 */
export function commandAs(ids: { uid: number; gid: number } | undefined, cmd: string, args: string[]): [string, string[]] {
  return ids ? ['setpriv', ['--reuid', String(ids.uid), '--regid', String(ids.gid), '--init-groups', '--', cmd, ...args]] : [cmd, args];
}
