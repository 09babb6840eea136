import { describe, expect, it } from 'vitest';
import { blockScript, commands, fencedBlocks, parseMark, problems, stripComment } from '../helpers/docs/blocks.js';
import { planProblems } from '../helpers/docs/scenario.js';

/** The marks that make README.md and docs/RUNBOOK.md executable (test/integration/docs-run.test.ts), read and checked. */
const doc = (...lines: string[]) => lines.join('\n');

describe('fenced blocks and their marks', () => {
  it('finds every fenced block with its line, language and the comments right above it', () => {
    const md = doc(
      '# Title',
      '',
      '<!-- doc-test: run tour',
      'bind `age1…`, `/backup/x`: made by the test',
      'skip `npm test`: the suite itself',
      '-->',
      '<!-- pitr-by-hand -->',
      '```sh',
      'npm install   # builds',
      'npm test',
      '```',
      '',
      '<!-- doc-test: not run: needs',
      'a real cluster -->',
      '',
      '```sh',
      'kubectl apply -f x.yaml',
      '```',
      '~~~~yaml',
      '```sh',
      'not: a block of its own',
      '~~~~',
    );
    const bs = fencedBlocks('X.md', md);
    expect(bs.map((b) => [b.where, b.lang])).toEqual([
      ['X.md:8', 'sh'],
      ['X.md:16', 'sh'],
      ['X.md:19', 'yaml'],
    ]);
    expect(bs[0]!.text).toBe('npm install   # builds\nnpm test');
    expect(bs[0]!.comments).toHaveLength(2);
    expect(bs[0]!.mark).toEqual({ kind: 'run', scenario: 'tour', binds: ['age1…', '/backup/x'], skips: [{ command: 'npm test', reason: 'the suite itself' }] });
    // A blank line between a comment and the fence parts them: the second block has no mark.
    expect(bs[1]!.mark).toBeUndefined();
    expect(problems(bs)).toEqual(['X.md:16: a shell block without a doc-test mark: run it in a scenario, or say why it cannot run here (docs-run.test.ts)']);
  });

  it('refuses a block without a language, a mark on a block that is not shell, and a mark that does not parse', () => {
    const bs = fencedBlocks(
      'Y.md',
      doc('```', 'archive_mode = on', '```', '<!-- doc-test: run x -->', '```yaml', 'a: 1', '```', '<!-- doc-test: not run -->', '```bash', 'true', '```'),
    );
    expect(problems(bs)).toEqual([
      'Y.md:1: a fenced block without a language: name it (```sh, ```yaml, ```ini …) so a shell block cannot hide',
      'Y.md:5: a doc-test mark on a yaml block: only shell blocks are run',
      'Y.md:9: the doc-test mark does not parse: "not run" needs a reason: not run: WHY',
    ]);
  });

  it('reads the three kinds of mark, and names what is wrong in one that does not parse', () => {
    expect(parseMark('doc-test: not run: a real\n  S3 bucket')).toEqual({ kind: 'not-run', reason: 'a real S3 bucket' });
    expect(parseMark('doc-test: run by test/integration/pitr.test.ts')).toEqual({ kind: 'run-by', file: 'test/integration/pitr.test.ts' });
    expect(parseMark('doc-test: run platform\nThe test starts a server.\nbind `FILE`: the newest')).toEqual({
      kind: 'run',
      scenario: 'platform',
      binds: ['FILE'],
      skips: [],
    });
    expect(() => parseMark('doc-test: runs it')).toThrow('a mark starts with "run SCENARIO", "not run: WHY" or "run by FILE", not "runs it"');
    expect(() => parseMark('doc-test: run x\nbind FILE')).toThrow('"bind FILE": write bind `TEXT`, `TEXT`: what stands in');
    expect(() => parseMark('doc-test: run x\nskip `npm test`')).toThrow('"skip `npm test`": write skip `COMMAND`: why it is not run here');
  });
});

describe('commands of a block', () => {
  it('joins continued lines and here-documents, and leaves comments out (never a # inside quotes)', () => {
    const text = doc(
      '# a comment line',
      "kubectl get secret x -o jsonpath='{.data.K}' | base64 -d \\",
      '  | vault-tool fingerprint k --compare -   # compare',
      'age -d -i id f |',
      '  tar -x',
      'cat > f <<EOF',
      'x = 1  # not a shell comment',
      'EOF',
      "jq -r '.a # b' f",
    );
    expect(commands(text)).toEqual([
      { first: 1, last: 2, text: "kubectl get secret x -o jsonpath='{.data.K}' | base64 -d | vault-tool fingerprint k --compare -" },
      { first: 3, last: 4, text: 'age -d -i id f | tar -x' },
      { first: 5, last: 7, text: 'cat > f <<EOF' },
      { first: 8, last: 8, text: "jq -r '.a # b' f" },
    ]);
    expect(stripComment('echo "a # b" # c')).toBe('echo "a # b"');
    expect(stripComment('echo a#b')).toBe('echo a#b');
  });

  it('runs a block with its text bound (the longest key first), skipped commands left out, stage directions before their command', () => {
    const text = doc('umask 077', 'vault-tool backup restore postgres/app/FILE --dbname app   # 5', 'npm test', 'age -d -i id /srv/backups/FILE');
    const s = blockScript(text, {
      bind: { FILE: 'plain', 'postgres/app/FILE': 'postgres/app/20261206T1-a.pgdump.age', '/srv/backups': '/tmp/r' },
      skips: [{ command: 'npm test', reason: 'the suite' }],
      before: new Map([[1, 'export PGPORT=5433']]),
    });
    expect(s.text).toBe(
      doc(
        'umask 077',
        'export PGPORT=5433',
        'vault-tool backup restore postgres/app/20261206T1-a.pgdump.age --dbname app   # 5',
        ': doc-test: not run here: "npm test"',
        'age -d -i id /tmp/r/plain',
      ),
    );
    // Each line of the script names the line of the block it came from (0: the test's own).
    expect(s.origin).toEqual([1, 0, 2, 3, 4]);
  });
});

describe("a scenario's plan against its blocks", () => {
  const [a, b] = fencedBlocks(
    'Z.md',
    doc(
      '<!-- doc-test: run s',
      'bind `FILE`',
      'skip `npm tset`: a typo',
      '-->',
      '```sh',
      'restore FILE',
      'npm test',
      '```',
      '<!-- doc-test: run s -->',
      '```sh',
      'restore FILE --to-dir /opt/x',
      '```',
    ),
  );
  it('names a bound text no block holds, one a block holds but its mark does not list, a skip that names no command, a stage direction that is not one command', () => {
    expect(
      planProblems('s', [a!, b!], {
        bind: { FILE: 'f', '/opt/x': '/tmp/x', '/srv/gone': '/tmp/g' },
        before: { restore: 'true', 'npm test': 'true' },
        after: { 'vault-tool list': () => {} },
      }),
    ).toEqual([
      's: the test binds `/srv/gone`, which no block of the scenario holds',
      'Z.md:5: skip `npm tset` names no command of the block',
      "Z.md:10: the test binds `FILE` here: add it to the mark's bind line",
      "Z.md:10: the test binds `/opt/x` here: add it to the mark's bind line",
      's: the stage direction for `restore` matches 2 commands of the scenario, not one',
      's: the stage direction for `vault-tool list` matches 0 commands of the scenario, not one',
    ]);
  });

  it('names a text the mark binds that the test does not', () => {
    expect(planProblems('s', [a!], {})).toEqual([
      'Z.md:5: the mark binds `FILE`, but the test does not',
      'Z.md:5: skip `npm tset` names no command of the block',
    ]);
  });
});
