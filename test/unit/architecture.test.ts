import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

/**
 * Holds the code to docs/ARCHITECTURE.md: the module table's allowed edges,
 * no import cycles, and the library rules (no printing, prompting,
 * environment or exiting outside the CLI; no flags named in library text).
 */
const doc = readFileSync(join(ROOT, 'docs/ARCHITECTURE.md'), 'utf8');
const table = /```modules\n([\s\S]*?)```/
  .exec(doc)![1]!
  .trim()
  .split('\n')
  .map((l) => l.trim().split(/\s+/))
  .map(([name, path, ...deps]) => ({ name: name!, path: path!, deps: deps.filter((d) => d !== '-') }));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const SRC = files(join(ROOT, 'src')).map((f) => relative(ROOT, f));
const moduleOf = (file: string) => table.filter((m) => file === m.path || file.startsWith(m.path + '/')).sort((a, b) => b.path.length - a.path.length)[0];

/** Every import of a file (static, re-export, dynamic), resolved to a source file or left as a package name. */
function importsOf(file: string): { spec: string; target: string }[] {
  const info = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
  return info.importedFiles.map(({ fileName: spec }) => {
    if (!spec.startsWith('.')) return { spec, target: spec };
    const abs = resolve(dirname(join(ROOT, file)), spec).replace(/\.js$/, '.ts');
    return { spec, target: relative(ROOT, abs) };
  });
}

const graph = new Map(SRC.map((f) => [f, importsOf(f)]));

describe('docs/ARCHITECTURE.md holds', () => {
  it('every source file belongs to a module of the table', () => {
    expect(SRC.filter((f) => !moduleOf(f))).toEqual([]);
  });

  it('every import is an edge the table allows', () => {
    const bad: string[] = [];
    for (const [file, imps] of graph) {
      const from = moduleOf(file)!;
      for (const { spec, target } of imps) {
        if (!target.startsWith('src/')) continue;
        const to = moduleOf(target);
        if (!to) bad.push(`${file} imports ${spec}, outside every module`);
        else if (to.name !== from.name && !from.deps.includes(to.name)) bad.push(`${file} (${from.name}) imports ${spec} (${to.name})`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('no import cycle, not even between two files of one module', () => {
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const cycles: string[][] = [];
    let n = 0;
    const visit = (f: string) => {
      index.set(f, n);
      low.set(f, n++);
      stack.push(f);
      for (const { target } of graph.get(f) ?? []) {
        if (!graph.has(target)) continue;
        if (!index.has(target)) {
          visit(target);
          low.set(f, Math.min(low.get(f)!, low.get(target)!));
        } else if (stack.includes(target)) low.set(f, Math.min(low.get(f)!, index.get(target)!));
      }
      if (low.get(f) === index.get(f)) {
        const scc: string[] = [];
        let x: string;
        do {
          x = stack.pop()!;
          scc.push(x);
        } while (x !== f);
        if (scc.length > 1) cycles.push(scc.sort());
      }
    };
    for (const f of graph.keys()) if (!index.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('packages are imported only where the document says', () => {
    const only: Record<string, string[]> = {
      '@kubernetes/client-node': ['src/k8s/cluster.ts'],
      commander: ['src/cli/'],
      '@inquirer/prompts': ['src/cli/'],
    };
    const bad: string[] = [];
    for (const [file, imps] of graph) {
      for (const { target } of imps) {
        const allowed = only[target];
        if (allowed && !allowed.some((a) => file === a || (a.endsWith('/') && file.startsWith(a)))) bad.push(`${file} imports ${target}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('library code never prints, prompts, reads the environment or exits', () => {
    const bad: string[] = [];
    for (const file of SRC.filter((f) => !f.startsWith('src/cli/'))) {
      const sf = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
      const walk = (node: ts.Node) => {
        if (ts.isPropertyAccessExpression(node)) {
          const text = node.getText(sf);
          if (/^(console\.\w+|process\.(exit|env|stdin|stdout|stderr))$/.test(text))
            bad.push(`${file}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}: ${text}`);
        }
        ts.forEachChild(node, walk);
      };
      walk(sf);
    }
    expect(bad).toEqual([]);
  });

  it("every file it names exists, and every function it names beside a file is that file's", () => {
    const bad: string[] = [];
    const defines = (file: string, name: string) =>
      new RegExp(`(function\\*?|const|class|let|interface|type)\\s+${name}\\b|export \\{[^}]*\\b${name}\\b`).test(readFileSync(join(ROOT, file), 'utf8'));
    for (const m of doc.matchAll(/`([a-z0-9-]+(?:\/[a-z0-9-]+)*\.ts)`(?:,?\s+`([A-Za-z_]\w*)`)?/g)) {
      const [, path, name] = m as unknown as [string, string, string | undefined];
      // From src/, or inside a module (`commands/backup/options.ts` in cli); a bare name is a file of the module being described.
      const files = path.startsWith('src/') ? SRC.filter((f) => f === path) : SRC.filter((f) => f === `src/${path}` || f.endsWith(`/${path}`));
      if (!files.length) {
        if (path.includes('/')) bad.push(`${path}: no such file`);
        continue;
      }
      if (name && !files.some((f) => defines(f, name))) bad.push(`${path} \`${name}\`: not defined there`);
    }
    expect(bad).toEqual([]);
  });

  it('library text names no command-line flag or command (the CLI says what to type)', () => {
    const documents = [
      'src/escrow/files.ts',
      'src/escrow/sheet.ts',
      'src/k8s/rbac.ts',
      'src/verify/report.ts',
      'src/verify/cron.ts',
      'src/verify/schedule-jobs.ts',
      'src/verify/cronjob.ts',
    ];
    const bad: string[] = [];
    for (const file of SRC.filter((f) => !f.startsWith('src/cli/') && !documents.includes(f))) {
      const sf = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
      const walk = (node: ts.Node) => {
        if (
          ts.isStringLiteral(node) ||
          ts.isNoSubstitutionTemplateLiteral(node) ||
          ts.isTemplateHead(node) ||
          ts.isTemplateMiddle(node) ||
          ts.isTemplateTail(node)
        ) {
          const text = node.text;
          // A lone flag token is an argument to another program (rclone, pg_dump), not prose naming one of ours.
          if (/^--[a-z][a-z-]*(=\S*)?$/.test(text)) return;
          if (/(^|[\s(`'"])--[a-z][a-z-]+/.test(text) || /`vault-tool [a-z]/.test(text))
            bad.push(`${file}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}: ${JSON.stringify(text.slice(0, 80))}`);
        }
        ts.forEachChild(node, walk);
      };
      walk(sf);
    }
    expect(bad).toEqual([]);
  });
});
