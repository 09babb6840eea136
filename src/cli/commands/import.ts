import type { Command } from 'commander';
import { VaultError } from '../../vault/errors.js';
import type { PutResult } from '../../vault/entries.js';
import { collect, table, type Context } from '../context.js';

/** --map KEY=name[:type] */
function parseMaps(list: string[] | undefined, { entryType, checkEntryName }: typeof import('../../vault/types.js')): Map<string, { name: string; type?: string }> {
  const m = new Map<string, { name: string; type?: string }>();
  for (const item of list ?? []) {
    const r = /^([^=]+)=([^:]+)(?::(.+))?$/.exec(item);
    if (!r) throw new VaultError('usage', `--map must be KEY=name[:type], got ${JSON.stringify(item)}`);
    if (r[3]) entryType(r[3]);
    if (m.has(r[1]!)) throw new VaultError('usage', `--map names ${r[1]} twice`);
    m.set(r[1]!, { name: checkEntryName(r[2]!), ...(r[3] ? { type: r[3] } : {}) });
  }
  return m;
}

export function registerImport(program: Command, ctx: Context): void {
  const imp = program.command('import').description('import secrets from other formats');
  imp
    .command('env <file>')
    .description('import a dotenv file (- for stdin): each KEY becomes an entry; unchanged values add no version')
    .option('-t, --type <type>', 'type of every entry not named by --map', 'generic')
    .option('--prefix <prefix>', 'entry name prefix, e.g. infisical/', '')
    .option('--map <KEY=name[:type]>', 'name (and type) of the entry for KEY (repeatable)', collect)
    .action(async (file: string, opts: { type: string; prefix: string; map?: string[] }, cmd: Command) => {
      const { parseDotenv } = await import('../../vault/dotenv.js');
      const { prepareValue, putEntry } = await import('../../vault/entries.js');
      const types = await import('../../vault/types.js');
      const { checkEntryName, entryType } = types;
      const { updateVault } = await import('../../vault/store.js');
      entryType(opts.type);
      const maps = parseMaps(opts.map, types);
      const pairs = parseDotenv((await ctx.readFile(file, 'the dotenv file')).toString('utf8'));
      if (!pairs.length) throw new VaultError('invalid', `no KEY=value lines in ${file}`);
      const seen = new Set<string>();
      const entries = new Map<string, string>();
      const items = pairs.map((p) => {
        if (seen.has(p.key)) throw new VaultError('invalid', `dotenv line ${p.line}: ${p.key} is set twice`);
        seen.add(p.key);
        const m = maps.get(p.key);
        const name = checkEntryName(m?.name ?? opts.prefix + p.key);
        // Two variables into one entry would silently become two versions of it.
        if (entries.has(name)) throw new VaultError('usage', `${entries.get(name)} and ${p.key} both map to entry ${name}`, 'give each variable its own entry with --map KEY=name');
        entries.set(name, p.key);
        const type = m?.type ?? opts.type;
        try {
          prepareValue(type, Buffer.from(p.value), false);
        } catch (e) {
          // Name the variable, never the value.
          throw new VaultError('invalid', `dotenv line ${p.line} (${p.key}): ${(e as Error).message}`);
        }
        return { name, type, key: p.key, value: Buffer.from(p.value) };
      });
      const unmatched = [...maps.keys()].filter((k) => !seen.has(k));
      if (unmatched.length) throw new VaultError('usage', `--map ${unmatched.join(', ')}: no such variable in ${file}`, 'a mapping that matches nothing is refused (a typo would import the variable under its default name)');
      const now = ctx.now();
      const results = await updateVault(ctx.paths(cmd), ctx.storeOptions(cmd), (doc) => {
        const rs: PutResult[] = items.map((it) => putEntry(doc, { name: it.name, type: it.type, value: it.value, update: true, meta: { envName: it.key }, now }));
        return rs.every((r) => r.status === 'unchanged') ? Object.assign(rs, { unchanged: true }) : rs;
      });
      if (ctx.globals(cmd).json) return ctx.json(results.map(({ name, status, version, fingerprint }) => ({ name, status, version, fingerprint })));
      ctx.out(table([['NAME', 'STATUS', 'VERSION'], ...results.map((r) => [r.name, r.status, String(r.version)])]));
      const count = (s: string) => results.filter((r) => r.status === s).length;
      ctx.info(`${count('added')} added, ${count('updated')} updated, ${count('unchanged')} unchanged`);
    });
}
