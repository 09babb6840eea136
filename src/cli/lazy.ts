import type { Command } from 'commander';
import type { Context } from './context.js';

/**
 * A command in a table: its name, summary and arguments (what `--help`
 * lists) and how to load it. The module is loaded only when its command is
 * on the command line, so `vault-tool --help` and `vault-tool list` load no
 * other command's code.
 */
export interface CommandSpec {
  name: string;
  aliases?: string[];
  /** As in the help listing, e.g. `<name>`; the loaded command declares the same. */
  args?: string;
  summary: string;
  load: () => Promise<{ default: Register }>;
}

/** Fills in a command created from its spec: options, arguments, action, or a table of subcommands. */
export type Register = (cmd: Command, ctx: Context, rest: string[]) => void | Promise<void>;

/** The first argument that names a subcommand of `cmd`, skipping its options (and their values). */
export function commandToken(cmd: Command, args: string[]): { name?: string; rest: string[] } {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return { rest: [] };
    if (!a.startsWith('-') || a === '-') return { name: a, rest: args.slice(i + 1) };
    if (a.startsWith('--') && a.includes('=')) continue;
    const opt = cmd.options.find((o) => o.long === a || o.short === a);
    if (opt?.required) i++;
  }
  return { rest: [] };
}

/**
 * Adds the commands of a table to `parent`: each as a stub for the help
 * listing, and the one named in `args` (or after `help`) loaded in full.
 */
export async function attachLazy(parent: Command, ctx: Context, specs: CommandSpec[], args: string[]): Promise<void> {
  let { name, rest } = commandToken(parent, args);
  if (name === 'help' && rest.length) ({ name, rest } = { name: rest[0], rest: rest.slice(1) });
  for (const spec of specs) {
    const c = parent.command(spec.name).description(spec.summary);
    for (const a of spec.aliases ?? []) c.alias(a);
    if (name === spec.name || spec.aliases?.includes(name ?? '')) {
      const { default: register } = await spec.load();
      await register(c, ctx, rest);
    } else if (spec.args) {
      c.arguments(spec.args);
    }
  }
}
