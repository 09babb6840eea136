import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
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

const names = async (args: string[] = []) =>
  JSON.parse((await cli(dir, ['list', '--json', '--versions', ...args])).stdout).entries.map(
    (e: { name: string; version: number }) => `${e.name}@${e.version}`,
  );

describe('a stale copy is never written to without --allow-rollback', () => {
  it('the reported sequence: writing to a restored older copy is refused, before and after its generation catches up', async () => {
    await cli(dir, ['add', 'a', '-t', 'kek', '--generate']);
    copyFileSync(join(dir, 'secrets.vault'), join(dir, 'backup.vault'));
    await cli(dir, ['rotate', 'a']);
    await cli(dir, ['add', 'b', '-t', 'kek', '--generate']);
    const newest = readFileSync(join(dir, 'secrets.vault'));
    copyFileSync(join(dir, 'backup.vault'), join(dir, 'secrets.vault'));
    const c = await cli(dir, ['add', 'c', '-t', 'kek', '--generate']);
    expect(c.code).toBe(12);
    expect(c.stderr).toMatch(
      /^vault-tool: error: refusing to write: this copy of vault [0-9a-f]{12} is at generation 2, but generation 4 was seen on this machine on \S+ \(.*secrets\.vault\): it is an older copy\nvault-tool: hint: use the newest copy; to go on from this one \(a deliberate rollback, losing what the newer copy holds\), add --allow-rollback\n$/,
    );
    expect(readFileSync(join(dir, 'secrets.vault')).equals(readFileSync(join(dir, 'backup.vault')))).toBe(true);
    const d = await cli(dir, ['add', 'd', '-t', 'kek', '--generate']);
    expect(d.code).toBe(12);
    // The newest copy is untouched by the refusals, and still opens with everything in it.
    writeFileSync(join(dir, 'newest.vault'), newest, { mode: 0o600 });
    expect(await names(['--vault-file', 'newest.vault'])).toEqual(['a@2', 'b@1']);
  });

  it('--allow-rollback goes on from the older copy on purpose; it then becomes the copy this machine knows', async () => {
    await cli(dir, ['add', 'a', '-t', 'kek', '--generate']);
    copyFileSync(join(dir, 'secrets.vault'), join(dir, 'backup.vault'));
    await cli(dir, ['rotate', 'a']);
    await cli(dir, ['add', 'b', '-t', 'kek', '--generate']);
    copyFileSync(join(dir, 'backup.vault'), join(dir, 'secrets.vault'));
    const c = await cli(dir, ['--allow-rollback', 'add', 'c', '-t', 'kek', '--generate']);
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(
      /^vault-tool: warning: going on from this copy \(a rollback, as asked\): this copy of vault [0-9a-f]{12} is at generation 2, but generation 4 was seen/,
    );
    expect((await cli(dir, ['add', 'd', '-t', 'kek', '--generate'])).code).toBe(0);
    const strict = await cli(dir, ['list', '--strict']);
    expect(strict.code).toBe(0);
    expect(strict.stderr).not.toContain('warning');
    expect(await names()).toEqual(['a@1', 'c@1', 'd@1']);
  });

  it('a fork at the same generation is noticed: reading warns (refused with --strict), writing is refused', async () => {
    await cli(dir, ['add', 'a', '-t', 'kek', '--generate']);
    copyFileSync(join(dir, 'secrets.vault'), join(dir, 'other.vault'));
    expect((await cli(dir, ['add', 'b', '-t', 'kek', '--generate'])).code).toBe(0);
    // Elsewhere (another machine: another state folder), the copy is written once too: same generation, other content.
    const elsewhere = { VAULT_TOOL_STATE_DIR: join(dir, 'elsewhere') };
    expect((await cli(dir, ['--vault-file', 'other.vault', 'add', 'x', '-t', 'kek', '--generate'], { env: elsewhere })).code).toBe(0);
    const read = await cli(dir, ['list', '--vault-file', 'other.vault']);
    expect(read.code).toBe(0);
    expect(read.stderr).toMatch(
      /vault-tool: warning: this copy of vault [0-9a-f]{12} is at generation 3, as the copy seen on this machine on \S+ \(.*secrets\.vault\), but its content differs: the copies parted/,
    );
    expect((await cli(dir, ['list', '--vault-file', 'other.vault', '--strict'])).code).toBe(12);
    const write = await cli(dir, ['--vault-file', 'other.vault', 'add', 'y', '-t', 'kek', '--generate']);
    expect(write.code).toBe(12);
    expect(write.stderr).toContain('refusing to write: this copy of vault');
  });

  it('a fork that has moved on to a higher generation is noticed by its lineage', async () => {
    await cli(dir, ['add', 'a', '-t', 'kek', '--generate']);
    copyFileSync(join(dir, 'secrets.vault'), join(dir, 'other.vault'));
    await cli(dir, ['add', 'b', '-t', 'kek', '--generate']);
    const elsewhere = { VAULT_TOOL_STATE_DIR: join(dir, 'elsewhere') };
    for (const n of ['x', 'y', 'z'])
      expect((await cli(dir, ['--vault-file', 'other.vault', 'add', n, '-t', 'kek', '--generate'], { env: elsewhere })).code).toBe(0);
    const read = await cli(dir, ['list', '--vault-file', 'other.vault']);
    expect(read.stderr).toMatch(/this copy of vault [0-9a-f]{12} \(generation 5\) does not descend from generation 3 seen on this machine/);
    // A true descendant is not a fork: the same vault written further here reads without a word.
    expect((await cli(dir, ['add', 'c', '-t', 'kek', '--generate'])).stderr).toBe('');
    expect((await cli(dir, ['list', '--strict'])).code).toBe(0);
  });

  it('a fork that moved on more than the lineage holds cannot be told from a descendant: warned, refused with --strict and on write, recorded when forced', async () => {
    await cli(dir, ['add', 'a', '-t', 'kek', '--generate']);
    copyFileSync(join(dir, 'secrets.vault'), join(dir, 'base.vault'));
    await cli(dir, ['add', 'b', '-t', 'kek', '--generate']);
    const elsewhere = { VAULT_TOOL_STATE_DIR: join(dir, 'elsewhere') };
    for (let i = 0; i < 66; i++) expect((await cli(dir, ['--vault-file', 'base.vault', 'rotate', 'a'], { env: elsewhere })).code).toBe(0);
    copyFileSync(join(dir, 'base.vault'), join(dir, 'secrets.vault'));
    const read = await cli(dir, ['list']);
    expect(read.code).toBe(0);
    expect(read.stderr).toMatch(
      /^vault-tool: warning: this copy of vault [0-9a-f]{12} \(generation 68\) has moved on more than 64 generations since generation 3 seen on this machine on \S+ \(.*secrets\.vault\): cannot tell if this copy descends from the one seen\n/,
    );
    expect((await cli(dir, ['list', '--strict'])).code).toBe(12);
    const w = await cli(dir, ['add', 'z', '-t', 'kek', '--generate']);
    expect(w.code).toBe(12);
    expect(w.stderr).toContain('vault-tool: error: refusing to write: this copy of vault');
    expect(w.stderr).toContain('add --allow-rollback');
    const forced = await cli(dir, ['--allow-rollback', 'add', 'z', '-t', 'kek', '--generate']);
    expect(forced.code).toBe(0);
    expect(await names()).toEqual(['a@67', 'z@1']);
    expect((await cli(dir, ['list', '--strict'])).code).toBe(0);
    // The rollback is in the log: what was written over, and what this machine had seen.
    const recs = JSON.parse((await cli(dir, ['evidence', 'verify', '--json'])).stdout);
    expect(recs.map((r: { event: string }) => r.event)).toEqual(['rollback']);
    expect(recs[0].data).toMatchObject({ copy: { generation: 68 }, status: 'undetermined', seen: { generation: 3 } });
  });

  it('an unreadable state file is a warning, an error with --strict, and is never overwritten', async () => {
    const state = join(dir, '.state', 'seen.json');
    writeFileSync(state, '{ not json');
    const warn = await cli(dir, ['list']);
    expect(warn.code).toBe(0);
    expect(warn.stderr).toContain(
      `vault-tool: warning: the state file ${state} is damaged: the rollback check cannot run (move it away to start afresh (what it remembered is lost): mv ${state} ${state}.damaged)`,
    );
    const strict = await cli(dir, ['list', '--strict']);
    expect(strict.code).toBe(12);
    expect(strict.stderr).toBe(
      `vault-tool: error: the state file ${state} is damaged: the rollback check cannot run\nvault-tool: hint: move it away to start afresh (what it remembered is lost): mv ${state} ${state}.damaged\n`,
    );
    expect((await cli(dir, ['add', 'a', '-t', 'kek', '--generate'])).code).toBe(0);
    expect(readFileSync(state, 'utf8')).toBe('{ not json');
  });

  it('what is remembered identifies the copy: vault id, generation and header hash', async () => {
    await cli(dir, ['add', 'a', '-t', 'kek', '--generate']);
    const seen = JSON.parse(readFileSync(join(dir, '.state', 'seen.json'), 'utf8'));
    const [id, rec] = Object.entries(seen.vaults)[0] as [string, { generation: number; header: string; path: string }];
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(rec.generation).toBe(2);
    expect(rec.header).toMatch(/^[0-9a-f]{64}$/);
    expect(rec.path).toBe(join(dir, 'secrets.vault'));
  });
});

describe('the evidence log follows the vault copy', () => {
  it('a stale copy never extends the log with a new key (which made genuine records read as edited)', async () => {
    copyFileSync(join(dir, 'secrets.vault'), join(dir, 'before-evidence.vault'));
    await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's1']);
    await cli(dir, ['escrow', 'reshare', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's2']);
    const log = readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8');
    copyFileSync(join(dir, 'before-evidence.vault'), join(dir, 'secrets.vault'));
    const refused = await cli(dir, ['escrow', 'reshare', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's3']);
    expect(refused.code).toBe(12);
    expect(readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8')).toBe(log);
    // Going on from the old copy on purpose keeps the newer records aside, whole, and starts the log afresh.
    const forced = await cli(dir, ['--allow-rollback', 'escrow', 'reshare', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's4']);
    expect(forced.code).toBe(0);
    const aside = (await import('node:fs')).readdirSync(dir).filter((f) => f.startsWith('secrets.vault.evidence.jsonl.rolled-back-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dir, aside[0]!), 'utf8')).toBe(log);
    const v = await cli(dir, ['evidence', 'verify', '--json']);
    expect(v.code).toBe(0);
    // The rollback itself is recorded with the update that made it: what was rolled back from, where the newer records are.
    const recs = JSON.parse(v.stdout);
    expect(recs.map((r: { seq: number; event: string }) => `${r.seq}:${r.event}`)).toEqual(['1:escrow.reshare', '2:rollback']);
    expect(recs[1].data).toMatchObject({ copy: { generation: 1 }, status: 'stale', seen: { generation: 3 }, evidenceAhead: { records: 2, keptAs: aside[0] } });
  });

  it('verify on a copy older than the log says so (not "edited")', async () => {
    await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's1']);
    copyFileSync(join(dir, 'secrets.vault'), join(dir, 'old.vault'));
    copyFileSync(join(dir, 'secrets.vault.evidence.jsonl'), join(dir, 'old.vault.evidence.jsonl'));
    await cli(dir, ['escrow', 'reshare', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's2']);
    copyFileSync(join(dir, 'secrets.vault.evidence.jsonl'), join(dir, 'old.vault.evidence.jsonl'));
    const r = await cli(dir, ['evidence', 'verify', '--vault-file', 'old.vault']);
    expect(r.code).toBe(12);
    expect(r.stderr).toContain(
      'vault-tool: error: the evidence log has 2 records, but this vault copy recorded 1: the vault is older than its log (a restored copy?)',
    );
  });

  it('a cut tail is never hidden by the next append: the append is refused, repair writes it back and is recorded', async () => {
    await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's1']);
    await cli(dir, ['escrow', 'reshare', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's2']);
    const path = join(dir, 'secrets.vault.evidence.jsonl');
    const full = readFileSync(path, 'utf8');
    writeFileSync(path, full.split('\n').slice(0, 1).join('\n') + '\n');
    expect((await cli(dir, ['evidence', 'verify'])).code).toBe(4);
    const third = await cli(dir, ['escrow', 'reshare', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's3']);
    expect(third.code).toBe(4);
    expect(third.stderr).toBe(
      'vault-tool: error: the evidence log lacks record 2, which the vault holds: the log was cut, or a write was interrupted\nvault-tool: hint: run `vault-tool evidence repair` to write it back (the repair is recorded)\n',
    );
    expect((await import('node:fs')).existsSync(join(dir, 's3', 'manifest.json'))).toBe(false);
    const repair = await cli(dir, ['evidence', 'repair']);
    expect(repair.code).toBe(0);
    expect(repair.stdout).toBe('wrote back record 2; the repair is recorded in the log\n');
    expect(readFileSync(path, 'utf8').startsWith(full)).toBe(true);
    expect((await cli(dir, ['escrow', 'reshare', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's3'])).code).toBe(0);
    const recs = JSON.parse((await cli(dir, ['evidence', 'verify', '--json'])).stdout);
    expect(recs.map((r: { event: string }) => r.event)).toEqual(['escrow.split', 'escrow.reshare', 'evidence.repair', 'escrow.reshare']);
    expect(recs[2].data).toEqual({ restored: [2], droppedPartial: false });
    expect((await cli(dir, ['evidence', 'repair'])).stdout).toBe('the evidence log holds every record the vault recorded: nothing to repair\n');
  });
});
