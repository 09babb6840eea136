import type { Readable } from 'node:stream';
import { VaultError } from '../../errors/errors.js';
import type { BackupKind, Component, Env, Restorer, RestoreRequest } from '../kind.js';
import { defineKind } from './loaded.js';
import { pgClient } from '../../tool/pg-client.js';
import { versionBeside } from '../tool.js';
import { checkDbname, databaseTarget, pgSource } from './postgres.js';

/**
 * `postgres-globals`: a cluster's roles and tablespaces (`pg_dumpall
 * --globals-only`), which a restore into a new cluster needs first; always
 * the component `postgres/globals`. Checked by its closing line (a script
 * cut short lacks it), restored by psql into a database of the target
 * cluster (`postgres` unless named), drilled into a file in a folder.
 */
async function dump(_o: Record<string, never>, env: Env): Promise<Component> {
  // Found before anything is written (a VAULT_TOOL_PG_BINDIR without it is said now).
  pgClient('pg_dumpall', env);
  return {
    component: 'postgres/globals',
    kind: 'postgres-globals',
    producer: { kind: 'process', command: 'pg_dumpall', args: ['--globals-only'], env },
    // Its version asked beside it (given by `beside`).
    tool: { name: 'pg_dumpall', version: '', args: ['--globals-only'] },
    beside: () => versionBeside('pg_dumpall', env),
    source: pgSource(env, '(cluster globals)'),
  };
}

async function endsWith(r: Readable, marker: string): Promise<void> {
  let last = '';
  for await (const c of r) last = (last + (c as Buffer).toString('latin1')).slice(-4096);
  if (!last.includes(marker)) throw new VaultError('verify-failed', `the script does not end with "${marker}": it was cut short`);
}

/** psql runs the script in a database of the target cluster; a role that exists already is an error psql reports and goes past. */
function intoCluster(req: RestoreRequest): Restorer {
  const dbname = req.database ?? 'postgres';
  return {
    where: `database ${dbname}`,
    label: `psql (the globals) into ${dbname}`,
    record: {},
    guard: (env) => databaseTarget(dbname, env),
    precheck: async () => checkDbname(dbname),
    async land(env) {
      const label = `psql (the globals) into ${dbname}`;
      return {
        staged: false,
        consumer: { kind: 'process', command: 'psql', args: ['-X', '-q', '-v', 'ON_ERROR_STOP=0', '--dbname', dbname], env, label },
        commit: async () => undefined,
        abort: async () => undefined,
      };
    },
  };
}

export const postgresGlobals: BackupKind<Record<string, never>> = defineKind({
  name: 'postgres-globals',
  folder: 'postgres',
  only: 'postgres/globals',
  label: 'globals',
  ext: 'sql',
  dump,
  shape: (head, size) =>
    size === 0
      ? 'its output was empty'
      : !head.toString('latin1').includes('PostgreSQL database cluster dump')
        ? 'its output is not a pg_dumpall script'
        : null,
  verifier: () => ({ kind: 'inline', label: 'a complete pg_dumpall script', consume: (r) => endsWith(r, '-- PostgreSQL database cluster dump complete') }),
  restore: { target: intoCluster },
  drill: { scratch: 'folder', tools: [], checks: [] },
});
