import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { Context } from '../../src/cli/context.js';
import { buildProgram } from '../../src/cli/main.js';
import { ROOT } from '../helpers/cli.js';

/**
 * docs/FORMAT.md, "Recorded events", the code that records each event, and
 * the commands that reveal or restore key material or data are one list.
 */

/**
 * Every command that reveals or restores key material or data (a value
 * written out, an export, a key copied, split or rebuilt, a restore).
 */
const REVEALS_OR_RESTORES = [
  'get',
  'export env',
  'k8s export',
  'copy',
  'recipients add',
  'escrow split',
  'escrow reshare',
  'escrow combine',
  'backup restore',
  'k8s restore',
  'drill',
  'drill --keep',
];

const format = readFileSync(join(ROOT, 'docs/FORMAT.md'), 'utf8');
const section = format.slice(format.indexOf('### Recorded events'), format.indexOf('\n## ', format.indexOf('### Recorded events')));
const rows = [...section.matchAll(/^\| `([a-z][a-z0-9.-]*)` \| (.+?) \| .+ \|$/gm)].map((m) => ({
  event: m[1]!,
  by: [...m[2]!.matchAll(/`([^`]+)`/g)].map((x) => x[1]!),
}));

const sources: { file: string; text: string }[] = [];
const walk = (d: string) => {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    if (e.isDirectory()) walk(join(d, e.name));
    else if (e.name.endsWith('.ts')) sources.push({ file: relative(ROOT, join(d, e.name)), text: readFileSync(join(d, e.name), 'utf8') });
  }
};
walk(join(ROOT, 'src'));
const all = sources.map((s) => s.text).join('\n');

describe('the recorded events: docs/FORMAT.md, the code and the commands hold together', () => {
  it('the table lists each event once', () => {
    expect(rows.length).toBeGreaterThan(20);
    expect(new Set(rows.map((r) => r.event)).size).toBe(rows.length);
  });

  it('every event the code records is in the table', () => {
    const recorded = new Set<string>();
    for (const m of all.matchAll(/recordEvidence\(\s*[\w.]+,\s*'([^']+)'/g)) recorded.add(m[1]!);
    for (const m of all.matchAll(/recordAccess\(\s*[^,]+,\s*'([^']+)'/g)) recorded.add(m[1]!);
    for (const m of all.matchAll(/recordAccess\([^,]+,[^,]+,\s*'([^']+)'/g)) recorded.add(m[1]!);
    expect(recorded.size).toBeGreaterThan(15);
    expect([...recorded].filter((e) => !rows.some((r) => r.event === e))).toEqual([]);
  });

  it('every event in the table is recorded by the code', () => {
    const inCode = (e: string) => all.includes(`'${e}'`);
    expect(rows.filter((r) => !inCode(r.event)).map((r) => r.event)).toEqual([]);
  });

  it('every command that reveals or restores key material or data records an event', () => {
    const recorders = new Set(rows.flatMap((r) => r.by));
    expect(REVEALS_OR_RESTORES.filter((c) => !recorders.has(c))).toEqual([]);
  });

  it('every command the table names exists, with the options it names', async () => {
    const find = async (words: string[]): Promise<Command | undefined> => {
      let c: Command | undefined = await buildProgram(new Context({ env: {} } as never), words);
      for (const w of words) c = c?.commands.find((x) => x.name() === w);
      return c;
    };
    for (const by of new Set(rows.flatMap((r) => r.by).filter((b) => !/^any |^the |^a /.test(b)))) {
      const words = by.split(' ');
      const flags = words.filter((w) => w.startsWith('--'));
      const c = await find(words.filter((w) => !w.startsWith('--')));
      expect(c, by).toBeDefined();
      for (const f of flags)
        expect(
          c!.options.some((o) => o.long === f),
          `${by}: ${f}`,
        ).toBe(true);
    }
  });
});
