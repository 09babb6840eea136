import { VaultError } from '../errors/errors.js';
import type { GuardTarget } from '../k8s/policy.js';
import { externalTimeoutMs } from '../tool/bound.js';
import { runTool } from '../tool/run.js';
import type { Env } from './kind.js';
import { pgProblem, psqlAsk } from './kinds/postgres.js';

/** The names of the local host: a socket folder, `localhost` and the loopback addresses reach one server. */
const LOOPBACK = ['localhost', '127.0.0.1', '::1'];

const isLoopback = (h: string) => h === '' || h.startsWith('/') || h.startsWith('@') || /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\])$/i.test(h);

/** Each spelling of a host the policy may use: the local host's three, or the name in lowercase (host names are not case-sensitive). */
export const hostSpellings = (h: string): string[] => (isLoopback(h) ? LOOPBACK : [h.toLowerCase()]);

/** The forms of a database on a host and port, as the restore policy matches them. */
export function databaseForms(name: string, host: string, port: string): string[] {
  return [name, ...hostSpellings(host).flatMap((h) => [`${h}/${name}`, `${h}:${port}/${name}`])];
}

/**
 * The database a restore's `--dbname` reaches, as libpq resolves it: a
 * connection string may take its database, host and port from a service
 * (`service=NAME`, `PGSERVICE`, the service files), from `PGDATABASE`, or
 * name the local host as a socket folder or a loopback address, none of
 * which a reading of the string alone can tell. psql connects as the
 * restore will, and says the database, host and port it reached (its
 * DBNAME, HOST and PORT variables); the target is named by that database,
 * and matched by the forms read from the string and by those of the
 * connection (each spelling of the local host, host names in lowercase).
 * A connection that fails is an error: a target that cannot be named
 * cannot be judged.
 *
 * `cluster`: the restore writes the server's roles (the globals: their
 * passwords, their rights), which every database there depends on; it is
 * protected when any database of that server is.
 */
export async function connectedDatabase(given: GuardTarget, dbname: string, env: Env, cluster = false): Promise<GuardTarget> {
  let reached: { host: string; port: string; name: string };
  try {
    reached = await whereConnected(dbname, env);
  } catch (e) {
    if (!(e instanceof VaultError) || e.code !== 'pg-db-missing') throw e;
    // A database the restore creates (--create): named as libpq names it, on the server its maintenance database is reached at.
    const { host, port } = await whereConnected(maintenance(dbname), env);
    reached = { host, port, name: String(e.data?.database ?? given.name) };
  }
  const { host, port, name } = reached;
  const read = given.forms.flatMap((f) => {
    const at = /^([^/]*?)(:\d+)?\/(.*)$/s.exec(f);
    return at ? hostSpellings(at[1]!).map((h) => `${h}${at[2] ?? ''}/${at[3]}`) : [f];
  });
  const others = cluster
    ? (await psqlAsk('select datname from pg_database where not datistemplate order by 1', dbname, env))
        .split('\n')
        .filter(Boolean)
        .flatMap((d) => databaseForms(d, host, port))
    : [];
  return {
    type: 'databases',
    name,
    forms: [...new Set([...databaseForms(name, host, port), ...given.forms, ...read, ...others])],
    ...(cluster ? { note: "the globals: the server's roles, which each of its databases depends on" } : {}),
  };
}

/** The host, port and database psql reaches with a `--dbname` (its HOST, PORT and DBNAME variables, as libpq resolved them). */
async function whereConnected(dbname: string, env: Env): Promise<{ host: string; port: string; name: string }> {
  let said: string;
  try {
    said = await runTool('psql', ['-X', '-A', '-t', '-c', '\\echo :HOST', '-c', '\\echo :PORT', '-c', '\\echo :DBNAME', '--dbname', dbname], {
      env,
      timeoutMs: externalTimeoutMs(env),
      label: 'psql (which database the restore reaches)',
    });
  } catch (e) {
    if (!(e instanceof VaultError)) throw e;
    throw pgProblem(e, env, 'io');
  }
  const [host = '', port = '', ...rest] = said.replace(/\n$/, '').split('\n');
  const name = rest.join('\n');
  if (!name) throw new VaultError('io', `psql did not say which database ${dbname} reaches`, { code: 'pg-unreachable' });
  return { host, port, name };
}

/** The same connection to the server's `postgres` database: a URI's path replaced, a connection string's dbname given last (the last wins). */
function maintenance(dbname: string): string {
  if (/^postgres(?:ql)?:\/\//i.test(dbname)) {
    try {
      const u = new URL(dbname);
      u.pathname = '/postgres';
      u.searchParams.delete('dbname');
      return u.toString();
    } catch {
      return 'postgres';
    }
  }
  return dbname.includes('=') ? `${dbname} dbname=postgres` : 'postgres';
}
