import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

  it('lists every command', async () => {
    const { registerK8s } = await import('../../src/cli/commands/k8s.js');
    const program = buildProgram(new Context({} as never), registerK8s);
    for (const c of program.commands) {
      expect(doc, c.name()).toContain(`\`${c.name()}`);
      for (const sub of c.commands) expect([`\`${c.name()} ${sub.name()}`, `\`${c.name()} [${sub.name()}]`].some((form) => doc.includes(form)), `${c.name()} ${sub.name()} in docs/CLI.md`).toBe(true);
    }
  });
});
