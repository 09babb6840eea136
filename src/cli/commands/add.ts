import type { Command } from 'commander';
import { VaultError } from '../../vault/errors.js';
import { collect, parseKeyValues, type Context } from '../context.js';

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

/** Reads the value from exactly one source; secrets never come from argv. */
async function readValue(ctx: Context, opts: AddOptions): Promise<{ value?: Buffer; fromFile: boolean }> {
  const sources = [opts.generate && '--generate', opts.fromFile && '--from-file', opts.fromStdin && '--from-stdin', opts.fromEnv && '--from-env'].filter(Boolean);
  if (sources.length > 1) throw new VaultError('usage', `choose one value source, not ${sources.join(' and ')}`);
  if (opts.generate) return { fromFile: false };
  const { LIMITS } = await import('../../vault/fsutil.js');
  if (opts.fromFile) return { value: Buffer.from(await ctx.readFile(opts.fromFile, 'the value', LIMITS.value)), fromFile: true };
  if (opts.fromStdin) return { value: await ctx.stdin('the value', LIMITS.value), fromFile: true };
  if (opts.fromEnv) return { value: ctx.envValue(opts.fromEnv, 'the value'), fromFile: false };
  if (!ctx.io.stdinIsTTY) throw new VaultError('usage', 'no value source given', 'use --generate, --from-file FILE, --from-stdin or --from-env VAR');
  const { password } = await import('@inquirer/prompts');
  const a = await password({ message: `Value for ${opts.type}:` });
  const b = await password({ message: 'Same value again:' });
  if (a !== b) throw new VaultError('usage', 'the two values differ');
  return { value: Buffer.from(a), fromFile: false };
}

export function registerAdd(program: Command, ctx: Context): void {
  program
    .command('add <name>')
    .description('add an entry (or, with --update, a new version of one)')
    .requiredOption('-t, --type <type>', 'entry type (see `vault-tool types`)')
    .option('--generate', 'generate a fresh value of the type')
    .option('--from-file <file>', 'read the value from a file (- for stdin)')
    .option('--from-stdin', 'read the value from standard input')
    .option('--from-env <VAR>', 'read the value from an environment variable')
    .option('-d, --description <text>', 'what the entry is for')
    .option('-l, --label <key=value>', 'label (repeatable)', collect)
    .option('--update', 'the entry may exist: store the value as its next version (unchanged values add nothing)')
    .action(async (name: string, opts: AddOptions, cmd: Command) => {
      const { putEntry } = await import('../../vault/entries.js');
      const { entryType } = await import('../../vault/types.js');
      const { updateVault } = await import('../../vault/store.js');
      entryType(opts.type);
      const { value, fromFile } = await readValue(ctx, opts);
      const labels = parseKeyValues(opts.label, '--label');
      const now = ctx.now();
      const r = await updateVault(ctx.paths(cmd), ctx.storeOptions(cmd), (doc) => {
        const res = putEntry(doc, {
          name,
          type: opts.type,
          ...(value ? { value } : {}),
          fromFile,
          ...(opts.description !== undefined ? { description: opts.description } : {}),
          ...(opts.label ? { labels } : {}),
          update: Boolean(opts.update),
          now,
        });
        return res.status === 'unchanged' ? { ...res, unchanged: true } : res;
      });
      if (ctx.globals(cmd).json) return ctx.json({ name: r.name, status: r.status, version: r.version, fingerprint: r.fingerprint });
      ctx.out(`${r.status} ${r.name}@${r.version} (${opts.type}, ${r.fingerprint})`);
    });
}
