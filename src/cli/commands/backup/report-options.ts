import type { Command } from 'commander';
import { checkDbname } from '../../../backup/kinds/postgres.js';
import { mergeRpo, rpoForAll, rpoShape, type RpoTargets } from '../../../backup/rpo.js';
import { checkCluster } from '../../../backup/wal/store.js';
import { object, parseShape } from '../../../vault/shape.js';
import type { Context } from '../../context.js';
import { collect } from '../../options.js';

/*
 * The options of the commands that report on backups (status, verify):
 * the WAL archives' servers and the RPO targets. Apart from options.ts, so
 * that a backup loads neither the postgres kind nor the WAL archive's code
 * for them.
 */

/** --archiver CLUSTER[=CONNINFO] (repeatable): pg_stat_archiver of the cluster's server, read through CONNINFO (default: libpq's environment). */
export function archiverOption(c: Command): Command {
  return c.option(
    '--archiver <cluster[=conninfo]>',
    "WAL archives: also read pg_stat_archiver of CLUSTER's server, through a libpq connection string without a password (default: libpq's environment: PGHOST, PGPORT…) (repeatable)",
    collect,
  );
}

/** The connections --archiver gives, over those of a plan: cluster → libpq connection string ('' for libpq's environment). */
export function archiversOf(given: string[] | undefined, base?: Record<string, string>): Record<string, string> | undefined {
  if (!given?.length) return base;
  const out: Record<string, string> = { ...base };
  for (const g of given) {
    const eq = g.indexOf('=');
    const cluster = checkCluster(eq < 0 ? g : g.slice(0, eq));
    const conn = eq < 0 ? '' : g.slice(eq + 1);
    if (conn) checkDbname(conn);
    out[cluster] = conn;
  }
  return out;
}

/**
 * RPO targets: a file `rpo: { default: 24h, postgres: 6h, postgres/app: 15m }` (strict: any other field
 * is an error naming its path), then --rpo over its default.
 */
export async function rpoOf(ctx: Context, o: { rpo?: string; rpoFile?: string }, base?: RpoTargets): Promise<RpoTargets | undefined> {
  let t = base;
  if (o.rpoFile) {
    // Only for an RPO file: a backup run never loads the YAML parser.
    const { parseYaml } = await import('../../../vault/yaml.js');
    const raw = parseYaml((await ctx.readFile(o.rpoFile, 'the RPO file')).toString('utf8'), o.rpoFile);
    t = mergeRpo(t, parseShape(raw, object({ rpo: rpoShape }), o.rpoFile).rpo);
  }
  return o.rpo ? mergeRpo(t, rpoForAll(o.rpo, '--rpo')) : t;
}
