import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { Context } from '../../src/cli/context.js';
import { buildProgram } from '../../src/cli/main.js';

/**
 * The default `--help` shows is in the unit the option is given in: an
 * option read in seconds and held in milliseconds showed "(default: 30000)"
 * for `--request-timeout <seconds>`, thirty thousand seconds to whoever read it.
 */
describe('defaults in --help', () => {
  it('an option given in seconds shows its default in seconds', async () => {
    const { COMMANDS } = await import('../../src/cli/commands/index.js');
    const { K8S_COMMANDS } = await import('../../src/cli/commands/k8s/index.js');
    const { BACKUP_COMMANDS } = await import('../../src/cli/commands/backup/index.js');
    const shown: string[] = [];
    const wrong: string[] = [];
    for (const [prefix, specs] of [
      [[], COMMANDS],
      [['k8s'], K8S_COMMANDS],
      [['backup'], BACKUP_COMMANDS],
    ] as const) {
      for (const spec of specs) {
        let c: Command = await buildProgram(new Context({ env: {} } as never), [...prefix, spec.name]);
        for (const a of [...prefix, spec.name]) c = c.commands.find((x) => x.name() === a)!;
        const walk = (x: Command, path: string): void => {
          for (const o of x.options) {
            if (!o.flags.includes('<seconds>') || o.defaultValue === undefined) continue;
            const help = x.createHelp().optionDescription(o);
            shown.push(`${path} ${o.long}`);
            if (!help.includes(`(default: ${Number(o.defaultValue) / 1000})`)) wrong.push(`${path} ${o.long}: ${help}`);
          }
          for (const sub of x.commands) walk(sub, `${path} ${sub.name()}`);
        };
        walk(c, [...prefix, spec.name].join(' '));
      }
    }
    expect(shown.length).toBeGreaterThan(4);
    expect(wrong).toEqual([]);
  });
});
