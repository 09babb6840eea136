import type { Argument, Command, Option } from 'commander';
import { commandPath } from '../options.js';

/**
 * What a shell completes, read from the command tree itself (every command
 * loaded, through the same tables `--help` lists), so that the completion
 * scripts cannot drift from the commands: subcommands, options, what each
 * option's value and each argument is.
 */
export type ValueKind =
  | 'file'
  | 'dir'
  /** An environment variable's name (--passphrase-env VAR). */
  | 'var'
  /** A command on PATH, then its arguments (run, backup exec). */
  | 'command'
  /** A vault entry's name (NAME, NAME@V). */
  | 'entry'
  /** `NAME=ENTRY`: an entry after the `=`. */
  | 'entry='
  | 'choice'
  | 'none';

export interface Completer {
  kind: ValueKind;
  choices?: string[];
}

export interface CompletionOption {
  flags: string[];
  summary: string;
  /** Absent for a flag that takes no value. */
  value?: Completer;
  /** The value may be left out (`--dry-run [mode]`): only a choice that follows is its value. */
  optional?: boolean;
}

export interface CompletionNode {
  /** Below the root, by names: '' for vault-tool itself, 'backup exec'. */
  path: string;
  subs: { name: string; aliases: string[]; summary: string }[];
  options: CompletionOption[];
  /** The positional arguments, in order; the last one repeats when `variadic`. */
  args: Completer[];
  variadic: boolean;
}

/** Arguments that name something in the backup repository (COMPONENT/FILE), not a local file. */
const REPOSITORY_ARGS = new Set(['backup verify', 'backup restore', 'backup key trust', 'backup key untrust']);

/** What a placeholder (`<file>`, `<NAME=ENTRY[@N]>`) or an argument's name says its value is. */
function kindOf(placeholder: string, path: string): ValueKind {
  const p = placeholder.replace(/^[<[]|[\]>]$/g, '').replace(/\.\.\.$/, '');
  if (/=ENTRY/.test(p)) return 'entry=';
  if (/^(name|names|ref|entry)$/.test(p)) return REPOSITORY_ARGS.has(path) ? 'none' : 'entry';
  if (/^VAR$/.test(p)) return 'var';
  if (/^command$/.test(p)) return 'command';
  if (REPOSITORY_ARGS.has(path)) return 'none';
  if (/^(dir|dest)$/.test(p)) return 'dir';
  if (/^(file|files|path|paths|share|shares)$/.test(p) || (/FILE/.test(p) && !p.includes('/'))) return 'file';
  return 'none';
}

function optionOf(o: Option, path: string): CompletionOption {
  const flags = [o.short, o.long].filter((f): f is string => Boolean(f));
  const placeholder = /[<[][^>\]]*[>\]]/.exec(o.flags)?.[0];
  if (!placeholder) return { flags, summary: o.description };
  const value: Completer = o.argChoices ? { kind: 'choice', choices: [...o.argChoices] } : { kind: kindOf(placeholder, path) };
  return { flags, summary: o.description, value, ...(o.optional ? { optional: true } : {}) };
}

function argOf(a: Argument, path: string): Completer {
  return a.argChoices ? { kind: 'choice', choices: [...a.argChoices] } : { kind: kindOf(a.name(), path) };
}

function nodeOf(c: Command): CompletionNode {
  const path = commandPath(c);
  const args = c.registeredArguments;
  return {
    path,
    subs: c.commands.map((s) => ({ name: s.name(), aliases: s.aliases(), summary: s.summary() || s.description().split('\n')[0]! })),
    options: c.options.filter((o) => !o.hidden).map((o) => optionOf(o, path)),
    args: args.map((a) => argOf(a, path)),
    variadic: Boolean(args.at(-1)?.variadic),
  };
}

/**
 * Every command of the tree, each loaded in full: `build(names)` returns the
 * root with the command at `names` loaded (as running it would), so lazily
 * loaded tables (backup, k8s) give their commands' real options.
 */
export async function completionTree(build: (names: string[]) => Promise<Command>): Promise<CompletionNode[]> {
  const out: CompletionNode[] = [];
  const visit = async (names: string[]) => {
    let c: Command | undefined = await build(names);
    for (const n of names) c = c?.commands.find((x) => x.name() === n);
    if (!c) throw new Error(`completion: no command ${names.join(' ')}`);
    out.push(nodeOf(c));
    for (const s of c.commands) await visit([...names, s.name()]);
  };
  await visit([]);
  return out;
}
