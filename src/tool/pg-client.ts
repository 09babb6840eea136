import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { VaultError } from '../errors/errors.js';

type Env = Record<string, string | undefined>;

/**
 * Which PostgreSQL client program runs for a name (`pg_dump`, `psql`…).
 *
 * Debian installs each client as a link to `pg_wrapper`, a Perl script
 * (40–70 ms a start) that picks a version and runs the real program from
 * /usr/lib/postgresql/<N>/bin. When the name found on PATH is that wrapper
 * and no local cluster is named, the program is run from the newest
 * installed version's folder directly, as the wrapper itself does then (a
 * newer pg_dump or pg_restore reads and dumps older servers; the manifest
 * records the version that wrote each dump, from the dump's own header). A
 * local cluster is named when PGHOST is unset and PGCLUSTER is set, or
 * neither PGHOST, PGPORT nor PGSERVICE is set and the host has a cluster
 * map (~/.postgresqlrc, /etc/postgresql-common/user_clusters) or a cluster
 * of its own (/etc/postgresql/<version>/<name>): the wrapper then points
 * the client at that cluster's socket and port, so it is kept; so it is
 * when PGPORT alone is set and a cluster of this host listens on that port
 * (the wrapper runs that cluster's version, which may be older). The
 * environment variable VAULT_TOOL_PG_BINDIR names the folder to take them
 * from instead. A client on PATH that is not the wrapper runs as it is.
 * Resolved once per process (a few stat calls, no program started).
 */
export const PG_BINDIR_VARIABLE = 'VAULT_TOOL_PG_BINDIR';

/** The client programs Debian's postgresql-client-common links to pg_wrapper. */
const CLIENTS = new Set([
  'clusterdb',
  'createdb',
  'createuser',
  'dropdb',
  'dropuser',
  'pg_basebackup',
  'pg_dump',
  'pg_dumpall',
  'pg_isready',
  'pg_receivewal',
  'pg_recvlogical',
  'pg_restore',
  'psql',
  'reindexdb',
  'vacuumdb',
]);

export const PG_WRAPPER = '/usr/share/postgresql-common/pg_wrapper';
const VERSIONS = '/usr/lib/postgresql';

const resolved = new Map<string, string>();

/** The program to start for `cmd`: a path for a PostgreSQL client (see above), else `cmd` as given. */
export function pgClient(cmd: string, env: Env): string {
  if (!CLIENTS.has(cmd)) return cmd;
  const dir = env[PG_BINDIR_VARIABLE];
  const key = [cmd, dir, env.PATH, env.PGHOST, env.PGPORT, env.PGSERVICE, env.PGCLUSTER, env.HOME].map((v) => (v === undefined ? '-' : `+${v}`)).join('\0');
  let file = resolved.get(key);
  if (file === undefined) {
    file = dir !== undefined && dir !== '' ? fromFolder(cmd, dir) : throughWrapper(cmd, env);
    resolved.set(key, file);
  }
  return file;
}

/** A program file (as execvp takes one: a regular file with an execute bit). */
const isProgram = (path: string) => {
  try {
    const st = statSync(path);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
};

function fromFolder(cmd: string, dir: string): string {
  let folder = false;
  try {
    folder = statSync(dir).isDirectory();
  } catch {
    /* said below */
  }
  if (!folder)
    throw new VaultError('not-found', `${PG_BINDIR_VARIABLE} names ${dir}, which is not a folder`, {
      code: 'pg-bindir',
      data: { variable: PG_BINDIR_VARIABLE },
    });
  const file = join(dir, cmd);
  if (!isProgram(file))
    throw new VaultError('not-found', `${PG_BINDIR_VARIABLE} names ${dir}, which holds no ${cmd}`, {
      code: 'pg-bindir',
      data: { variable: PG_BINDIR_VARIABLE },
    });
  return file;
}

/** The first `cmd` on PATH; when it is Debian's pg_wrapper, the newest installed version's own program (else the wrapper, which says what is wrong). */
function throughWrapper(cmd: string, env: Env): string {
  for (const d of (env.PATH ?? '').split(delimiter)) {
    if (!d) continue;
    const found = join(d, cmd);
    if (!isProgram(found)) continue;
    let real: string;
    try {
      real = realpathSync(found);
    } catch {
      return cmd;
    }
    if (real !== PG_WRAPPER || clusterNamed(env)) return cmd;
    return newest(cmd) ?? cmd;
  }
  return cmd;
}

function newest(cmd: string): string | undefined {
  let versions: string[];
  try {
    versions = readdirSync(VERSIONS).filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch {
    return undefined;
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const file = join(VERSIONS, v, 'bin', cmd);
    if (isProgram(file)) return file;
  }
  return undefined;
}

/** Whether pg_wrapper would point the client at a local cluster (its socket, its port): see above. */
function clusterNamed(env: Env): boolean {
  if (env.PGHOST !== undefined) return false;
  if (env.PGCLUSTER !== undefined) return true;
  if (env.PGSERVICE !== undefined) return false;
  // A port alone: the wrapper runs the version of the local cluster on that port, when there is one.
  if (env.PGPORT) return localPorts().includes(env.PGPORT.trim());
  if (env.HOME && exists(join(env.HOME, '.postgresqlrc'))) return true;
  try {
    const map = readFileSync('/etc/postgresql-common/user_clusters', 'utf8');
    if (map.split('\n').some((l) => l.replace(/#.*/, '').trim() !== '')) return true;
  } catch {
    /* no map */
  }
  try {
    for (const v of readdirSync(CLUSTERS)) if (readdirSync(join(CLUSTERS, v)).length) return true;
  } catch {
    /* no cluster */
  }
  return false;
}

const CLUSTERS = '/etc/postgresql';

/**
 * The ports of this host's clusters (/etc/postgresql/<version>/<name>), as
 * pg_wrapper reads them: `port` in postgresql.conf (the last setting, the
 * files of its conf.d after it), else 5432.
 */
function localPorts(): string[] {
  const ports: string[] = [];
  let versions: string[];
  try {
    versions = readdirSync(CLUSTERS);
  } catch {
    return ports;
  }
  for (const v of versions) {
    let names: string[];
    try {
      names = readdirSync(join(CLUSTERS, v));
    } catch {
      continue;
    }
    for (const name of names) {
      const folder = join(CLUSTERS, v, name);
      const main = readText(join(folder, 'postgresql.conf'));
      if (main === undefined) continue;
      let conf: string[] = [];
      try {
        conf = readdirSync(join(folder, 'conf.d'))
          .filter((f) => f.endsWith('.conf'))
          .sort();
      } catch {
        /* none */
      }
      let port = '5432';
      for (const text of [main, ...conf.map((f) => readText(join(folder, 'conf.d', f)) ?? '')])
        for (const m of text.matchAll(/^\s*port\s*=?\s*'?(\d+)'?/gm)) port = m[1]!;
      ports.push(port);
    }
  }
  return ports;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

const exists = (path: string) => {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
};
