import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
// The one implementation of the throwaway servers is the demo's (src/cli/servers.ts), as built: the tests and benchmarks run it from dist/.
import { asPostgres, freePort, postgresFolder, postgresOwner, startPostgres as start, startPostgresOn as startOn, startRedis } from '../../dist/servers.js';

export { asPostgres, freePort, postgresFolder, postgresOwner, startRedis };

/** Whether `name` runs; in CI a missing binary is a failure, not a skip. */
function haveBinary(name, versionArgs = ['--version']) {
  const ok = !spawnSync(name, versionArgs, { stdio: 'ignore' }).error;
  if (!ok && process.env.CI === 'true') throw new Error(`${name} is required in CI but is not installed (.ci/run installs it)`);
  return ok;
}

/** Whether a real PostgreSQL can run here (in CI a missing one is a failure, not a skip). */
export function havePostgres() {
  const r = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const ok = r.status === 0 && spawnSync(join(r.stdout.trim(), 'initdb'), ['--version']).status === 0;
  if (!ok && process.env.CI === 'true')
    throw new Error('PostgreSQL (initdb, pg_ctl from pg_config --bindir) is required in CI but is not installed (.ci/run installs it)');
  return ok;
}

export const haveRedis = () =>
  haveBinary('redis-server', ['--version']) && haveBinary('redis-cli', ['--version']) && haveBinary('redis-check-rdb', ['--version']);

/** A throwaway PostgreSQL cluster in a temp folder of its own (removed when it stops); its environment carries PATH. */
export async function startPostgres(opts = {}) {
  const pg = await start(opts);
  return { ...pg, env: { ...pg.env, PATH: process.env.PATH ?? '' } };
}

/** A server on an existing (restored) data folder; its environment carries PATH. */
export async function startPostgresOn(data, socketDir, opts = {}) {
  const pg = await startOn(data, socketDir, opts);
  return { ...pg, env: { ...pg.env, PATH: process.env.PATH ?? '' } };
}
