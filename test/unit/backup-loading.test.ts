import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FOLDERS } from '../../src/backup/kinds/folders.js';
import { KINDS } from '../../src/backup/kinds/index.js';

/**
 * A backup pays for loading its code on every run (its fixed cost): the
 * command of one kind loads that kind, never the registry of every kind
 * (bucket, redis, the WAL archive…), which verification and restores load
 * when they need it. Held here on the modules each command imports
 * statically (what is loaded before it runs), as the build bundles them.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const out = mkdtempSync(join(tmpdir(), 'vt-loading-'));
let meta: Metafile;
afterAll(() => rmSync(out, { recursive: true, force: true }));
beforeAll(async () => {
  meta = (
    await build({
      absWorkingDir: ROOT,
      entryPoints: ['src/cli/main.ts'],
      outdir: out,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      metafile: true,
      write: false,
      logLevel: 'silent',
      external: ['@kubernetes/client-node'],
    })
  ).metafile;
}, 60_000);

/** The source files `entry` imports statically, directly or not. */
function loads(entry: string): string[] {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const i of meta.inputs[f]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) todo.push(i.path);
  }
  return [...seen].filter((f) => f.startsWith('src/'));
}

describe('what a backup loads', () => {
  it('backup files loads the files kind alone: not the registry, no other kind, not the WAL archive, not the backup selection', () => {
    const l = loads('src/cli/commands/backup/files.ts');
    expect(l).toContain('src/backup/kinds/files.ts');
    expect(l.filter((f) => /^src\/backup\/(kinds\/(?!files\.ts|folders\.ts|loaded\.ts)|wal\/|select\.ts|scratch\.ts)/.test(f))).toEqual([]);
  });

  it('backup postgres loads its two kinds alone (the database, the globals): no other kind, not the WAL archive', () => {
    const l = loads('src/cli/commands/backup/postgres.ts');
    expect(l).toContain('src/backup/kinds/postgres.ts');
    expect(l.filter((f) => /^src\/backup\/(kinds\/(?!postgres\.ts|postgres-globals\.ts|folders\.ts|loaded\.ts)|wal\/|select\.ts)/.test(f))).toEqual([]);
  });

  it("the folders a component name may start with are the registry's kinds' own, in its order", () => {
    expect(FOLDERS).toEqual([...new Set(KINDS.map((k) => k.folder))]);
  });
});
