import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

let dir: string;
let cleanup: () => void;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
});
afterEach(() => cleanup());

const split = (out: string, d = dir) => cli(d, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-c', 'c', '-o', out]);
const logOf = (d = dir) => join(d, 'secrets.vault.evidence.jsonl');
const events = async (d = dir) => {
  const v = await cli(d, ['evidence', 'verify', '--json']);
  expect(v.stderr).not.toContain('error');
  expect(v.code).toBe(0);
  return JSON.parse(v.stdout).map((r: { seq: number; event: string }) => `${r.seq}:${r.event}`);
};

describe('a log that lost more than the last update goes on in a new segment that records the loss', () => {
  it('the vault moved without its log: writes say what to do, repair records the gap, verify reports it, writes go on', async () => {
    expect((await split('s1')).code).toBe(0);
    expect((await split('s2')).code).toBe(0);
    const n = join(dir, 'n');
    mkdirSync(n);
    for (const f of ['secrets.vault', 'vault.key']) renameSync(join(dir, f), join(n, f));
    const env = { VAULT_TOOL_STATE_DIR: join(dir, '.state') };
    const refused = await cli(n, ['escrow', 'reshare', '--rekey', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's3'], { env });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toBe(
      'vault-tool: error: the evidence log has 0 records, the vault recorded 2: records were removed from the end; the rekey was rolled back (the vault opens with the old key only)\n' +
        'vault-tool: hint: the vault was moved or restored without its log? `vault-tool evidence repair` starts a new log segment that records which records are missing\n',
    );
    const repair = await cli(n, ['evidence', 'repair'], { env });
    expect(repair.stderr).toBe('');
    expect(repair.code).toBe(0);
    expect(repair.stdout).toBe('records 1 to 2 are missing from the log and cannot be written back; a new log segment records the loss\n');
    const v = await cli(n, ['evidence', 'verify'], { env });
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('evidence.gap');
    expect(v.stderr).toMatch(
      /^vault-tool: warning: records 1 to 2 are missing \(the gap is recorded at record 3, \S+\): the log was lost or cut before it\n1 record\(s\), chain and MACs verified; 2 record\(s\) recorded as missing\n$/,
    );
    const gap = JSON.parse(readFileSync(logOf(n), 'utf8').split('\n')[0]!);
    expect(gap).toMatchObject({ seq: 3, event: 'evidence.gap', data: { from: 1, to: 2, missing: 2, after: '0'.repeat(64), droppedPartial: false } });
    expect(gap.prev).toMatch(/^[0-9a-f]{64}$/);
    expect((await cli(n, ['escrow', 'reshare', '--rekey', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's3'], { env })).code).toBe(0);
    expect(await events(n)).toEqual(['3:evidence.gap', '4:escrow.reshare']);
    // The same log edited afterwards is still caught: a gap record is MACed like any other.
    const lines = readFileSync(logOf(n), 'utf8').split('\n');
    writeFileSync(logOf(n), [lines[0]!.replace('"missing":2', '"missing":1'), ...lines.slice(1)].join('\n'));
    expect((await cli(n, ['evidence', 'verify'], { env })).stderr).toContain('evidence record 1 fails its MAC: it was edited');
  });

  it('two records cut from the end, or an emptied log: the kept records stay, the gap names what is lost', async () => {
    for (const s of ['s1', 's2', 's3']) expect((await split(s)).code).toBe(0);
    const full = readFileSync(logOf(), 'utf8').split('\n');
    writeFileSync(logOf(), full[0] + '\n');
    expect((await split('s4')).stderr).toContain('vault-tool: hint: the vault was moved or restored without its log?');
    const repair = await cli(dir, ['evidence', 'repair']);
    expect(repair.stdout).toBe('records 2 to 3 are missing from the log and cannot be written back; a new log segment records the loss\n');
    expect((await split('s4')).code).toBe(0);
    expect(await events()).toEqual(['1:escrow.split', '4:evidence.gap', '5:escrow.split']);
    writeFileSync(logOf(), '');
    expect((await cli(dir, ['evidence', 'repair'])).stdout).toBe(
      'records 1 to 5 are missing from the log and cannot be written back; a new log segment records the loss\n',
    );
    expect(await events()).toEqual(['6:evidence.gap']);
  });

  it('a log edited before its last update is refused for appends too, and repair does not call it whole', async () => {
    for (const s of ['s1', 's2']) expect((await split(s)).code).toBe(0);
    const lines = readFileSync(logOf(), 'utf8').split('\n');
    for (const edited of [
      [lines[0]!.replace('"threshold":2', '"threshold":3'), ...lines.slice(1)],
      [lines[1], lines[0], ...lines.slice(2)],
    ]) {
      writeFileSync(logOf(), edited.join('\n'));
      const before = readFileSync(logOf());
      expect((await cli(dir, ['evidence', 'verify'])).code).toBe(4);
      const w = await split('s3');
      expect(w.code).toBe(4);
      expect(w.stderr).toMatch(
        /^vault-tool: error: evidence record 1 (fails its MAC: it was edited|has sequence 2: records were removed or reordered)\nvault-tool: hint: the log was edited or damaged: `vault-tool evidence verify` names the first bad record; keep the log aside \(mv it\), then `vault-tool evidence repair` starts a new segment that records the loss\n$/,
      );
      const r = await cli(dir, ['evidence', 'repair']);
      expect(r.code).toBe(4);
      expect(r.stdout).toBe('');
      expect(readFileSync(logOf()).equals(before)).toBe(true);
    }
    // The way on that the hint names: the damaged log kept aside, a new segment.
    renameSync(logOf(), logOf() + '.damaged');
    expect((await cli(dir, ['evidence', 'repair'])).code).toBe(0);
    expect((await split('s3')).code).toBe(0);
    expect(await events()).toEqual(['3:evidence.gap', '4:escrow.split']);
  });

  it("an append reads the log's end only: it goes on after the lines the vault holds and the one they follow; an older record edited is verify's to find", async () => {
    for (const s of ['s1', 's2', 's3']) expect((await split(s)).code).toBe(0);
    const lines = readFileSync(logOf(), 'utf8').split('\n');
    // Record 1, two before the vault's last update (record 3 follows record 2, which is intact).
    writeFileSync(logOf(), [lines[0]!.replace('"threshold":2', '"threshold":3'), ...lines.slice(1)].join('\n'));
    const w = await split('s4');
    expect(w.stderr).not.toContain('error');
    expect(w.code).toBe(0);
    expect(readFileSync(logOf(), 'utf8').split('\n').length).toBe(lines.length + 1);
    const v = await cli(dir, ['evidence', 'verify']);
    expect(v.code).toBe(4);
    expect(v.stderr).toMatch(/^vault-tool: error: evidence record 1 fails its MAC: it was edited\n/);
    // Record 3 edited (the one the vault's last update follows): the append reads the whole log and names it.
    const now = readFileSync(logOf(), 'utf8').split('\n');
    writeFileSync(logOf(), [...now.slice(0, 2), now[2]!.replace('"threshold":2', '"threshold":3'), ...now.slice(3)].join('\n'));
    const refused = await split('s5');
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/^vault-tool: error: evidence record 1 fails its MAC: it was edited\n/);
  });

  it('an older copy restored without its log: repair is refused until --allow-rollback, which starts the segment and records the rollback', async () => {
    for (const s of ['s1', 's2']) expect((await split(s)).code).toBe(0);
    copyFileSync(join(dir, 'secrets.vault'), join(dir, 'backup.vault'));
    expect((await split('s3')).code).toBe(0);
    copyFileSync(join(dir, 'backup.vault'), join(dir, 'secrets.vault'));
    rmSync(logOf());
    const refused = await cli(dir, ['evidence', 'repair']);
    expect(refused.code).toBe(12);
    expect(existsSync(logOf())).toBe(false);
    const r = await cli(dir, ['--allow-rollback', 'evidence', 'repair']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('records 1 to 2 are missing from the log and cannot be written back; a new log segment records the loss\n');
    expect(await events()).toEqual(['3:evidence.gap', '4:rollback']);
    expect((await split('s4')).code).toBe(0);
    expect(await events()).toEqual(['3:evidence.gap', '4:rollback', '5:escrow.split']);
  });

  it('a garbage or duplicated line appended is named as damage, not as an older vault', async () => {
    expect((await split('s1')).code).toBe(0);
    const good = readFileSync(logOf(), 'utf8');
    for (const [log, msg] of [
      [good + 'garbage\n', 'evidence record 2 is not valid JSON'],
      [good + good, 'evidence record 2 has sequence 1: records were removed or reordered'],
    ] as const) {
      writeFileSync(logOf(), log);
      const w = await split('s2');
      expect(w.code).toBe(4);
      expect(w.stderr).toContain(`vault-tool: error: ${msg}\nvault-tool: hint: the log was edited or damaged: \`vault-tool evidence verify\``);
      expect(w.stderr).not.toContain('allow-rollback');
    }
  });
});
