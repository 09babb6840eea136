import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Context } from '../../src/cli/context.js';
import { buildProgram } from '../../src/cli/main.js';
import { BIN, cli, haveBinary, spawnCli, tempDir } from '../helpers/cli.js';

/**
 * The completion scripts, loaded into real shells: bash (its completion
 * function called as readline calls it), zsh (the completion function with
 * the completion system's functions standing in: they print what they are
 * given) and fish (`complete -C`, fish's own completion of a line). Entry
 * names come from a real vault through the built binary on PATH.
 */
const HAVE_ZSH = haveBinary('zsh', ['--version']);
const HAVE_FISH = haveBinary('fish', ['--version']);
const VALUE = 'never-shown-9d1c6a4e7b';

let dir: string;
let cleanup: () => void;
let bin: string;
const scripts: Record<string, string> = {};

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-completion-'));
  bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(BIN, join(bin, 'vault-tool'));
  expect((await cli(dir, ['init'])).code).toBe(0);
  for (const n of ['db/password', 'api/token']) expect((await cli(dir, ['add', n, '-t', 'generic', '--from-stdin'], { stdin: VALUE })).code).toBe(0);
  writeFileSync(join(dir, 'app.env'), 'A=1\n');
  for (const shell of ['bash', 'zsh', 'fish']) {
    const r = await spawnCli(dir, ['completion', shell]);
    expect(r.code, r.stderr).toBe(0);
    scripts[shell] = join(dir, `completion.${shell}`);
    writeFileSync(scripts[shell]!, r.stdout);
  }
});
afterAll(() => cleanup());

const env = () => ({ PATH: `${bin}:${process.env.PATH}`, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state'), LINES_FILE: join(dir, 'lines') });

/** Runs `program` in `shell` over each line; the candidates of each, in order. */
function inShell(shell: string, args: string[], program: string, lines: string[]): string[][] {
  writeFileSync(join(dir, 'lines'), lines.map((l) => `${l}\n`).join(''));
  const r = spawnSync(shell, [...args, program, ...(shell === 'fish' ? [] : [shell]), scripts[shell]!], {
    cwd: dir,
    env: env(),
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  const blocks = r.stdout.split('---\n').slice(0, -1);
  expect(blocks).toHaveLength(lines.length);
  return blocks.map((b) => b.split('\n').filter(Boolean));
}

const BASH = `
source "$1"
while IFS= read -r line; do
  COMP_LINE=$line COMP_POINT=\${#line} COMPREPLY=()
  _vault_tool
  printf '%s\\n' "\${COMPREPLY[@]}" | sort -u
  echo ---
done < "$LINES_FILE"
`;
const bash = (lines: string[]) => inShell('bash', ['--norc', '--noprofile', '-c'], BASH, lines);

/** The completion system's functions, standing in: each prints what it would offer (filtered by PREFIX, as they filter). */
const ZSH = `
compdef() { :; }
compadd() { [[ $1 == -- ]] && shift; local x; for x in "$@"; do [[ $x == "$PREFIX"* ]] && print -r -- "$x"; done; }
_describe() { local x; for x in "\${(@P)\${@[-1]}}"; do x=\${x%%:*}; [[ $x == "$PREFIX"* ]] && print -r -- "$x"; done; }
compset() { [[ $1 == -P ]] && PREFIX=\${PREFIX#*=}; }
_files() { print -r -- "<files\${1:+ $1}>"; }
_parameters() { print -r -- '<parameters>'; }
_command_names() { print -r -- '<commands>'; }
_normal() { print -r -- "<normal \${words[1]} $CURRENT>"; }
source "$1"
while IFS= read -r LINE; do
  words=(\${(z)LINE})
  [[ $LINE == *' ' ]] && words+=('')
  CURRENT=\${#words}
  PREFIX=\${words[-1]}
  _vault_tool | sort -u
  print -- ---
done < "$LINES_FILE"
`;
const zsh = (lines: string[]) => inShell('zsh', ['-f', '-c'], ZSH, lines);

const FISH = `
source $argv[1]
for line in (cat $LINES_FILE)
    complete -C "$line" | string replace -r '\\t.*' '' | sort -u
    echo ---
end
`;
const fish = (lines: string[]) => inShell('fish', ['--no-config', '-c'], FISH, lines);

const entries = ['api/token', 'db/password'];

/** Lines and what each shell offers (bash offers what follows = or :, fish whole words). */
const CASES: { line: string; want: string[]; bash?: string[]; fish?: string[]; zsh?: string[] }[] = [
  { line: 'vault-tool ba', want: ['backup'] },
  { line: 'vault-tool backup e', want: ['exec'] },
  { line: 'vault-tool backup exec --e', want: ['--env'] },
  { line: 'vault-tool k8s restore --on-conflict ', want: ['fail', 'if-unchanged', 'overwrite', 'skip'] },
  { line: 'vault-tool k8s restore --dry-run ', want: ['client', 'server'] },
  { line: 'vault-tool list -o ', want: ['json', 'yaml'] },
  { line: 'vault-tool completion ', want: ['bash', 'fish', 'zsh'] },
  { line: 'vault-tool get ', want: entries },
  { line: 'vault-tool --json history d', want: ['db/password'] },
  { line: 'vault-tool export env api/token ', want: entries },
  { line: 'vault-tool run --env X=', want: entries, fish: ['X=api/token', 'X=db/password'] },
  { line: 'vault-tool backup exec --name x -e TOKEN=a', want: ['api/token'], fish: ['TOKEN=api/token'] },
  { line: 'vault-tool ls --vers', want: ['--version', '--versions'] },
  { line: 'vault-tool k8s compare --pl', want: ['--plan'] },
  { line: 'vault-tool import env app', want: ['app.env'], zsh: ['<files>'] },
  { line: 'vault-tool backup files -C ', want: [], bash: ['.state', 'bin'], fish: ['bin/'], zsh: ['<files -/>'] },
  { line: 'vault-tool run -e X=api/token -- sha256s', want: ['sha256sum'], zsh: ['<commands>'] },
  { line: 'vault-tool add x -t generic --from-env HOM', want: ['HOME'], zsh: ['<parameters>'] },
  { line: 'vault-tool backup restore ', want: [] },
  { line: 'vault-tool rotate --nope ', want: entries },
];

describe('completion scripts', () => {
  it('bash: registered for vault-tool; commands, options, choices, files and entry names', () => {
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', 'source "$1"; complete -p vault-tool', 'bash', scripts.bash!], { encoding: 'utf8' });
    expect(r.stdout).toBe('complete -F _vault_tool vault-tool\n');
    const got = bash(CASES.map((c) => c.line));
    CASES.forEach((c, i) => expect(got[i], c.line).toEqual(c.bash ?? c.want));
  });

  it.skipIf(!HAVE_ZSH)('zsh: the same, through the completion system', () => {
    const got = zsh(CASES.map((c) => c.line));
    CASES.forEach((c, i) => expect(got[i], c.line).toEqual(c.zsh ?? c.want));
    const syntax = spawnSync('zsh', ['-n', scripts.zsh!], { encoding: 'utf8' });
    expect(syntax.status, syntax.stderr).toBe(0);
    // After --, the command's own completion takes over (zsh's _normal, from the command's word).
    expect(zsh(['vault-tool run -e X=api/token -- sha256sum --ch'])[0]).toEqual(['<normal sha256sum 2>']);
  });

  it.skipIf(!HAVE_FISH)('fish: the same, with its own complete -C', () => {
    const got = fish(CASES.map((c) => c.line));
    CASES.forEach((c, i) => expect(got[i], c.line).toEqual(c.fish ?? c.want));
    const syntax = spawnSync('fish', ['--no-execute', scripts.fish!], { encoding: 'utf8' });
    expect(syntax.status, syntax.stderr).toBe(0);
  });

  it('every command, subcommand and option of the command tree is offered (the scripts are generated from it)', async () => {
    const paths: string[][] = [];
    const nodes: { path: string[]; command: Command }[] = [];
    const visit = async (names: string[]) => {
      let c = await buildProgram(new Context({ env: {} } as never), names);
      for (const n of names) c = c.commands.find((x) => x.name() === n)!;
      nodes.push({ path: names, command: c });
      for (const s of c.commands) await visit([...names, s.name()]);
    };
    await visit([]);
    for (const n of nodes) paths.push(n.path);
    const lines = nodes.flatMap((n) => [`vault-tool ${n.path.map((p) => `${p} `).join('')}`, `vault-tool ${n.path.map((p) => `${p} `).join('')}--`]);
    const got = bash(lines);
    nodes.forEach((n, i) => {
      const subs = n.command.commands.flatMap((s) => [s.name(), ...s.aliases()]).sort();
      if (subs.length) expect(got[2 * i], n.path.join(' ')).toEqual(subs);
      const longs = new Set<string>(['--help']);
      for (let c: Command | null = n.command; c; c = c.parent) for (const o of c.options) if (o.long && !o.hidden) longs.add(o.long);
      expect(got[2 * i + 1], `${n.path.join(' ')} --`).toEqual([...longs].sort());
    });
    expect(paths.length).toBeGreaterThan(60);
    expect(paths).toContainEqual(['backup', 'key', 'trust']);
  });

  it('entry names only: never a value, never a question (a key with a passphrase gives nothing), nothing written', async () => {
    const r = await spawnCli(dir, ['completion', '--entries']);
    expect(r.stdout).toBe('api/token\ndb/password\n');
    const all = [...bash(CASES.map((c) => c.line)).flat()].join('\n');
    expect(all).not.toContain(VALUE);
    for (const s of Object.values(scripts)) expect(s).not.toContain(VALUE);
    const p = tempDir('vt-completion-pw-');
    try {
      expect((await cli(p.dir, ['init', '--passphrase', '--passphrase-env', 'PW', '--work-factor', '10'], { env: { PW: 'x y z' } })).code).toBe(0);
      const none = await spawnCli(p.dir, ['completion', '--entries']);
      expect([none.code, none.stdout, none.stderr]).toEqual([0, '', '']);
      const elsewhere = await spawnCli(dir, ['--vault-file', join(p.dir, 'secrets.vault'), '--key-file', join(p.dir, 'vault.key'), 'completion', '--entries']);
      expect(elsewhere.stdout).toBe('');
    } finally {
      p.cleanup();
    }
    // --vault-file/--key-file on the line being completed are the vault whose names are offered.
    const other = tempDir('vt-completion-other-');
    try {
      expect((await cli(other.dir, ['init'])).code).toBe(0);
      expect((await cli(other.dir, ['add', 'only/here', '-t', 'generic', '--generate'])).code).toBe(0);
      const v = join(other.dir, 'secrets.vault');
      const k = join(other.dir, 'vault.key');
      const seen = () => readFileSync(join(dir, '.state/seen.json'), 'utf8');
      const before = seen();
      expect(bash([`vault-tool --vault-file ${v} --key-file ${k} get `])[0]).toEqual(['only/here']);
      // A completion is not a read to remember: the state file is as it was.
      expect(seen()).toBe(before);
    } finally {
      other.cleanup();
    }
  });

  it('asks for a shell it knows', async () => {
    const r = await cli(dir, ['completion', 'tcsh']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("vault-tool: error: command-argument value 'tcsh' is invalid for argument 'shell'. Allowed choices are bash, zsh, fish.");
    expect((await cli(dir, ['completion'])).stderr).toBe('vault-tool: error: completion for which shell? bash, zsh or fish\n');
  });
});
