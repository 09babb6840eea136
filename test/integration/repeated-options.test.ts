import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { Context } from '../../src/cli/context.js';
import { collect } from '../../src/cli/options.js';
import { cli, tempDir } from '../helpers/cli.js';
import type { Command } from 'commander';

/**
 * An option that takes one value, given twice, is refused before anything
 * runs: commander keeps the last, so `backup exec --name a --name b` or
 * `backup postgres -d app -d billing` made one backup of the last and said
 * nothing of the first. Options that collect their values still do.
 */
let dir: string;
let cleanup: () => void;
beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-repeated-'));
  expect((await cli(dir, ['init'])).code).toBe(0);
});
afterAll(() => cleanup());

describe('an option that takes one value, given twice', () => {
  it('is refused with exit 2 and nothing is written', async () => {
    const r = await cli(dir, ['backup', 'exec', '--name', 'a', '--name', 'b', '-r', 'repo', '--', 'echo', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'vault-tool: error: --name was given twice: it takes one value, and only the last would count\n' +
        'vault-tool: hint: give --name once; for several, run the command once for each\n',
    );
    expect(readdirSync(dir)).not.toContain('repo');
    const pg = await cli(dir, ['backup', 'postgres', '-d', 'app', '--dbname', 'billing', '-r', 'repo', '--json']);
    expect(pg.code).toBe(2);
    expect(JSON.parse(pg.stderr.trim().split('\n').at(-1)!)).toMatchObject({
      code: 'option-repeated',
      message: '--dbname (-d) was given twice: it takes one value, and only the last would count',
      hint: 'give --dbname once; for several, run the command once for each (or --all for every database of the cluster)',
    });
    const root = await cli(dir, ['list', '--vault-file', 'secrets.vault', '--vault-file', 'other.vault']);
    expect(root.code).toBe(2);
    expect(root.stderr).toMatch(/^vault-tool: error: --vault-file was given twice/);
  });

  it('options that collect their values still take several', async () => {
    const r = await cli(dir, ['add', 'x/y', '-t', 'kek', '--generate', '-l', 'a=1', '-l', 'b=2']);
    expect(r.code, r.stderr).toBe(0);
    const l = await cli(dir, ['list', '-l', 'a=1', '-l', 'b=2', '--json']);
    expect(JSON.parse(l.stdout).entries.map((e: { name: string }) => e.name)).toEqual(['x/y']);
  });

  it('every option of every command that may be given several times collects its values', async () => {
    // The only kinds of option that take several values: collect, or variadic; any other parser keeps one.
    const { COMMANDS } = await import('../../src/cli/commands/index.js');
    const { K8S_COMMANDS } = await import('../../src/cli/commands/k8s/index.js');
    const { BACKUP_COMMANDS } = await import('../../src/cli/commands/backup/index.js');
    const several: string[] = [];
    for (const [prefix, specs] of [
      [[], COMMANDS],
      [['k8s'], K8S_COMMANDS],
      [['backup'], BACKUP_COMMANDS],
    ] as const) {
      for (const spec of specs) {
        let c: Command = await buildProgram(new Context({ env: {} } as never), [...prefix, spec.name]);
        for (const a of [...prefix, spec.name]) c = c.commands.find((x) => x.name() === a)!;
        const walk = (x: Command, path: string): void => {
          for (const o of x.options) if (/repeatable/.test(o.description) && !(o.variadic || o.parseArg === collect)) several.push(`${path} ${o.long}`);
          for (const sub of x.commands) walk(sub, `${path} ${sub.name()}`);
        };
        walk(c, [...prefix, spec.name].join(' '));
      }
    }
    expect(several).toEqual([]);
  });
});
