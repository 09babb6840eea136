import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VaultError } from '../../src/errors/errors.js';
import { PG_WRAPPER, pgClient } from '../../src/tool/pg-client.js';
import { tempDir } from '../helpers/cli.js';
import { skipUnless } from '../helpers/require.js';

/**
 * Which PostgreSQL client runs, on this host's real Debian packages: the
 * real pg_wrapper and the real programs in /usr/lib/postgresql/<N>/bin,
 * reached through links in folders put on PATH.
 */
const versions = (() => {
  try {
    return readdirSync('/usr/lib/postgresql')
      .filter((v) => existsSync(join('/usr/lib/postgresql', v, 'bin/pg_dump')))
      .sort((a, b) => Number(b) - Number(a));
  } catch {
    return [];
  }
})();
const HAVE = existsSync(PG_WRAPPER) && versions.length > 0;
if (!HAVE && process.env.CI === 'true') throw new Error("Debian's postgresql-client (pg_wrapper, /usr/lib/postgresql/<N>/bin) is required in CI");
const NEWEST = join('/usr/lib/postgresql', versions[0] ?? '0', 'bin');

/** The ports of this host's clusters, read as pg_wrapper reads them (`port` in postgresql.conf, else 5432). */
function clusterPorts(): string[] {
  const out: string[] = [];
  try {
    for (const v of readdirSync('/etc/postgresql'))
      for (const c of readdirSync(join('/etc/postgresql', v))) {
        const conf = join('/etc/postgresql', v, c, 'postgresql.conf');
        if (!existsSync(conf)) continue;
        const m = [...readFileSync(conf, 'utf8').matchAll(/^\s*port\s*=\s*(\d+)/gm)].pop();
        out.push(m ? m[1]! : '5432');
      }
  } catch {
    /* none */
  }
  return out;
}

const { dir, cleanup } = tempDir('vt-pg-client-');
afterAll(cleanup);
let n = 0;
/** A folder holding links named after clients, to `target(name)`. */
function folder(names: string[], target: (name: string) => string): string {
  const d = join(dir, `f${n++}`);
  mkdirSync(d);
  for (const name of names) symlinkSync(target(name), join(d, name));
  return d;
}

describe.skipIf(!HAVE)('PostgreSQL clients (needs Debian postgresql-client)', () => {
  it("a client on PATH that is Debian's pg_wrapper runs from the newest installed version's folder", () => {
    const path = folder(['pg_dump', 'pg_restore', 'psql'], () => PG_WRAPPER);
    for (const env of [{ PGHOST: '/tmp' }, { PGPORT: '5433' }, { PGSERVICE: 'x' }])
      for (const c of ['pg_dump', 'pg_restore', 'psql']) expect(pgClient(c, { PATH: `/nonexistent:${path}`, ...env })).toBe(join(NEWEST, c));
    // A link to a link to the wrapper is the wrapper too.
    const chained = folder(['pg_dump'], () => join(path, 'pg_dump'));
    expect(pgClient('pg_dump', { PATH: chained, PGHOST: 'db1' })).toBe(join(NEWEST, 'pg_dump'));
  });

  it('the wrapper is kept where it names a local cluster (PGCLUSTER without PGHOST, a cluster map in HOME)', () => {
    const path = folder(['pg_dump'], () => PG_WRAPPER);
    expect(pgClient('pg_dump', { PATH: path, PGCLUSTER: '15/main' })).toBe('pg_dump');
    const home = join(dir, 'home');
    mkdirSync(home);
    writeFileSync(join(home, '.postgresqlrc'), '15 main app\n');
    expect(pgClient('pg_dump', { PATH: path, HOME: home })).toBe('pg_dump');
    // PGHOST set: the wrapper names no cluster, whatever else is set.
    expect(pgClient('pg_dump', { PATH: path, HOME: home, PGCLUSTER: '15/main', PGHOST: '/tmp' })).toBe(join(NEWEST, 'pg_dump'));
  });

  it("PGPORT alone keeps the wrapper when a cluster of this host listens there (it runs that cluster's version), else not", (ctx) => {
    // The host's own clusters, as pg_wrapper reads them (postgresql-common's main cluster on a Debian host with the server).
    const ports = clusterPorts();
    skipUnless(ctx, ports.length > 0, 'no PostgreSQL cluster in /etc/postgresql here');
    const path = folder(['pg_dump', 'pg_restore'], () => PG_WRAPPER);
    for (const port of ports) for (const c of ['pg_dump', 'pg_restore']) expect(pgClient(c, { PATH: path, PGPORT: port })).toBe(c);
    const free = String(Math.max(...ports.map(Number)) + 1);
    expect(pgClient('pg_dump', { PATH: path, PGPORT: free })).toBe(join(NEWEST, 'pg_dump'));
    // A host named: the wrapper picks no cluster by its port.
    expect(pgClient('pg_dump', { PATH: path, PGPORT: ports[0]!, PGHOST: 'db1' })).toBe(join(NEWEST, 'pg_dump'));
  });

  it('a client on PATH that is not the wrapper runs as it is, and so does any other program', () => {
    const path = folder(['pg_dump'], (c) => join(NEWEST, c));
    expect(pgClient('pg_dump', { PATH: path, PGHOST: '/tmp' })).toBe('pg_dump');
    expect(pgClient('tar', { PATH: folder(['tar'], () => PG_WRAPPER), PGHOST: '/tmp' })).toBe('tar');
    // None on PATH: left to the spawn, which says it is not installed.
    expect(pgClient('pg_dump', { PATH: join(dir, 'none'), PGHOST: '/tmp' })).toBe('pg_dump');
  });

  it('VAULT_TOOL_PG_BINDIR names the folder they are taken from; a folder missing or without the client is an error naming it', () => {
    const bin = folder(['pg_dump', 'pg_restore'], (c) => join(NEWEST, c));
    const env = { PATH: folder(['pg_dump'], () => PG_WRAPPER), PGHOST: '/tmp', VAULT_TOOL_PG_BINDIR: bin };
    expect(pgClient('pg_dump', env)).toBe(join(bin, 'pg_dump'));
    expect(pgClient('pg_restore', env)).toBe(join(bin, 'pg_restore'));
    const refused = (cmd: string, e: Record<string, string>) => {
      try {
        pgClient(cmd, e);
      } catch (err) {
        return err as VaultError;
      }
      throw new Error(`${cmd} was not refused`);
    };
    const none = refused('pg_dump', { ...env, VAULT_TOOL_PG_BINDIR: join(dir, 'missing') });
    expect(none).toBeInstanceOf(VaultError);
    expect([none.kind, none.code, none.message]).toEqual([
      'not-found',
      'pg-bindir',
      `VAULT_TOOL_PG_BINDIR names ${join(dir, 'missing')}, which is not a folder`,
    ]);
    const lacking = refused('psql', env);
    expect([lacking.code, lacking.message]).toEqual(['pg-bindir', `VAULT_TOOL_PG_BINDIR names ${bin}, which holds no psql`]);
  });
});
