import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Context } from '../../src/cli/context.js';
import { asksForJson, buildProgram, OUT_COMMANDS } from '../../src/cli/main.js';
import type { ErrorEvent, MessageEvent } from '../../src/cli/report.js';
import { cli, ROOT, spawnCli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';

/**
 * With --json (or -o json|yaml) a program reads stderr as JSON lines: every
 * line vault-tool writes there is one JSON object (progress, warnings,
 * notices, hints, help, the error), never human text, whatever the command.
 */
let dir: string;
let cleanup: () => void;
const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  cli(dir, args, { ...opts, env: { VAULT_TOOL_BACKUP_REPO: join(dir, 'repo'), ...opts.env } });

type Event = { type: string } & Record<string, unknown>;
/** Every line of stderr, each parsed as a JSON object (a line that is not one fails the test, naming it). */
function stderrEvents(r: CliResult, what = ''): Event[] {
  const lines = r.stderr.split('\n');
  expect(lines.pop(), `${what}: stderr ends with a newline`).toBe('');
  return lines.map((l) => {
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch {
      throw new Error(`${what}: a line of stderr is not JSON: ${l}`);
    }
    expect(v, `${what}: ${l}`).toBeTypeOf('object');
    expect(typeof (v as Event).type, `${what}: ${l}`).toBe('string');
    return v as Event;
  });
}
const of = <T>(ev: Event[], type: string) => ev.filter((e) => e.type === type) as unknown as T[];

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-json-stderr-'));
  expect((await vt(['init'])).code).toBe(0);
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', 'a.txt'), 'a\n');
  expect((await vt(['backup', 'files', 'data', '--name', 'data'])).code).toBe(0);
}, 60_000);
afterAll(() => cleanup());

describe('--json: stderr holds JSON events only', () => {
  it('a backup with a warning: the warning is an event of its own, beside the progress events', async () => {
    const r = await vt(['backup', 'exec', '--name', 'tok', '--json', '--', 'echo', '--password=not-a-real-one']);
    expect(r.code, r.stderr).toBe(0);
    const ev = stderrEvents(r, 'backup exec');
    const [w] = of<MessageEvent>(ev, 'warning');
    expect(w).toEqual({ type: 'warning', code: null, message: expect.stringMatching(/^the command line holds what looks like a password/) });
    expect(of(ev, 'progress').length).toBeGreaterThan(0);
    expect(ev.map((e) => e.type)).toEqual(expect.arrayContaining(['warning', 'progress']));
    // stdout is unchanged: the backup's own events.
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).type),
    ).toEqual(['start', 'backup', 'summary']);
    // Without --json the same warning is a line of text.
    const text = await vt(['backup', 'exec', '--name', 'tok', '--', 'echo', '--password=not-a-real-one']);
    expect(text.stderr).toMatch(/^vault-tool: warning: the command line holds what looks like a password/m);
  });

  it('a restore: its "using …" notice is an info event', async () => {
    const r = await vt(['backup', 'restore', 'files/data', '--to-dir', join(dir, 'out'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const ev = stderrEvents(r, 'backup restore');
    expect(of<MessageEvent>(ev, 'info')).toContainEqual({ type: 'info', code: null, message: expect.stringMatching(/^using files\/data\/\S+: /) });
    JSON.parse(r.stdout);
  });

  it('backup verify and -o yaml: JSON on stderr too', async () => {
    const r = await vt(['backup', 'verify', '--all', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(of(stderrEvents(r, 'backup verify'), 'progress').length).toBeGreaterThan(0);
    const y = await vt(['backup', 'verify', 'files/data', '-o', 'yaml']);
    expect(y.code, y.stderr).toBe(0);
    expect(of(stderrEvents(y, '-o yaml'), 'info')).toHaveLength(1);
    expect(y.stdout).toMatch(/^- component: files\/data$/m);
  });

  it('a failing command: one error event, its hint and exit code in it; the exit code unchanged', async () => {
    const r = await vt(['get', 'nosuch', '--json']);
    expect(r.code).toBe(5);
    expect(stderrEvents(r, 'get')).toEqual([
      { type: 'error', code: 'entry-missing', kind: 'not-found', exit: 5, message: 'no entry named nosuch', hint: 'see `vault-tool list`' },
    ]);
    // With VAULT_TOOL_DEBUG=1 the stack is in the event, not lines of its own.
    const d = await vt(['get', 'nosuch', '--json'], { env: { VAULT_TOOL_DEBUG: '1' } });
    const [e] = stderrEvents(d, 'get, debugging') as unknown as ErrorEvent[];
    expect(e!.stack).toMatch(/^VaultError: no entry named nosuch\n\s+at /);
    // A name with control characters in it (C1, a direction mark): escaped in the stack as in the message.
    const odd = await vt(['get', 'no\u009b2J\u202esuch', '--json'], { env: { VAULT_TOOL_DEBUG: '1' } });
    const [o] = stderrEvents(odd, 'get, debugging') as unknown as ErrorEvent[];
    expect(o!.message).toMatch(/no\\x9b2J\\u202esuch/);
    expect(o!.stack!.split('\n')[0]).toBe(`VaultError: ${o!.message}`);
    expect(odd.stderr).not.toMatch(/[\u0080-\u009f\u202a-\u202e]/);
    // Without --json: the two lines as before.
    const text = await vt(['get', 'nosuch']);
    expect(text.stderr).toBe('vault-tool: error: no entry named nosuch\nvault-tool: hint: see `vault-tool list`\n');
  });

  it("commander's usage errors and help on stderr: events too, exit 2", async () => {
    const unknown = await vt(['--json', '--bogus', 'list']);
    expect(unknown.code).toBe(2);
    expect(stderrEvents(unknown, 'unknown option')).toEqual([
      { type: 'error', code: null, kind: 'usage', exit: 2, message: "unknown option '--bogus'", hint: 'run vault-tool --help for usage' },
    ]);
    const typo = await vt(['lsit', '-o', 'json']);
    expect(typo.code).toBe(2);
    expect(stderrEvents(typo, 'unknown command')).toEqual([
      { type: 'error', code: null, kind: 'usage', exit: 2, message: "unknown command 'lsit'", hint: 'did you mean list?' },
    ]);
    const help = await vt(['backup', '--json']);
    expect(help.code).toBe(2);
    const [h] = stderrEvents(help, 'backup without a subcommand');
    expect(h).toMatchObject({ type: 'help', code: null, message: expect.stringMatching(/^Usage: vault-tool backup .*\n/) });
    // Without --json: the two lines every error has, the hint naming the help of the command it was met in, or commander's suggestion.
    expect((await vt(['--bogus', 'list'])).stderr).toBe("vault-tool: error: unknown option '--bogus'\nvault-tool: hint: run vault-tool --help for usage\n");
    expect((await vt(['list', '--bogus'])).stderr).toBe(
      "vault-tool: error: unknown option '--bogus'\nvault-tool: hint: run vault-tool list --help for usage\n",
    );
    expect((await vt(['escrow', 'split', '-c', 'a'])).stderr).toBe(
      "vault-tool: error: required option '-k, --threshold <K>' not specified\nvault-tool: hint: run vault-tool escrow split --help for usage\n",
    );
    expect((await vt(['get', 'k', '--ot', 'x'])).stderr).toBe("vault-tool: error: unknown option '--ot'\nvault-tool: hint: did you mean --out?\n");
    expect((await vt(['lsit'])).stderr).toBe("vault-tool: error: unknown command 'lsit'\nvault-tool: hint: did you mean list?\n");
    // A --dry-run given to a command that is one unless --confirm: said so, not "see the help".
    expect((await vt(['backup', 'prune', '-r', 'repo', '--keep-last', '1', '--dry-run'])).stderr).toBe(
      "vault-tool: error: unknown option '--dry-run'\nvault-tool: hint: vault-tool backup prune is a dry run unless --confirm: leave --dry-run out to see what would go\n",
    );
  });

  it('the built binary: a warning and an error, every line of its stderr JSON', async () => {
    const env = { VAULT_TOOL_BACKUP_REPO: join(dir, 'repo'), VAULT_TOOL_STATE_DIR: join(dir, '.state') };
    const ok = await spawnCli(dir, ['--json', 'backup', 'exec', '--name', 'tok', '--', 'echo', '--token=not-a-real-one'], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(of(stderrEvents(ok, 'spawned backup exec'), 'warning')).toHaveLength(1);
    const bad = await spawnCli(dir, ['--json', 'backup', 'restore', 'files/nosuch', '--to-dir', join(dir, 'x')], { env });
    expect(bad.code).toBe(5);
    expect(stderrEvents(bad, 'spawned restore').at(-1)).toMatchObject({ type: 'error', kind: 'not-found', exit: 5 });
  });

  it('a question asked of a script on stdin is a question event, its answer read as before', async () => {
    const r = await vt(['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'ceremony-shares', '--ceremony', '--json'], { stdin: 'no\n' });
    expect(r.code).toBe(2);
    const ev = stderrEvents(r, 'escrow split --ceremony');
    expect(ev.filter((e) => e.type === 'question')).toEqual([{ type: 'question', code: null, message: 'Are these the custodians? (yes/no)' }]);
    expect(ev.at(-1)).toMatchObject({ type: 'error', kind: 'usage', exit: 2, message: 'ceremony cancelled: custodians not confirmed' });
    const text = await vt(['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 'ceremony-shares', '--ceremony'], { stdin: 'no\n' });
    expect(text.stderr).toContain('? Are these the custodians? (yes/no)\n');
  });

  it("Node's own warnings: a warning event with --json, Node's text line without", async () => {
    const env = { VAULT_TOOL_STATE_DIR: join(dir, '.state'), NODE_OPTIONS: `--require=${join(ROOT, 'test', 'helpers', 'children', 'node-warning.cjs')}` };
    const json = await spawnCli(dir, ['--json', 'get', 'nosuch'], { env });
    expect(json.code).toBe(5);
    expect(stderrEvents(json, 'a Node warning').map((e) => e.type)).toEqual(['error', 'warning']);
    expect(stderrEvents(json).at(-1)).toEqual({ type: 'warning', code: null, message: 'TestWarning: a warning of Node' });
    const text = await spawnCli(dir, ['get', 'nosuch'], { env });
    expect(text.stderr).toMatch(/^\(node:\d+\) TestWarning: a warning of Node$/m);
  });

  it('every command: whatever it says on stderr with --json is JSON, and a failure ends with its error event', async () => {
    // Each command run bare in an empty folder (no vault, no repository, no server): most fail, each its own way.
    const paths: string[][] = [];
    const visit = async (names: string[]) => {
      let c: Command = await buildProgram(new Context({ env: {} } as never), names);
      for (const n of names) c = c.commands.find((x) => x.name() === n)!;
      if (names.length) paths.push(names);
      for (const s of c.commands) await visit([...names, s.name()]);
    };
    await visit([]);
    expect(paths.length).toBeGreaterThan(60);
    // demo: a guided tour of the whole tool in a folder of its own (minutes); its own messages go through the same writer.
    const checked = paths.filter((p) => p[0] !== 'demo' && p.at(-1) !== 'help');
    const check = async (p: string[], where: string, env: Record<string, string>) => {
      const r = await cli(where, [...p, '--json'], { env: { KUBECONFIG: join(where, 'no-kubeconfig'), PGHOST: join(where, 'no-pg'), ...env } });
      const ev = stderrEvents(r, p.join(' '));
      if (r.code !== 0) expect(ev.at(-1), p.join(' ')).toMatchObject({ type: expect.stringMatching(/^(error|help)$/) });
      for (const e of of<ErrorEvent>(ev, 'error')) expect(e.exit, p.join(' ')).toBe(r.code);
      return r.code;
    };
    const codes = new Set<number>();
    for (const p of checked) {
      // In an empty folder, then beside this file's vault and repository (they go further: a vault to open, backups to read).
      const { dir: d, cleanup: done } = tempDir('vt-json-each-');
      try {
        codes.add(await check(p, d, { VAULT_TOOL_BACKUP_REPO: join(d, 'repo') }));
      } finally {
        done();
      }
      codes.add(await check(p, dir, { VAULT_TOOL_BACKUP_REPO: join(dir, 'repo') }));
    }
    // Successes, usage errors, things not found: the sweep reached several outcomes.
    expect([...codes]).toEqual(expect.arrayContaining([0, 2, 5]));
  }, 300_000);
});

describe('what asks for JSON before the command line is parsed', () => {
  it('--json, -o json|yaml and --output=…, never after --', () => {
    expect(asksForJson(['list', '--json'])).toBe(true);
    expect(asksForJson(['list', '-o', 'yaml'])).toBe(true);
    expect(asksForJson(['list', '--output=json'])).toBe(true);
    expect(asksForJson(['list', '-ojson'])).toBe(true);
    expect(asksForJson(['list'])).toBe(false);
    expect(asksForJson(['list', '-o', 'wide'])).toBe(false);
    expect(asksForJson(['backup', 'exec', '--name', 'x', '--', 'tool', '--json'])).toBe(false);
    expect(asksForJson(['--strict', 'list', '-o', 'json'])).toBe(true);
  });

  it("-o where it names a file (get KEY -o json writes a file named json), and a root option's value, ask for nothing", async () => {
    for (const args of [
      ['get', 'k', '-o', 'json'],
      ['get', '-ojson'],
      ['get', '-o=yaml', 'k'],
      ['backup', 'restore', 'x', '-o', 'json'],
      ['--vault-file', '--json', 'list'],
      ['--key-file', 'k', 'escrow', 'combine', '-o', 'json'],
    ])
      expect(asksForJson(args), args.join(' ')).toBe(false);
    expect(asksForJson(['get', 'k', '-o', 'json', '--json'])).toBe(true);
    // As a user sees it: a usage error of `get -o json` is the text it always was.
    const r = await cli(dir, ['get', '-o', 'json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vault-tool: error: missing required argument 'ref'$/m);
  });

  it('OUT_COMMANDS names every command whose -o is not --output', async () => {
    const found: string[] = [];
    const visit = async (names: string[]) => {
      let c: Command = await buildProgram(new Context({ env: {} } as never), names);
      for (const n of names) c = c.commands.find((x) => x.name() === n)!;
      if (c.options.some((o) => o.short === '-o' && o.long !== '--output')) found.push(names.join(' '));
      for (const s of c.commands) await visit([...names, s.name()]);
    };
    await visit([]);
    expect(found.sort()).toEqual([...OUT_COMMANDS].sort());
  });
});
