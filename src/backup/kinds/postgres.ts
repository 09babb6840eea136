import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { type ErrorKind, VaultError } from '../../errors/errors.js';
import { externalTimeoutMs, timeoutText } from '../../tool/bound.js';
import { pgClient } from '../../tool/pg-client.js';
import { runTool } from '../../tool/run.js';
import { fail, map, object, oneOf, string, type Shape } from '../../vault/shape.js';
import type { GuardTarget } from '../../k8s/policy.js';
import type { BackupKind, Beside, Component, DrillCheckSpec, Env, KindCheck, Restorer, RestoreRequest, RunBounds } from '../kind.js';
import { defineKind } from './loaded.js';
import { isComponentName } from '../names.js';
import { readOnly, serverOf } from '../scratch.js';
import { versionOf } from '../tool.js';

/**
 * `postgres`: one database, `pg_dump -Fc` (PostgreSQL's custom format),
 * checked in full by `pg_restore -f /dev/null`, restored by `pg_restore
 * --clean --if-exists --single-transaction` into a database (created first
 * when asked), drilled into a scratch database the drill creates.
 * Credentials reach the tools through libpq's own environment (PG*
 * variables, PGPASSFILE), never argv; the manifest records where from
 * (host, database), never how to log in.
 */
export interface PostgresOptions {
  /** The database, or a connection string without a password; default: libpq's (PGDATABASE, else the user's). */
  dbname?: string;
  /** pg_dump's compression level (0 to 9). */
  compress?: number;
  /** `dbname` is a name read from the server (never a connection string, whatever it holds). */
  literal?: boolean;
}

/**
 * The keys of a libpq connection string (`key = value`, spaces allowed
 * around `=`, values bare or single-quoted with backslash escapes), with
 * their values; null when it does not parse as libpq would read it.
 */
export function parseConninfo(s: string): [string, string][] | null {
  const out: [string, string][] = [];
  let i = 0;
  const ws = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  for (;;) {
    ws();
    if (i >= s.length) return out;
    const k0 = i;
    while (i < s.length && /[A-Za-z0-9_]/.test(s[i]!)) i++;
    const key = s.slice(k0, i);
    ws();
    if (!key || s[i] !== '=') return null;
    i++;
    ws();
    let value = '';
    if (s[i] === "'") {
      i++;
      for (;;) {
        if (i >= s.length) return null;
        const c = s[i]!;
        if (c === '\\') {
          value += s[i + 1] ?? '';
          i += 2;
        } else if (c === "'") {
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
    } else {
      while (i < s.length && !/\s/.test(s[i]!)) {
        if (s[i] === '\\') {
          value += s[i + 1] ?? '';
          i += 2;
        } else value += s[i++];
      }
    }
    out.push([key, value]);
  }
}

/**
 * A database a restore writes into, for the restore policy: its name and
 * HOST/NAME and HOST:PORT/NAME for each host it may reach (a connection
 * string's, else PGHOST's, else the local server: `localhost`; a socket
 * folder is `localhost` too), the port a connection string's, else PGPORT,
 * else 5432.
 */
export function databaseTarget(dbname: string, env: Env): GuardTarget {
  const given = new Map<string, string>();
  if (URI.test(dbname)) {
    try {
      const u = new URL(dbname.replace(URI, 'postgres://'));
      if (u.hostname) given.set('host', decodeURIComponent(u.hostname));
      if (u.port) given.set('port', u.port);
      const path = decodeURIComponent(u.pathname.replace(/^\//, ''));
      if (path) given.set('dbname', path);
      for (const [k, v] of u.searchParams) given.set(k, v);
    } catch {
      /* an unreadable URI: named as written */
    }
  } else if (dbname.includes('=')) for (const [k, v] of parseConninfo(dbname) ?? []) given.set(k, v);
  else given.set('dbname', dbname);
  const name = given.get('dbname') ?? env.PGDATABASE ?? dbname;
  const hosts = (given.get('host') ?? given.get('hostaddr') ?? env.PGHOST ?? '').split(',').map((h) => (h === '' || h.startsWith('/') ? 'localhost' : h));
  const ports = (given.get('port') ?? env.PGPORT ?? '5432').split(',');
  const forms = [name, ...hosts.flatMap((h, i) => [`${h}/${name}`, `${h}:${ports[i] ?? ports[0]}/${name}`])];
  return { type: 'databases', name, forms: [...new Set(forms)] };
}

/**
 * libpq connection parameters whose value is a secret, or names where one is
 * kept: the password, the password file, the SSL client key's passphrase,
 * the OAuth client secret (libpq 18).
 */
const SECRET_KEYS = new Set(['password', 'passfile', 'sslpassword', 'oauth_client_secret']);
const URI = /^postgres(?:ql)?:\/\//i;

/** Why a connection string given on the command line is refused (the secret parameter it holds), or null. */
function secretInDbname(dbname: string, depth = 0): string | null {
  if (depth > 2) return 'too-deep';
  if (URI.test(dbname)) {
    const rest = dbname.replace(URI, '');
    // libpq reads user[:password]@ up to the first @ or /.
    const end = rest.search(/[@/]/);
    if (end >= 0 && rest[end] === '@' && rest.slice(0, end).includes(':')) return 'password';
    const q = rest.indexOf('?');
    if (q >= 0) {
      for (const part of rest.slice(q + 1).split('&')) {
        const eq = part.indexOf('=');
        let key: string;
        let value: string;
        try {
          key = decodeURIComponent(eq >= 0 ? part.slice(0, eq) : part)
            .trim()
            .toLowerCase();
          value = decodeURIComponent(eq >= 0 ? part.slice(eq + 1) : '');
        } catch {
          return 'unreadable';
        }
        if (SECRET_KEYS.has(key)) return key;
        if (key === 'dbname' && (URI.test(value) || value.includes('='))) {
          const inner = secretInDbname(value, depth + 1);
          if (inner) return inner;
        }
      }
    }
    return null;
  }
  if (!dbname.includes('=')) return null;
  const pairs = parseConninfo(dbname);
  if (!pairs) return 'unreadable';
  for (const [k, v] of pairs) {
    const key = k.toLowerCase();
    if (SECRET_KEYS.has(key)) return key;
    if (key === 'dbname' && (URI.test(v) || v.includes('='))) {
      const inner = secretInDbname(v, depth + 1);
      if (inner) return inner;
    }
  }
  return null;
}

/**
 * A database may be named by a connection string (libpq's `key = value`
 * form or a postgresql:// URI), but not one holding a password or a
 * password file (argv is visible in ps): the string is parsed as libpq
 * parses it, so no spelling of the key gets past.
 */
export function checkDbname(dbname: string): void {
  const found = secretInDbname(dbname);
  if (!found) return;
  if (found === 'unreadable')
    throw new VaultError('usage', 'the connection string cannot be read as libpq reads one (an unterminated quote, a key without "=", a bad %-escape)', {
      hint: 'write key=value pairs, quoting a value with spaces in single quotes, or a postgresql:// URI',
    });
  if (found === 'too-deep') throw new VaultError('usage', 'the connection string nests connection strings too deep');
  const visible = 'which would be visible to other users (ps) and recorded';
  if (found === 'passfile')
    throw new VaultError('usage', `the connection string holds a password setting (passfile), ${visible}`, {
      hint: 'set PGPASSFILE (a file of mode 0600) in the environment instead',
    });
  if (found === 'password')
    throw new VaultError('usage', `the connection string holds a password, ${visible}`, {
      hint: 'give the password in PGPASSWORD or a PGPASSFILE (mode 0600) instead',
    });
  throw new VaultError('usage', `the connection string holds a secret (${found}), ${visible}`, {
    hint: 'put it in a connection service file (PGSERVICEFILE, mode 0600) and name the service with service=NAME',
  });
}

/**
 * A database name as a connection string libpq reads as exactly that name:
 * given bare, a name holding `=` or starting with `postgresql://` would be
 * expanded as a connection string (another host, another database).
 */
export function onlyDatabase(name: string): string {
  return `dbname='${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The component of a database: postgres/NAME with the database's own name
 * when it is already a valid lowercase component name, else (capitals,
 * spaces, a leading dot, `..`, or a name that looks like a mapped one or is
 * reserved) its lowercased, cleaned form with `_` and 10 hex digits of the
 * SHA-256 of the exact name: two databases never share a component.
 */
export function componentForDatabase(database: string): string {
  const mapped = /_[0-9a-f]{10}$/;
  if (isComponentName(database) && !mapped.test(database) && database !== 'globals') return `postgres/${database}`;
  const clean =
    database
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '_')
      .replace(/^[._-]+/, '')
      .slice(0, 80) || 'db';
  return `postgres/${clean}_${createHash('sha256').update(database, 'utf8').digest('hex').slice(0, 10)}`;
}

/**
 * What a failed psql call says, as an error that names it, libpq's words
 * kept (the host, the port, the reason): a database that does not exist
 * (not found), a login the server refused, a server out of reach (`kind`,
 * the caller's: a backup that cannot start is a failed backup).
 */
export function pgProblem(e: VaultError, env: Env, kind: ErrorKind): VaultError {
  const said = e.message.replace(/^psql failed \([^)]*\)(: )?/, '').replace(/^psql: error: /, '');
  const missing = /database "((?:[^"]|"")*)" does not exist/.exec(said);
  if (missing)
    return new VaultError('not-found', `database ${missing[1]} does not exist on the PostgreSQL server ${serverOf(env)}`, {
      code: 'pg-db-missing',
      data: { database: missing[1]! },
    });
  const reason = said.replace(/^connection to server .*? failed: (FATAL:\s+)?/, '');
  if (/password authentication failed|no password supplied|authentication failed|role "(?:[^"]|"")*" does not exist|pg_hba\.conf rejects/.test(said))
    return new VaultError(kind, `the PostgreSQL server ${serverOf(env)} refused the login: ${reason}`, { code: 'pg-login-refused' });
  return new VaultError(kind, `cannot reach the PostgreSQL server: ${said}`, { code: 'pg-unreachable' });
}

/** psql for a short question to the server (its version, a database's name and size), bounded; a server out of reach says so. */
export async function psqlAsk(sql: string, dbname: string | undefined, env: Env): Promise<string> {
  const ms = externalTimeoutMs(env);
  try {
    return (
      await runTool('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql, ...(dbname ? ['--dbname', dbname] : [])], { env, timeoutMs: ms })
    ).trim();
  } catch (e) {
    if (!(e instanceof VaultError)) throw e;
    if (e.code === 'tool-missing')
      throw new VaultError('not-found', 'psql is not installed (it is needed to check the server version)', { code: 'tool-missing', data: { tool: 'psql' } });
    if (e.code === 'tool-timeout')
      throw new VaultError('backup-failed', `the PostgreSQL server did not answer within ${timeoutText(ms)} (psql was stopped): it is unreachable`, {
        code: 'external-timeout',
        data: { timeout: timeoutText(ms) },
      });
    throw pgProblem(e, env, 'backup-failed');
  }
}

/** Where a dump comes from, for the manifest: the server and the database, never how to log in. */
export const pgSource = (env: Env, database: string): Record<string, string> => ({
  host: env.PGHOST ?? 'local socket',
  port: env.PGPORT ?? '5432',
  database,
  ...(env.PGUSER ? { user: env.PGUSER } : {}),
  machine: hostname(),
});

const majorOf = (v: string) => Number(/(\d+)(\.\d+)?/.exec(v.replace(/^[^\d]*/, ''))?.[1] ?? NaN);

/** Every database of the cluster that accepts connections (templates aside). */
export async function listDatabases(env: Env, dbname: string | undefined): Promise<string[]> {
  return (await psqlAsk('select datname from pg_database where datallowconn and not datistemplate order by 1', dbname ?? 'postgres', env))
    .split('\n')
    .filter(Boolean);
}

/** The server's version, the database's size and its name (last, as it may hold spaces), by one psql. */
const FACTS = "select format('%s %s %s', current_setting('server_version_num'), pg_database_size(current_database()), current_database())";

interface Facts {
  /** server_version_num (150004). */
  server: number;
  estimate: number;
  database: string;
}

async function askFacts(dbname: string | undefined, env: Env): Promise<Facts> {
  const said = await psqlAsk(FACTS, dbname, env);
  const facts = /^(\d+) (\d+) ([\s\S]*)$/.exec(said);
  if (!facts) throw new VaultError('backup-failed', `the PostgreSQL server answered what this vault-tool cannot read: ${JSON.stringify(said.slice(0, 80))}`);
  return { server: Number(facts[1]), estimate: Number(facts[2]), database: facts[3]! };
}

/**
 * What a custom-format dump's header says (pg_dump writes it first): the
 * database, the server's version and pg_dump's own (as `--version` prints
 * it after "pg_dump (PostgreSQL) "); null when `head` does not hold a
 * header this reader knows (archive versions 1.10 to 1.16).
 */
export function readDumpHead(head: Buffer): { database: string; server: string; pgDump: string } | null {
  if (head.length < 11 || head.toString('latin1', 0, 5) !== 'PGDMP') return null;
  const minor = head[6]!;
  const intSize = head[8]!;
  if (head[5] !== 1 || minor < 10 || minor > 16 || intSize < 1 || intSize > 6) return null;
  let at = 11;
  const int = (): number | null => {
    if (at + 1 + intSize > head.length) return null;
    let v = 0;
    for (let i = 0; i < intSize; i++) v += head[at + 1 + i]! * 2 ** (8 * i);
    const negative = head[at] !== 0;
    at += 1 + intSize;
    return negative ? -v : v;
  };
  const str = (): string | null => {
    const n = int();
    if (n === null || n < 0 || at + n > head.length) return null;
    at += n;
    return head.toString('utf8', at - n, at);
  };
  // The compression: one byte from archive version 1.15 (PostgreSQL 16), an integer before; then the creation time, seven integers.
  if (minor >= 15) at += 1;
  else if (int() === null) return null;
  for (let i = 0; i < 7; i++) if (int() === null) return null;
  const database = str();
  const server = str();
  const pgDump = str();
  return database !== null && server !== null && pgDump ? { database, server, pgDump } : null;
}

/** An older pg_dump cannot read a newer server right (pg_dump refuses it too): said with both versions. */
function tooOld(serverMajor: number, version: string): VaultError | null {
  const clientMajor = majorOf(version);
  if (serverMajor <= clientMajor) return null;
  return new VaultError('backup-failed', `pg_dump is version ${clientMajor}, older than the server (${serverMajor}): it cannot dump it faithfully`, {
    hint: `install the PostgreSQL ${serverMajor} client tools (pg_config names the folder of the ones in use)`,
  });
}

/**
 * What is known of a dump beside it. The dump's own header names the
 * database, the server's version and pg_dump's (the very pg_dump that wrote
 * it): checked against the component and each other before the file is
 * kept. The server is asked (one psql) only for what the header cannot
 * say: the database's size, when wanted (a remote upload's parts, the start
 * event), and the cause of a failed dump (the server out of reach, the
 * database missing, the login refused, pg_dump older than the server), in
 * psql's words; and whenever the header cannot be read.
 */
function besideDump(known: Facts | undefined, dbname: string | undefined, database: string, env: Env): Beside {
  let asked: Promise<Facts> | undefined = known ? Promise.resolve(known) : undefined;
  const ask = () => {
    if (!asked) {
      asked = askFacts(dbname, env);
      asked.catch(() => undefined);
    }
    return asked;
  };
  return {
    estimate: () =>
      ask().then(
        (f) => f.estimate,
        () => undefined,
      ),
    async settle(head: Buffer) {
      const h = readDumpHead(head);
      // Facts asked already (or a header this vault-tool cannot read) are checked too.
      const f = asked || !h ? await ask() : undefined;
      const dumped = h?.database ?? f!.database;
      if (dumped !== database || (f && f.database !== database))
        throw new VaultError(
          'backup-failed',
          `pg_dump dumped database ${f && f.database !== database ? f.database : dumped}, not ${database}; nothing was kept`,
        );
      const version = h ? `pg_dump (PostgreSQL) ${h.pgDump}` : await versionOf('pg_dump', env);
      const old = tooOld(f ? Math.floor(f.server / 10000) : majorOf(h!.server), version);
      if (old) throw old;
      return version;
    },
    async explain(e: unknown) {
      let f: Facts;
      try {
        f = await ask();
      } catch (cause) {
        // The server out of reach, the login refused, the database missing: the cause of pg_dump's failure, in psql's clearer words.
        return cause;
      }
      const version = await versionOf('pg_dump', env).catch(() => undefined);
      return (version && tooOld(Math.floor(f.server / 10000), version)) || e;
    },
  };
}

/**
 * `pg_dump -Fc` of one database. The client's major version must be at
 * least the server's (an older pg_dump cannot read a newer server right):
 * checked before the dump is kept, with both versions in the message. A
 * database named by itself (a name, not a connection string) is its own
 * component: pg_dump starts at once, and its header says the rest.
 * Otherwise the server is asked first, for the database's name.
 */
async function dump(o: PostgresOptions, env: Env): Promise<Component> {
  // A name read from the server (--all) is a name, never a connection string, whatever it holds.
  const dbname = o.dbname !== undefined && o.literal ? onlyDatabase(o.dbname) : o.dbname;
  if (dbname) checkDbname(dbname);
  // The clients the backup runs, found before anything is written (a VAULT_TOOL_PG_BINDIR without them is said now).
  pgClient('pg_dump', env);
  pgClient('pg_restore', env);
  const dumpArgs = ['-Fc', ...(o.compress !== undefined ? ['-Z', String(o.compress)] : [])];
  const named = Boolean(o.dbname) && (o.literal || (!URI.test(o.dbname!) && !o.dbname!.includes('=')));
  const early = named ? undefined : await askFacts(dbname, env);
  const database = early ? early.database : o.dbname!;
  return {
    component: componentForDatabase(database),
    kind: 'postgres',
    producer: { kind: 'process', command: 'pg_dump', args: [...dumpArgs, ...(dbname ? ['--dbname', dbname] : [])], env },
    // The version is the dump header's, given by `beside`.
    tool: { name: 'pg_dump', version: '', args: dumpArgs },
    source: pgSource(env, database),
    ...(early ? { estimate: early.estimate } : {}),
    beside: () => besideDump(early, dbname, database, env),
  };
}

/** The tables of a database (ordinary and partitioned, outside the system schemas). */
export const TABLES =
  "select count(*) from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'";

/** The tables a database holds; null when it does not exist. A server out of reach, or a login refused, is an error saying so. */
async function tablesIn(dbname: string, env: Env, timeoutMs: number): Promise<number | null> {
  try {
    return Number((await runTool('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', dbname, '-c', TABLES], { env, timeoutMs })).trim());
  } catch (e) {
    if (!(e instanceof VaultError) || e.code === 'tool-missing' || e.code === 'tool-timeout') throw e;
    const p = pgProblem(e, env, 'io');
    if (p.code === 'pg-db-missing') return null;
    throw p;
  }
}

/**
 * createdb and dropdb take a bare name, never a connection string: for a
 * `--dbname` given as one (`host=db1 dbname=orders`, `postgres://db1/orders`),
 * the name it names, and the same connection to the maintenance database
 * (`--maintenance-db` takes a connection string; in conninfo the last
 * `dbname` wins).
 */
export function createdbArgs(dbname: string): { name: string; args: string[] } {
  if (URI.test(dbname)) {
    try {
      const u = new URL(dbname.replace(URI, 'postgres://'));
      const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
      if (name) {
        u.pathname = '/postgres';
        return { name, args: ['--maintenance-db', dbname.match(URI)![0] + u.toString().slice('postgres://'.length)] };
      }
    } catch {
      /* named as written: createdb says what is wrong */
    }
    return { name: dbname, args: [] };
  }
  if (dbname.includes('=')) {
    const name = (parseConninfo(dbname) ?? []).filter(([k]) => k === 'dbname').at(-1)?.[1];
    if (name) return { name, args: ['--maintenance-db', `${dbname} dbname=postgres`] };
    // A service or defaults name the database elsewhere: creating "service=prod" would be a database of that name.
    throw new VaultError('usage', `cannot create the database of ${JSON.stringify(dbname)}: the connection string does not name it (dbname=NAME)`, {
      hint: 'add dbname=NAME to the connection string, or create the database first and restore without creating it',
    });
  }
  return { name: dbname, args: [] };
}

/**
 * Into a database: one that exists, or (with `create`) one made first when
 * it does not, and dropped again if the restore fails; never one that holds
 * tables without `force` (restoring replaces them). Checked before the
 * backup is read.
 */
function intoDatabase(req: RestoreRequest): Restorer {
  const dbname = req.database!;
  const create = Boolean(req.create);
  const force = Boolean(req.force);
  // Whether the check found it missing (and so the restore creates it).
  let missing = false;
  return {
    where: `database ${dbname}`,
    label: `pg_restore into ${dbname}`,
    record: { create, force },
    guard: (env) => databaseTarget(dbname, env),
    async precheck(env: Env, b: RunBounds) {
      checkDbname(dbname);
      const n = await tablesIn(dbname, env, b.callMs);
      missing = n === null;
      const data = { database: dbname };
      if (missing && !create)
        throw new VaultError('not-found', `database ${dbname} does not exist on the PostgreSQL server ${serverOf(env)}`, { code: 'restore-db-missing', data });
      // Before the backup is read: a database the restore would create must have a name createdb can take.
      if (missing) createdbArgs(dbname);
      if (n && !force)
        throw new VaultError('exists', `database ${dbname} holds ${n} table(s): restoring replaces them`, { code: 'restore-db-not-empty', data });
    },
    explain(said: string) {
      const role = /role "((?:[^"]|"")*)" does not exist/.exec(said);
      if (role) return { message: `the dump names role ${role[1]}, which this server lacks`, code: 'restore-role-missing' };
      return undefined;
    },
    async land(env: Env, b: RunBounds) {
      let created = false;
      const made = createdbArgs(dbname);
      if (missing) {
        await runTool('createdb', [...made.args, '--', made.name], { env, timeoutMs: b.callMs, label: `createdb ${made.name}` });
        created = true;
      }
      const label = `pg_restore into ${dbname}`;
      return {
        staged: false,
        consumer: {
          kind: 'process',
          command: 'pg_restore',
          args: ['--clean', '--if-exists', '--single-transaction', '--exit-on-error', ...(req.noOwner ? ['--no-owner'] : []), '--dbname', dbname],
          env,
          label,
        },
        commit: async () => {
          created = false;
        },
        // A database this restore created for a restore that failed holds nothing of use: it goes too.
        abort: async () => {
          if (created)
            await runTool('dropdb', ['--if-exists', ...made.args, '--', made.name], { env, timeoutMs: b.callMs, label: `dropdb ${made.name}` }).catch(
              () => undefined,
            );
        },
      };
    },
  };
}

/** psql in a scratch database, every transaction read-only. */
async function psqlIn(sql: string, database: string, on: { env: Env; timeoutMs: number; onStart?: (pid: number, label: string) => void }): Promise<string> {
  return (
    await runTool('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', sql], {
      env: readOnly(on.env),
      timeoutMs: on.timeoutMs,
      label: `psql in ${database}`,
      ...(on.onStart ? { onStart: (pid: number) => on.onStart!(pid, `psql in ${database}`) } : {}),
    })
  ).trim();
}

const PSQL = { command: 'psql', pkg: 'postgresql-client' };
const scalar: Shape<string | number> = (v, at) => (typeof v === 'string' || typeof v === 'number' ? v : fail(at, 'expected a value'));

/** `{ sql: "select count(*) from items", database: drill_orders, expect: "30000" }`: a query's single value, read-only. */
const sqlCheck: DrillCheckSpec = {
  key: 'sql',
  kind: 'sql',
  tools: [PSQL],
  shape: (database) =>
    map(
      object({ sql: string(), database, expect: map(scalar, (x) => String(x)) }),
      (c): KindCheck => ({ kind: 'sql', sql: c.sql, database: c.database, expect: c.expect }),
    ),
  describe: (c) => `sql in ${c.database}: expect ${c.expect as string}`,
  async run(c, on) {
    const got = await psqlIn(c.sql as string, on.at, on);
    if (got !== c.expect)
      throw new Error(`${JSON.stringify(c.sql)} in ${on.at} gave ${JSON.stringify(got.slice(0, 80))}, expected ${JSON.stringify(c.expect)}`);
    return `${on.at}: ${JSON.stringify(c.sql)} = ${c.expect as string}`;
  },
};

/**
 * `{ tables: backup, database: drill_orders }`: the database holds at least
 * the tables its backup's table of contents lists (`pg_restore -l`, which
 * reads only the archive's head: the rest is never decrypted).
 */
const tablesCheck: DrillCheckSpec = {
  key: 'tables',
  kind: 'tables',
  tools: [PSQL, { command: 'pg_restore', pkg: 'postgresql-client' }],
  shape: (database) => map(object({ tables: oneOf(['backup'] as const), database }), (c): KindCheck => ({ kind: 'tables', database: c.database })),
  describe: (c) => `${c.database} holds the tables of its backup`,
  async run(_c, on) {
    let listing = '';
    await on.readBackup(async (r) => {
      listing = await runTool('pg_restore', ['-l'], { env: on.env, timeoutMs: on.timeoutMs, input: r, label: 'pg_restore -l' });
    }, 'pg_restore -l');
    // "ID; OID OID TABLE schema name owner": TABLE entries, not TABLE DATA.
    const listed = listing.split('\n').filter((l) => /^\d+; \d+ \d+ TABLE (?!DATA )/.test(l)).length;
    const have = Number(await psqlIn(TABLES, on.at, on));
    if (have < listed) throw new Error(`${on.at} holds ${have} tables, but its backup ${on.manifest.file} lists ${listed}`);
    return `${on.at}: ${have} tables, as its backup lists`;
  },
};

export const postgres: BackupKind<PostgresOptions> = defineKind({
  name: 'postgres',
  folder: 'postgres',
  label: 'postgres',
  ext: 'pgdump',
  dump,
  shape: (head, size) =>
    size < 32
      ? `its output was ${size} bytes`
      : head.subarray(0, 5).toString('latin1') !== 'PGDMP'
        ? 'its output is not a custom-format dump (no PGDMP header)'
        : null,
  verifier: (env) => ({ kind: 'process', command: 'pg_restore', args: ['-f', '/dev/null'], env, label: 'pg_restore -f /dev/null' }),
  restore: { needs: 'database', target: intoDatabase },
  drill: {
    scratch: 'database',
    tools: [{ command: 'pg_restore', pkg: 'postgresql-client' }],
    checks: [sqlCheck, tablesCheck],
    // As many tables as the backup's table of contents lists (none for an empty database, such as postgres itself).
    initChecks: (database) => [{ tables: 'backup', database }],
  },
});
