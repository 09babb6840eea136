import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

/** `-o json|yaml` (kubectl's convention) beside `--json`: the same structure, in either format, on every command that prints one. */
let dir: string;
let cleanup: () => void;
const NOW = new Date('2026-03-01T10:00:00Z');
const at = { now: NOW };

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-output-'));
  expect((await cli(dir, ['init'], at)).code).toBe(0);
  expect((await cli(dir, ['add', 'platform/kek', '-t', 'kek', '--generate'], at)).code).toBe(0);
  expect((await cli(dir, ['rotate', 'platform/kek'], at)).code).toBe(0);
  expect((await cli(dir, ['backup', 'exec', '--name', 'x', '-r', 'repo', '--', 'echo', 'data'], at)).code).toBe(0);
});
afterAll(() => cleanup());

describe('-o json|yaml', () => {
  it.each([
    [['list']],
    [['list', '--versions']],
    [['history', 'platform/kek']],
    [['types']],
    [['recipients', 'list']],
    [['copy', 'list']],
    [['escrow', 'status']],
    [['backup', 'list', '-r', 'repo']],
    [['backup', 'status', '-r', 'repo']],
    [['backup', 'key', 'show']],
    [['status']],
  ])('%j: -o yaml and -o json print what --json prints', async (args) => {
    const json = await cli(dir, [...args, '--json'], at);
    const oJson = await cli(dir, [...args, '-o', 'json'], at);
    const oYaml = await cli(dir, [...args, '--output', 'yaml'], at);
    expect([oJson.code, oYaml.code]).toEqual([json.code, json.code]);
    expect(oJson.stdout).toBe(json.stdout);
    // YAML, not JSON again (an empty list or null reads the same in both).
    if (!['[]', 'null', '{}'].includes(json.stdout.trim())) expect(oYaml.stdout).not.toBe(json.stdout);
    expect(parse(oYaml.stdout)).toEqual(JSON.parse(json.stdout));
  });

  it('a stream of events (a backup) is one YAML document per JSON line', async () => {
    const json = await cli(dir, ['backup', 'exec', '--name', 'y', '-r', 'repo', '--json', '--', 'echo', 'data'], at);
    const yaml = await cli(dir, ['backup', 'exec', '--name', 'y', '-r', 'repo', '-o', 'yaml', '--', 'echo', 'data'], at);
    const fromJson = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const fromYaml = parseAllDocuments(yaml.stdout).map((d) => d.toJS());
    expect(fromYaml.map((e) => e.type)).toEqual(['start', 'backup', 'summary']);
    const strip = (e: Record<string, unknown>) => ({ ...e, file: undefined, id: undefined, seconds: undefined, verification: undefined });
    expect(fromYaml.map(strip)).toEqual(fromJson.map(strip));
    expect(yaml.stdout.startsWith('---\ntype: start\n')).toBe(true);
  });

  it('refuses an unknown format and two formats at once; commands whose -o is --out FILE keep it', async () => {
    const xml = await cli(dir, ['list', '-o', 'xml']);
    expect(xml.code).toBe(2);
    expect(xml.stderr).toContain("vault-tool: error: option '-o, --output <format>' argument 'xml' is invalid. Allowed choices are json, yaml.");
    const both = await cli(dir, ['list', '--json', '-o', 'yaml']);
    // Asked for structure either way: the error is a JSON event on stderr.
    expect([both.code, JSON.parse(both.stderr)]).toEqual([
      2,
      { type: 'error', code: null, kind: 'usage', exit: 2, message: '--json and -o yaml ask for two formats: give one', hint: null },
    ]);
    expect((await cli(dir, ['list', '--json', '-o', 'json'])).code).toBe(0);
    expect((await cli(dir, ['get', 'platform/kek', '-o', 'kek.b64'])).code).toBe(0);
    expect(readFileSync(join(dir, 'kek.b64'), 'utf8')).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    const help = await cli(dir, ['list', '--help']);
    expect(help.stdout).toContain('-o, --output <format>');
    expect((await cli(dir, ['get', '--help'])).stdout).not.toContain('--output');
    // A command that prints another program's output, or a script, takes no -o.
    expect((await cli(dir, ['run', '-o', 'yaml', '--env', 'X=platform/kek', '--', 'true'])).stderr).toContain("unknown option '-o'");
  });
});

describe('help', () => {
  it('of a nested command, asked as `help backup restore`, is that command’s, as `backup restore --help` gives', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const asked = await cli(dir, ['help', 'backup', 'restore']);
      const flag = await cli(dir, ['backup', 'restore', '--help']);
      expect(asked.code).toBe(0);
      expect(asked.stdout).toContain('Usage: vault-tool backup restore');
      expect(asked.stdout).toBe(flag.stdout);
    } finally {
      cleanup();
    }
  });
});
