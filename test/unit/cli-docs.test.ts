import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../src/cli/exit-codes.js';
import { buildProgram } from '../../src/cli/main.js';
import { Context } from '../../src/cli/context.js';
import { ROOT } from '../helpers/cli.js';

const doc = readFileSync(join(ROOT, 'docs/CLI.md'), 'utf8');

describe('docs/CLI.md agrees with the code', () => {
  it('has the same exit code table', () => {
    const rows = [...doc.matchAll(/^\| (\d+) \| ([a-z, -]+) \| .+ \|$/gm)].map((m) => [Number(m[1]), m[2]!.split(', ')] as const);
    const documented = new Map<string, number>();
    for (const [code, kinds] of rows) for (const k of kinds) documented.set(k, code);
    const coded = new Map(Object.entries(EXIT_CODES).map(([k, v]) => [k, v.code]));
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(coded));
  });

  it('lists every command and subcommand, each loaded through the command tables', async () => {
    const { COMMANDS } = await import('../../src/cli/commands/index.js');
    const { K8S_COMMANDS } = await import('../../src/cli/commands/k8s/index.js');
    const { BACKUP_COMMANDS } = await import('../../src/cli/commands/backup/index.js');
    const tables: Record<string, { name: string }[]> = { k8s: K8S_COMMANDS, backup: BACKUP_COMMANDS };
    const loaded = async (args: string[]) => {
      let c = await buildProgram(new Context({ env: {} } as never), args);
      for (const a of args) c = c.commands.find((x) => x.name() === a)!;
      return c;
    };
    for (const spec of COMMANDS) {
      const c = await loaded([spec.name]);
      expect(doc, c.name()).toContain(`\`${c.name()}`);
      const subs = tables[spec.name] ? tables[spec.name]!.map((k) => k.name) : c.commands.map((s) => s.name());
      for (const sub of subs)
        expect(
          [`\`${c.name()} ${sub}`, `\`${c.name()} [${sub}]`].some((form) => doc.includes(form)),
          `${c.name()} ${sub} in docs/CLI.md`,
        ).toBe(true);
    }
  });

  it('the tables give each command the arguments its file declares (the help listing shows them unloaded)', async () => {
    const { COMMANDS } = await import('../../src/cli/commands/index.js');
    const { K8S_COMMANDS } = await import('../../src/cli/commands/k8s/index.js');
    const { BACKUP_COMMANDS } = await import('../../src/cli/commands/backup/index.js');
    const argsOf = (c: Command) =>
      c.registeredArguments.map((a) => (a.required ? `<${a.name()}${a.variadic ? '...' : ''}>` : `[${a.name()}${a.variadic ? '...' : ''}]`)).join(' ');
    for (const [prefix, specs] of [
      [[], COMMANDS],
      [['k8s'], K8S_COMMANDS],
      [['backup'], BACKUP_COMMANDS],
    ] as const) {
      for (const spec of specs) {
        let c = await buildProgram(new Context({ env: {} } as never), [...prefix, spec.name]);
        for (const a of [...prefix, spec.name]) c = c.commands.find((x) => x.name() === a)!;
        expect(argsOf(c), `${[...prefix, spec.name].join(' ')}`).toBe(spec.args ?? '');
      }
    }
  });

  it('names every option of every command (its long or short form; `--keep-daily/weekly` lists several)', async () => {
    const { completionTree } = await import('../../src/cli/completion/tree.js');
    const nodes = await completionTree((names) => buildProgram(new Context({ env: {} } as never), names));
    // `--keep-hourly/daily/weekly N` names --keep-hourly, --keep-daily and --keep-weekly.
    const text = doc.replace(/`?(--[a-z]+-)([a-z]+(?:\/[a-z]+)+)/g, (_, stem: string, list: string) =>
      list
        .split('/')
        .map((x) => `${stem}${x}`)
        .join(' '),
    );
    const named = (f: string) => new RegExp(f.startsWith('--') ? `${f}(?![a-z-])` : `(?<![A-Za-z0-9-])${f}(?![A-Za-z0-9])`).test(text);
    const missing = nodes.flatMap((n) => n.options.filter((o) => !o.flags.some(named)).map((o) => `${n.path || 'vault-tool'} ${o.flags.join(', ')}`));
    expect(missing).toEqual([]);
  });
});
