import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { parseDotenv } from '../../vault/dotenv.js';
import { importEnv, parseEnvMappings, planEnvImport } from '../../vault/import-env.js';
import { table, type Context } from '../context.js';
import { collect } from '../options.js';

export default function importCommand(cmd: Command, ctx: Context): void {
  cmd
    .command('env <file>')
    .description('import a dotenv file (- for stdin): each KEY becomes an entry; unchanged values add no version')
    .option('-t, --type <type>', 'type of every entry not named by --map', 'generic')
    .option('--prefix <prefix>', 'entry name prefix, e.g. infisical/', '')
    .option('--map <KEY=name[:type]>', 'name (and type) of the entry for KEY (repeatable)', collect)
    .option('--only-mapped', 'import only the variables --map names (default: every other variable becomes an entry too)')
    .action(async (file: string, o: { type: string; prefix: string; map?: string[]; onlyMapped?: boolean }, sub: Command) => {
      const maps = parseEnvMappings(o.map ?? []);
      if (o.onlyMapped && !maps.size) throw new VaultError('usage', '--only-mapped imports only what --map names, and no --map is given');
      const text = (await ctx.readFile(file, 'the dotenv file')).toString('utf8');
      const items = planEnvImport(text, file, { type: o.type, prefix: o.prefix, maps, onlyMapped: Boolean(o.onlyMapped) });
      const skipped = o.onlyMapped
        ? parseDotenv(text)
            .filter((p) => !maps.has(p.key))
            .map((p) => p.key)
        : [];
      const results = await importEnv(ctx.paths(sub), ctx.storeOptions(sub), items, ctx.now());
      // Never the value, nor the part of it a shell would expand (a password may hold a $).
      const expanding = items.filter((i) => i.expands).map((i) => i.key);
      if (expanding.length) {
        ctx.warn(
          `${expanding.join(', ')}: ${expanding.length === 1 ? 'its value holds' : 'their values hold'} $NAME, \${…}, $(…) or \`…\`, which a shell or docker compose would expand: imported as written, not expanded`,
        );
        ctx.hint(
          `if the file meant the expanded value, import it from where it is resolved (vault-tool add NAME --from-env VAR); if it is the value, single-quote it in the file ('…') and this warning goes`,
        );
      }
      if (ctx.globals(sub).json) return ctx.json(results.map(({ name, status, version, fingerprint }) => ({ name, status, version, fingerprint })));
      ctx.out(table([['NAME', 'STATUS', 'VERSION'], ...results.map((r) => [r.name, r.status, String(r.version)])]));
      const count = (s: string) => results.filter((r) => r.status === s).length;
      ctx.info(
        `${count('added')} added, ${count('updated')} updated, ${count('unchanged')} unchanged${skipped.length ? `; not mapped, not imported: ${skipped.join(', ')}` : ''}`,
      );
    });
}
