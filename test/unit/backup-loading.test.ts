import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliOptions } from '../../build-cli.mjs';
import { FOLDERS } from '../../src/backup/kinds/folders.js';
import { KINDS } from '../../src/backup/kinds/index.js';

/**
 * A backup pays for its code on every run (its fixed cost): the command of
 * one kind initializes that kind, never the registry of every kind (bucket,
 * redis, the WAL archive…), which verification and restores load when they
 * need it; `--help` initializes no command, `list` its own. The CLI is one
 * bundle (build-cli.mjs) in which a module reached by a dynamic import()
 * (every command, through the command table) is initialized when that import
 * runs, and the modules the entry imports statically at start. Held here on
 * the bundle built as the build makes it, not minified, its initializations
 * recorded, running the commands for real.
 */
const out = mkdtempSync(join(tmpdir(), 'vt-loading-'));
const BUNDLE = join(out, 'cli.cjs');
const INIT = 'return fn && (res = (0, fn[__getOwnPropNames(fn)[0]])(fn = 0)), res;';
/** The modules initialized at start: in the bundle, but not wrapped in an initializer. */
let atStart: string[];
afterAll(() => rmSync(out, { recursive: true, force: true }));
beforeAll(async () => {
  const built = await build({ ...cliOptions(BUNDLE, { minify: false }), write: false, logLevel: 'silent' });
  const text = built.outputFiles![0]!.text;
  // esbuild's initializer of a lazily initialized module, recording the module's path first.
  if (!text.includes(INIT)) throw new Error("esbuild's __esm helper changed: update this test");
  writeFileSync(
    BUNDLE,
    text.replace(INIT, 'return fn && (globalThis.__vtInit.push(__getOwnPropNames(fn)[0]), res = (0, fn[__getOwnPropNames(fn)[0]])(fn = 0)), res;'),
  );
  const all = new Set([...text.matchAll(/^\/\/ (src\/\S+\.ts)$/gm)].map((m) => m[1]!));
  const wrapped = new Set([...text.matchAll(/^var init_\w+ = __esm\(\{\n {2}"(src\/\S+\.ts)"\(\)/gm)].map((m) => m[1]!));
  expect(wrapped.size).toBeGreaterThan(100);
  atStart = [...all].filter((f) => !wrapped.has(f));
}, 60_000);

/** The source files initialized by `vault-tool ARGS` run in `dir` (its exit code checked). */
function initialized(dir: string, args: string[], code = 0): string[] {
  const record = join(out, 'initialized.json');
  rmSync(record, { force: true });
  const runner = `globalThis.__vtInit = [];
process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(record)}, JSON.stringify(globalThis.__vtInit)));
require(${JSON.stringify(BUNDLE)}).run(process.argv.slice(1)).then((c) => { process.exitCode = c; });`;
  const r = spawnSync(process.execPath, ['-e', runner, '--', ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, 'state') },
  });
  expect(r.status, r.stderr).toBe(code);
  return [...atStart, ...(JSON.parse(readFileSync(record, 'utf8')) as string[])].filter((f) => f.startsWith('src/'));
}

describe('what a command initializes', () => {
  it('backup files, run: the files kind alone: not the registry, no other kind, not the WAL archive, not the backup selection', () => {
    const dir = join(out, 'files');
    mkdirSync(join(dir, 'tree'), { recursive: true });
    writeFileSync(join(dir, 'tree/f'), 'one kilobyte or so\n'.repeat(50));
    initialized(dir, ['init']);
    const l = initialized(dir, ['backup', 'files', '--name', 'one', '-C', 'tree', 'f', '-r', 'repo']);
    expect(l).toContain('src/backup/kinds/files.ts');
    expect(l).toContain('src/backup/pipeline.ts');
    expect(l.filter((f) => /^src\/backup\/(kinds\/(?!files\.ts|folders\.ts|loaded\.ts)|wal\/|select\.ts|scratch\.ts)/.test(f))).toEqual([]);
  });

  it('backup postgres, loaded: its two kinds alone (the database, the globals): no other kind, not the WAL archive', () => {
    const dir = join(out, 'postgres');
    mkdirSync(dir);
    const l = initialized(dir, ['backup', 'postgres', '--help']);
    expect(l).toContain('src/backup/kinds/postgres.ts');
    expect(l.filter((f) => /^src\/backup\/(kinds\/(?!postgres\.ts|postgres-globals\.ts|folders\.ts|loaded\.ts)|wal\/|select\.ts)/.test(f))).toEqual([]);
  });

  it('--help initializes no command; list its own alone, and no backup code', () => {
    const dir = join(out, 'list');
    mkdirSync(dir);
    expect(initialized(dir, ['--help']).filter((f) => f.startsWith('src/cli/commands/') && f !== 'src/cli/commands/index.ts')).toEqual([]);
    initialized(dir, ['init']);
    const l = initialized(dir, ['list']);
    expect(l.filter((f) => f.startsWith('src/cli/commands/') && f !== 'src/cli/commands/index.ts')).toEqual(['src/cli/commands/list.ts']);
    expect(l.filter((f) => f.startsWith('src/backup/'))).toEqual([]);
  });

  it("the folders a component name may start with are the registry's kinds' own, in its order", () => {
    expect(FOLDERS).toEqual([...new Set(KINDS.map((k) => k.folder))]);
  });
});
