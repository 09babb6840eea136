import { Option, type Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import { putEntry } from '../../vault/entries.js';
import { LIMITS } from '../../fs/read.js';
import { changed, unchanged, updateVault } from '../../vault/store.js';
import { entryType } from '../../vault/types.js';
import { parseKeyValues, type Context } from '../context.js';
import { collect } from '../options.js';

interface AddOptions {
  type: string;
  generate?: boolean;
  fromFile?: string;
  fromStdin?: boolean;
  fromEnv?: string;
  description?: string;
  label?: string[];
  update?: boolean;
}

/** Reads the value from the one source given (commander refuses two); secrets never come from argv. Every source gets the same rule (valueFromSource). */
async function readValue(ctx: Context, o: AddOptions): Promise<{ value?: Buffer }> {
  if (o.generate) return {};
  if (o.fromFile) return { value: Buffer.from(await ctx.readFile(o.fromFile, 'the value', LIMITS.value)) };
  if (o.fromStdin) return { value: await ctx.stdin('the value', LIMITS.value) };
  if (o.fromEnv) return { value: ctx.envValue(o.fromEnv, 'the value') };
  if (!ctx.io.stdinIsTTY) throw new VaultError('usage', 'no value source given', 'use --generate, --from-file FILE, --from-stdin or --from-env VAR');
  const { password } = await import('@inquirer/prompts');
  const a = await password({ message: `Value for ${o.type}:` }, ctx.promptContext());
  const b = await password({ message: 'Same value again:' }, ctx.promptContext());
  if (a !== b) throw new VaultError('usage', 'the two values differ');
  return { value: Buffer.from(a) };
}

export default function add(cmd: Command, ctx: Context): void {
  const sources = ['generate', 'fromFile', 'fromStdin', 'fromEnv'];
  const source = (flags: string, help: string, self: string) => new Option(flags, help).conflicts(sources.filter((s) => s !== self));
  cmd
    .argument('<name>')
    .requiredOption('-t, --type <type>', 'entry type (see `vault-tool types`)')
    .addOption(source('--generate', 'generate a fresh value of the type', 'generate'))
    .addOption(source('--from-file <file>', 'read the value from a file (- for stdin)', 'fromFile'))
    .addOption(source('--from-stdin', 'read the value from standard input', 'fromStdin'))
    .addOption(source('--from-env <VAR>', 'read the value from an environment variable', 'fromEnv'))
    .option('-d, --description <text>', 'what the entry is for')
    .option('-l, --label <key=value>', 'label (repeatable)', collect)
    .option('--update', 'the entry may exist: store the value as its next version (unchanged values add nothing)')
    .action(async (name: string, o: AddOptions) => {
      entryType(o.type);
      const { value } = await readValue(ctx, o);
      const labels = parseKeyValues(o.label, '--label');
      const now = ctx.now();
      const r = await updateVault(ctx.paths(cmd), ctx.storeOptions(cmd), (doc) => {
        const res = putEntry(doc, {
          name,
          type: o.type,
          ...(value ? { value } : {}),
          ...(o.description !== undefined ? { description: o.description } : {}),
          ...(o.label ? { labels } : {}),
          update: Boolean(o.update),
          now,
        });
        return res.status === 'unchanged' ? unchanged(res) : changed(res);
      });
      if (ctx.globals(cmd).json) return ctx.json({ name: r.name, status: r.status, version: r.version, fingerprint: r.fingerprint });
      ctx.out(`${r.status} ${r.name}@${r.version} (${o.type}, ${r.fingerprint})`);
    });
}
