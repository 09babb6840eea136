import type { CompletionNode } from './tree.js';

/**
 * The completion tree as lookup tables the shell scripts share: each a
 * shell function from a key (a command path, `PATH|FLAG`, `PATH|ALIAS`) to
 * words or lines, written as `case` (bash, zsh) or `switch` (fish).
 */
export interface Tables {
  /** Subcommand names and aliases of a path. */
  subs: Map<string, string[]>;
  /** `PATH|ALIAS` → the subcommand's name. */
  alias: Map<string, string[]>;
  /** The flags of a path (its own: parents' and the root's apply below them too). */
  opts: Map<string, string[]>;
  /** `PATH|FLAG` → what its value is (`file`, `choice`…; `optional` after it when it may be left out); absent for a flag without a value. */
  optkind: Map<string, string[]>;
  /** `PATH|FLAG` or `PATH|#N` (the Nth argument) → its choices. */
  choices: Map<string, string[]>;
  /** A path's arguments' kinds in order, the last with `+` when it repeats. */
  args: Map<string, string[]>;
  /** A path's subcommands with their summaries, `name:summary` (zsh, fish). */
  subdesc: Map<string, string[]>;
  /** A path's flags with their summaries, `flag:summary`. */
  optdesc: Map<string, string[]>;
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

export function tablesOf(nodes: CompletionNode[]): Tables {
  const t: Tables = {
    subs: new Map(),
    alias: new Map(),
    opts: new Map(),
    optkind: new Map(),
    choices: new Map(),
    args: new Map(),
    subdesc: new Map(),
    optdesc: new Map(),
  };
  for (const n of nodes) {
    if (n.subs.length) {
      t.subs.set(
        n.path,
        n.subs.flatMap((s) => [s.name, ...s.aliases]),
      );
      t.subdesc.set(
        n.path,
        n.subs.flatMap((s) => [s.name, ...s.aliases].map((x) => `${x}:${oneLine(s.summary)}`)),
      );
      for (const s of n.subs) for (const a of s.aliases) t.alias.set(`${n.path}|${a}`, [s.name]);
    }
    const flags = n.options.flatMap((o) => o.flags);
    if (flags.length) {
      t.opts.set(n.path, flags);
      t.optdesc.set(
        n.path,
        n.options.flatMap((o) => o.flags.map((f) => `${f}:${oneLine(o.summary)}`)),
      );
    }
    for (const o of n.options) {
      if (!o.value) continue;
      for (const f of o.flags) {
        t.optkind.set(`${n.path}|${f}`, [o.value.kind, ...(o.optional ? ['optional'] : [])]);
        if (o.value.choices) t.choices.set(`${n.path}|${f}`, o.value.choices);
      }
    }
    if (n.args.length) {
      t.args.set(
        n.path,
        n.args.map((a, i) => a.kind + (n.variadic && i === n.args.length - 1 ? '+' : '')),
      );
      n.args.forEach((a, i) => a.choices && t.choices.set(`${n.path}|#${i}`, a.choices));
    }
  }
  return t;
}

/** A POSIX single-quoted word. */
export const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** A fish single-quoted word. */
export const fishQuote = (s: string) => `'${s.replace(/[\\']/g, '\\$&')}'`;

/** `name KEY`: prints the words (one line) or the lines the table holds for KEY; nothing for another key. */
export function shFunction(name: string, table: Map<string, string[]>, lines = false): string {
  const cases = [...table].map(([k, v]) => `    ${shQuote(k)}) printf '%s\\n' ${lines ? v.map(shQuote).join(' ') : shQuote(v.join(' '))} ;;`);
  return `${name}() {\n  case "$1" in\n${cases.join('\n')}\n  esac\n}\n`;
}

export function fishFunction(name: string, table: Map<string, string[]>, lines = false): string {
  const cases = [...table].map(
    ([k, v]) => `        case ${fishQuote(k)}\n            printf '%s\\n' ${lines ? v.map(fishQuote).join(' ') : fishQuote(v.join(' '))}`,
  );
  return `function ${name}\n    switch "$argv[1]"\n${cases.join('\n')}\n    end\nend\n`;
}

/** The tables as the functions every script starts with. */
export function tableFunctions(t: Tables, syntax: 'sh' | 'fish'): string {
  const f = syntax === 'sh' ? shFunction : fishFunction;
  return [
    f('__vault_tool_subs', t.subs),
    f('__vault_tool_alias', t.alias),
    f('__vault_tool_opts', t.opts),
    f('__vault_tool_optkind', t.optkind),
    f('__vault_tool_choices', t.choices),
    f('__vault_tool_args', t.args),
    f('__vault_tool_subdesc', t.subdesc, true),
    f('__vault_tool_optdesc', t.optdesc, true),
  ].join('\n');
}
