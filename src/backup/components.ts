import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';
import { parseAllDocuments } from 'yaml';
import { VaultError } from '../errors/errors.js';
import type { Kind } from './manifest.js';
import type { Consumer, Producer } from './pipeline.js';
import { redactArgs } from './redact.js';
import { checkComponent, isComponentName } from './repo.js';
import { externalTimeoutMs, timeoutText } from '../dest/timeout.js';
import { toolMessage } from './tool.js';
import { checkBaseStream } from './wal/base-check.js';

const run = promisify(execFile);

/**
 * What each kind of backup runs, what its output must look like, and how it
 * is read back in full. Credentials reach the tools through their own
 * environment (libpq's PG* variables and PGPASSFILE, REDISCLI_AUTH), never
 * argv; the manifest records where from (host, database), never how to log in.
 */
export interface Component {
  component: string;
  kind: Kind;
  ext: string;
  producer: Producer;
  /** The tool that makes the dump and its version, for the manifest. */
  tool: { name: string; version: string; args: string[] };
  source: Record<string, string>;
  /** A problem with the plaintext (too small, wrong format), or null. */
  check: (head: Buffer, size: number) => string | null;
  /** The full read that verifies the plaintext. */
  /** An estimate of the plaintext size, for progress and for remote uploads. */
  estimate?: number;
  /** What the user should know before it runs (a password on the command line). */
  warnings?: string[];
}

type Env = Record<string, string | undefined>;

/** execFile's options for a short call: the run's environment, and its bound (a call that does not finish in time is killed). */
const bounded = (env: Env) => ({ env: env as NodeJS.ProcessEnv, timeout: externalTimeoutMs(env), killSignal: 'SIGKILL' as const });

/** Whether an execFile failure is the bound's kill. */
const timedOut = (e: unknown) => Boolean((e as { killed?: boolean }).killed) && (e as { signal?: string }).signal === 'SIGKILL';

async function versionOf(cmd: string, env: Env): Promise<string> {
  const opts = bounded(env);
  try {
    const { stdout } = await run(cmd, ['--version'], opts);
    return stdout.split('\n')[0]!.trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new VaultError('not-found', `${cmd} is not installed`, { code: 'tool-missing', data: { tool: cmd } });
    if (timedOut(e))
      throw new VaultError('backup-failed', `${cmd} did not say its version within ${timeoutText(externalTimeoutMs(env))}: it was stopped`, {
        code: 'external-timeout',
        data: { timeout: timeoutText(externalTimeoutMs(env)) },
      });
    throw new VaultError('backup-failed', `${cmd} could not say its version: ${(e as Error).message.split('\n')[0]}`);
  }
}

const majorOf = (v: string) => Number(/(\d+)(\.\d+)?/.exec(v.replace(/^[^\d]*/, ''))?.[1] ?? NaN);

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
 * `--dbname` may name a database or hold a connection string (libpq's
 * `key = value` form or a postgresql:// URI), but not a password or a
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

async function psql(sql: string, dbname: string | undefined, env: Env): Promise<string> {
  const opts = bounded(env);
  try {
    const { stdout } = await run('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql, ...(dbname ? ['--dbname', dbname] : [])], opts);
    return stdout.trim();
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT')
      throw new VaultError('not-found', 'psql is not installed (it is needed to check the server version)', { code: 'tool-missing', data: { tool: 'psql' } });
    if (timedOut(e))
      throw new VaultError(
        'backup-failed',
        `the PostgreSQL server did not answer within ${timeoutText(externalTimeoutMs(env))} (psql was stopped): it is unreachable`,
        {
          code: 'external-timeout',
          data: { timeout: timeoutText(externalTimeoutMs(env)) },
        },
      );
    throw new VaultError('backup-failed', `cannot reach the PostgreSQL server: ${toolMessage(err.stderr ?? err.message)}`, {
      hint: 'check PGHOST, PGPORT, PGUSER, the password (PGPASSWORD or PGPASSFILE) and the database name',
    });
  }
}

const pgSource = (env: Env, database: string): Record<string, string> => ({
  host: env.PGHOST ?? 'local socket',
  port: env.PGPORT ?? '5432',
  database,
  ...(env.PGUSER ? { user: env.PGUSER } : {}),
  machine: hostname(),
});

/**
 * `pg_dump -Fc` of one database. The client's major version must be at
 * least the server's (an older pg_dump cannot read a newer server right):
 * checked first, with both versions in the message.
 */
export async function postgresComponent(env: Env, name: string | undefined, o: { compress?: number; literal?: boolean } = {}): Promise<Component> {
  // A name read from the server (--all) is a name, never a connection string, whatever it holds.
  const dbname = name !== undefined && o.literal ? onlyDatabase(name) : name;
  if (dbname) checkDbname(dbname);
  const dumpArgs = ['-Fc', ...(o.compress !== undefined ? ['-Z', String(o.compress)] : [])];
  const version = await versionOf('pg_dump', env);
  const server = Number(await psql('show server_version_num', dbname, env));
  const clientMajor = majorOf(version);
  if (Math.floor(server / 10000) > clientMajor) {
    throw new VaultError(
      'backup-failed',
      `pg_dump is version ${clientMajor}, older than the server (${Math.floor(server / 10000)}): it cannot dump it faithfully`,
      { hint: `install the PostgreSQL ${Math.floor(server / 10000)} client tools (pg_config names the folder of the ones in use)` },
    );
  }
  const database = await psql('select current_database()', dbname, env);
  const estimate = Number(await psql('select pg_database_size(current_database())', dbname, env));
  return {
    component: checkComponent(componentForDatabase(database)),
    kind: 'postgres',
    ext: 'pgdump',
    producer: { kind: 'process', command: 'pg_dump', args: [...dumpArgs, ...(dbname ? ['--dbname', dbname] : [])], env },
    tool: { name: 'pg_dump', version, args: dumpArgs },
    source: pgSource(env, database),
    check: (head, size) =>
      size < 32
        ? `its output was ${size} bytes`
        : head.subarray(0, 5).toString('latin1') !== 'PGDMP'
          ? 'its output is not a custom-format dump (no PGDMP header)'
          : null,
    estimate,
  };
}

/** Every database of the cluster that accepts connections (templates aside). */
export async function listDatabases(env: Env, dbname: string | undefined): Promise<string[]> {
  return (await psql('select datname from pg_database where datallowconn and not datistemplate order by 1', dbname ?? 'postgres', env))
    .split('\n')
    .filter(Boolean);
}

/** `pg_dumpall --globals-only`: roles and tablespaces (a restore into a new cluster needs them). */
export async function postgresGlobals(env: Env): Promise<Component> {
  const version = await versionOf('pg_dumpall', env);
  return {
    component: 'postgres/globals',
    kind: 'postgres-globals',
    ext: 'sql',
    producer: { kind: 'process', command: 'pg_dumpall', args: ['--globals-only'], env },
    tool: { name: 'pg_dumpall', version, args: ['--globals-only'] },
    source: pgSource(env, '(cluster globals)'),
    check: (head, size) =>
      size === 0
        ? 'its output was empty'
        : !head.toString('latin1').includes('PostgreSQL database cluster dump')
          ? 'its output is not a pg_dumpall script'
          : null,
  };
}

async function endsWith(r: Readable, marker: string): Promise<void> {
  let last = '';
  for await (const c of r) last = (last + (c as Buffer).toString('latin1')).slice(-4096);
  if (!last.includes(marker)) throw new VaultError('verify-failed', `the script does not end with "${marker}": it was cut short`);
}

/** `redis-cli --rdb -`: a fresh RDB snapshot streamed from the server (local or remote; REDISCLI_AUTH for a password). */
export async function redisComponent(env: Env, o: { host: string; port: string; name: string }): Promise<Component> {
  checkComponent(`redis/${o.name}`);
  const version = await versionOf('redis-cli', env);
  return {
    component: `redis/${o.name}`,
    kind: 'redis',
    ext: 'rdb',
    producer: { kind: 'process', command: 'redis-cli', args: ['-h', o.host, '-p', o.port, '--no-auth-warning', '--rdb', '-'], env },
    tool: { name: 'redis-cli', version, args: ['--rdb', '-'] },
    source: { host: o.host, port: o.port, machine: hostname() },
    check: (head, size) =>
      size < 9 ? `its output was ${size} bytes` : head.subarray(0, 5).toString('latin1') !== 'REDIS' ? 'its output is not an RDB file (no REDIS header)' : null,
  };
}

/** A tar stream of files and folders (relative to `base`). */
export async function filesComponent(env: Env, o: { base: string; paths: string[]; name: string }): Promise<Component> {
  checkComponent(`files/${o.name}`);
  if (!o.paths.length) throw new VaultError('usage', 'which files? name at least one path');
  for (const p of o.paths) if (p.startsWith('-')) throw new VaultError('usage', `path ${JSON.stringify(p)} starts with "-": write ./${p}`);
  const version = await versionOf('tar', env);
  return {
    component: `files/${o.name}`,
    kind: 'files',
    ext: 'tar',
    producer: { kind: 'process', command: 'tar', args: ['-c', '-f', '-', '-C', o.base, '--', ...o.paths], env },
    tool: { name: 'tar', version, args: ['-c', '-C', o.base, ...o.paths] },
    source: { base: o.base, paths: o.paths.join(' '), machine: hostname() },
    check: (_head, size) => (size < 1024 || size % 512 !== 0 ? `its output (${size} bytes) is not a tar archive` : null),
  };
}

/** Kubernetes objects as YAML documents, made in-process through the cluster client. */
export function k8sComponent(o: { name: string; context: string; namespaces: string[]; open: () => Promise<Readable> }): Component {
  checkComponent(`k8s/${o.name}`);
  return {
    component: `k8s/${o.name}`,
    kind: 'k8s',
    ext: 'yaml',
    producer: { kind: 'stream', name: 'the Kubernetes API', open: o.open },
    tool: { name: 'vault-tool', version: 'k8s', args: o.namespaces },
    source: { context: o.context, namespaces: o.namespaces.join(' '), machine: hostname() },
    check: (_h, size) => (size === 0 ? 'nothing was read' : null),
  };
}

async function checkYaml(r: Readable): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  const docs = parseAllDocuments(Buffer.concat(chunks).toString('utf8'));
  const bad = (Array.isArray(docs) ? docs : [docs]).find((d) => d.errors.length);
  if (bad) throw new VaultError('verify-failed', `the YAML does not parse: ${bad.errors[0]!.message.split('\n')[0]}`);
}

export { redactArgs } from './redact.js';

/** Any command that writes a dump to stdout (mongodump --archive, kc.sh export…). */
export async function execComponent(env: Env, o: { name: string; command: string; args: string[] }): Promise<Component> {
  checkComponent(`exec/${o.name}`);
  // The arguments are recorded, but the value of any that looks like a credential is not.
  const { shown, redacted } = redactArgs(o.args);
  return {
    component: `exec/${o.name}`,
    kind: 'exec',
    ext: 'bin',
    producer: { kind: 'process', command: o.command, args: o.args, env },
    tool: { name: o.command, version: '', args: shown },
    source: { command: o.command, machine: hostname() },
    check: (_h, size) => (size === 0 ? 'its output was empty' : null),
    ...(redacted
      ? {
          warnings: [
            'the command line holds what looks like a password or token: the manifest records it redacted, but while the backup runs any user of this host can read it (ps, /proc); give it to the command in its environment or a file instead',
          ],
        }
      : {}),
  };
}

/** The full-read check of a kind of backup: run on the plaintext while it is written, and by every later verification and restore. */
export function verifierFor(kind: Kind, env: Env): Consumer {
  switch (kind) {
    case 'postgres':
      return { kind: 'process', command: 'pg_restore', args: ['-f', '/dev/null'], env, label: 'pg_restore -f /dev/null' };
    case 'postgres-globals':
      return { kind: 'inline', label: 'a complete pg_dumpall script', consume: (r) => endsWith(r, '-- PostgreSQL database cluster dump complete') };
    case 'redis':
      return { kind: 'process', command: 'redis-check-rdb', args: ['{input}'], env, label: 'redis-check-rdb', fifo: true };
    case 'files':
      return { kind: 'process', command: 'tar', args: ['-t', '-f', '-'], env, label: 'tar -t' };
    case 'k8s':
      return { kind: 'inline', label: 'YAML', consume: checkYaml };
    case 'exec':
    // A WAL file's checks need its name and its archive (backup/wal/fetch.ts); here it is decrypted in full.
    case 'postgres-wal':
      return { kind: 'discard', label: 'decrypt' };
    case 'postgres-base':
      return { kind: 'inline', label: "backup_manifest (every file's size and SHA-256)", consume: async (r) => void (await checkBaseStream(r)) };
  }
}
