import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, spawnCli, tempDir } from '../helpers/cli.js';
import { addPendingEvidence, pendingEvidencePath } from '../../src/vault/pending-evidence.js';
import { deferEvidence, takeDeferred } from '../../src/vault/deferred.js';
import { acquireLock } from '../../src/fs/lock.js';

/**
 * Evidence records waiting beside a key file (`<key>.evidence-pending.jsonl`):
 * the file sits in whatever folder the key was written to, so it is written
 * only as a plain file of its own (never through a link), changed only
 * under its lock and only by the run that owns a record, and read as
 * untrusted input (only escrow.combine records of the expected form are
 * carried into the authenticated log, and the write says which).
 */
let dir: string;
let cleanup: () => void;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir('vt-pending-'));
  expect((await cli(dir, ['init'])).code).toBe(0);
  expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-c', 'c', '-o', 'sh'])).code).toBe(0);
});
afterEach(() => cleanup());

const SHARES = ['sh/share-01-a.share', 'sh/share-02-b.share'];
const bytes = (p: string) => readFileSync(join(dir, p));
const lines = (p: string) =>
  readFileSync(p, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { event: string; at: string; data: Record<string, unknown> });

describe('the pending evidence file is never written through a link', () => {
  it('a link planted beside the key file is refused before anything is written; the vault it names is untouched', async () => {
    mkdirSync(join(dir, 'out'));
    symlinkSync('../secrets.vault', join(dir, 'out/vault.key.evidence-pending.jsonl'));
    const vault = bytes('secrets.vault');
    const r = await cli(dir, ['escrow', 'combine', '-o', 'out/vault.key', ...SHARES, '--vault-file', '/nonexistent']);
    expect(r.code).toBe(10);
    expect(r.stderr).toBe(
      `vault-tool: error: refusing to write the pending evidence ${join(dir, 'out/vault.key.evidence-pending.jsonl')}: it is a symbolic link, and vault-tool never writes its own files through one\n` +
        'vault-tool: hint: vault-tool made no such link: look at where it points, then remove it\n',
    );
    expect(bytes('secrets.vault').equals(vault)).toBe(true);
    expect(existsSync(join(dir, 'out/vault.key'))).toBe(false);
    expect(readlinkSync(join(dir, 'out/vault.key.evidence-pending.jsonl'))).toBe('../secrets.vault');
    expect((await cli(dir, ['list'])).code).toBe(0);
  });

  it('a dangling link is refused too (it would create the file it names)', async () => {
    mkdirSync(join(dir, 'out'));
    symlinkSync(join(dir, 'elsewhere.txt'), join(dir, 'out/vault.key.evidence-pending.jsonl'));
    const r = await cli(dir, ['escrow', 'combine', '-o', 'out/vault.key', ...SHARES, '--vault-file', '/nonexistent']);
    expect(r.code).toBe(10);
    expect(existsSync(join(dir, 'elsewhere.txt'))).toBe(false);
    expect(existsSync(join(dir, 'out/vault.key'))).toBe(false);
  });

  it('a file of another kind under that name is not appended to', async () => {
    mkdirSync(join(dir, 'out'));
    writeFileSync(join(dir, 'out/vault.key.evidence-pending.jsonl'), 'my notes\n');
    const r = await cli(dir, ['escrow', 'combine', '-o', 'out/vault.key', ...SHARES, '--vault-file', '/nonexistent']);
    expect(r.code).toBe(10);
    expect(r.stderr).toContain(
      `refusing to add to ${join(dir, 'out/vault.key.evidence-pending.jsonl')}: it is not a file of pending evidence records vault-tool wrote`,
    );
    expect(readFileSync(join(dir, 'out/vault.key.evidence-pending.jsonl'), 'utf8')).toBe('my notes\n');
    expect(existsSync(join(dir, 'out/vault.key'))).toBe(false);
  });

  it('a link there is not read when a vault write carries records in: a warning, and the write goes on', async () => {
    writeFileSync(join(dir, 'elsewhere.jsonl'), '');
    symlinkSync('elsewhere.jsonl', join(dir, 'vault.key.evidence-pending.jsonl'));
    const r = await cli(dir, ['add', 'q/q', '-t', 'generic', '--from-env', 'HOME']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`refusing to read the pending evidence ${join(dir, 'vault.key.evidence-pending.jsonl')}: it is a symbolic link`);
    expect(lstatSync(join(dir, 'vault.key.evidence-pending.jsonl')).isSymbolicLink()).toBe(true);
  });
});

describe('records beside a key file are changed only by the run that owns them', () => {
  const rec = (operator: string) => ({ event: 'escrow.combine', at: new Date().toISOString(), data: { operator } });

  it("a run that takes its record back leaves another run's record in place", async () => {
    const key = join(dir, 'k.key');
    const a = await addPendingEvidence(key, rec('first'));
    const b = await addPendingEvidence(key, rec('second'));
    await a.takeBack();
    expect(lines(pendingEvidencePath(key)).map((r) => r.data.operator)).toEqual(['second']);
    await b.takeBack();
    expect(existsSync(pendingEvidencePath(key))).toBe(false);
  });

  it('concurrent combines into one key file: exactly one writes the key, and exactly its record is left', async () => {
    for (let round = 0; round < 4; round++) {
      const out = `race${round}/vault.key`;
      mkdirSync(join(dir, `race${round}`));
      const runs = await Promise.all(
        ['a', 'b', 'c'].map((who) => spawnCli(dir, ['escrow', 'combine', '-o', out, ...SHARES, '--vault-file', 'none.vault'], { env: { USER: `op-${who}` } })),
      );
      const won = runs.filter((r) => r.code === 0);
      expect(won, runs.map((r) => r.stderr).join('\n')).toHaveLength(1);
      for (const r of runs.filter((x) => x.code !== 0)) expect(r.code, r.stderr).toBe(10);
      const left = lines(join(dir, `${out}.evidence-pending.jsonl`));
      expect(left).toHaveLength(1);
      const winner = runs.indexOf(won[0]!);
      expect(left[0]!.data.operator).toBe(`op-${'abc'[winner]}`);
    }
  }, 120_000);
});

describe('records deferred in the state folder are kept and taken under the same lock', () => {
  const settled = async (p: Promise<unknown>, ms = 300) => Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), ms))]);

  it('a record kept while another process takes the earlier ones waits for it, and is never lost', async () => {
    const state = join(dir, '.state/seen.json');
    const id = 'cd'.repeat(16);
    const file = await deferEvidence(state, id, { at: '2026-01-01T00:00:00.000Z', event: 'entry.get', data: { entry: 'a@1' }, why: 'read-only' });
    const taken = takeDeferred(state, id)!;
    expect(taken.records.map((r) => r.data.entry)).toEqual(['a@1']);
    // Another process holds the file's lock (it is taking the records out): a new record waits for it.
    const release = await acquireLock(file);
    const second = deferEvidence(state, id, { at: '2026-01-01T00:00:01.000Z', event: 'entry.get', data: { entry: 'b@1' }, why: 'read-only' });
    expect(await settled(second)).toBe(false);
    const done = taken.done();
    expect(await settled(done)).toBe(false);
    release();
    await Promise.all([second, done]);
    expect(lines(file).map((r) => r.data.entry)).toEqual(['b@1']);
  });
});

describe('only escrow.combine records of the expected form are carried into the authenticated log', () => {
  const combineRecord = async () => {
    mkdirSync(join(dir, 'fresh'));
    const r = await cli(dir, ['escrow', 'combine', '-o', 'fresh/vault.key', ...SHARES, '--vault-file', 'none.vault'], { env: { USER: 'olga' } });
    expect(r.code, r.stderr).toBe(0);
    return readFileSync(join(dir, 'fresh/vault.key.evidence-pending.jsonl'), 'utf8').trim();
  };
  const events = async () => JSON.parse((await cli(dir, ['evidence', 'verify', '--json'])).stdout) as { event: string; data: Record<string, unknown> }[];

  it('a forged verify record is not carried: it stays in the file, and the write says why', async () => {
    const forged = JSON.stringify({
      event: 'verify',
      at: '2026-01-01T00:00:00.000Z',
      data: { ok: true, verdict: 'ok', checks: [], operator: 'auditor', keyId: 'ffffffffffffffff' },
    });
    const file = join(dir, 'vault.key.evidence-pending.jsonl');
    writeFileSync(file, forged + '\n');
    const before = (await events()).length;
    const r = await cli(dir, ['add', 'q/q', '-t', 'generic', '--from-env', 'HOME']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `vault-tool: warning: ${file} line 1 is not carried into the evidence log (event: expected one of escrow.combine): only escrow.combine records of the expected form are; it is left in the file\n`,
    );
    // Nothing came in from the file (adding an entry records nothing itself).
    expect((await events()).slice(before)).toEqual([]);
    expect(readFileSync(file, 'utf8')).toBe(forged + '\n');
  });

  it('an escrow.combine record with a field more or a field less is not carried', async () => {
    const good = JSON.parse(await combineRecord());
    const file = join(dir, 'vault.key.evidence-pending.jsonl');
    const extra = JSON.stringify({ ...good, data: { ...good.data, verified: true } });
    const { custodians: _c, ...less } = good.data;
    const missing = JSON.stringify({ ...good, data: less });
    const badAt = JSON.stringify({ ...good, at: 'yesterday' });
    writeFileSync(file, [extra, missing, badAt, '{not json'].join('\n') + '\n');
    const r = await cli(dir, ['add', 'q/q', '-t', 'generic', '--from-env', 'HOME']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`${file} line 1 is not carried into the evidence log (data.verified: unknown field (expected keyId,`);
    expect(r.stderr).toContain(`${file} line 2 is not carried into the evidence log (data.custodians: missing)`);
    expect(r.stderr).toContain(`${file} line 3 is not carried into the evidence log (at: expected an ISO-8601 UTC time, got "yesterday")`);
    expect(r.stderr).toContain(`${file} line 4 is not carried into the evidence log (not JSON)`);
    expect((await events()).filter((e) => e.event === 'escrow.combine')).toEqual([]);
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(4);
  });

  it('a record of the expected form is carried, and the write names it on stderr; the others stay', async () => {
    const good = await combineRecord();
    const file = join(dir, 'vault.key.evidence-pending.jsonl');
    const forged = JSON.stringify({ event: 'rollback', at: '2026-01-01T00:00:00.000Z', data: {} });
    writeFileSync(file, `${forged}\n${good}\n`);
    const rec = JSON.parse(good);
    const r = await cli(dir, ['add', 'q/q', '-t', 'generic', '--from-env', 'HOME']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `vault-tool: warning: carried a record into the evidence log from ${file}, kept there unauthenticated until now: escrow.combine at ${rec.at} (key id ${rec.data.keyId}, by olga on ${rec.data.host})\n`,
    );
    const carried = (await events()).filter((e) => e.event === 'escrow.combine');
    expect(carried).toHaveLength(1);
    expect(carried[0]!.data).toMatchObject({ operator: 'olga', deferred: { at: rec.at, file } });
    expect(readFileSync(file, 'utf8')).toBe(forged + '\n');
  });

  it('a write that fails after reading the file says nothing was carried, and the record stays', async () => {
    const good = await combineRecord();
    const file = join(dir, 'vault.key.evidence-pending.jsonl');
    writeFileSync(file, `${good}\n`);
    // The log lost its last record: the vault write is refused once the records are staged.
    const log = join(dir, 'secrets.vault.evidence.jsonl');
    const kept = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    writeFileSync(log, `${kept.slice(0, -1).join('\n')}\n`);
    const r = await cli(dir, ['add', 'q/q', '-t', 'generic', '--from-env', 'HOME']);
    expect(r.code).toBe(4);
    expect(r.stderr).not.toContain('carried');
    expect(readFileSync(file, 'utf8')).toBe(`${good}\n`);
  });

  it('so does one with unreadable lines deferred in the state folder: nothing is dropped, and none is said to be', async () => {
    const id = JSON.parse((await cli(dir, ['list', '--json'])).stdout).vault.vaultId as string;
    const file = await deferEvidence(join(dir, '.state/seen.json'), id, {
      at: '2026-01-01T00:00:00.000Z',
      event: 'entry.get',
      data: { entry: 'a@1' },
      why: 'read-only',
    });
    writeFileSync(file, `${readFileSync(file, 'utf8')}{not json\n`);
    const deferred = readFileSync(file, 'utf8');
    const log = join(dir, 'secrets.vault.evidence.jsonl');
    const kept = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    writeFileSync(log, `${kept.slice(0, -1).join('\n')}\n`);
    const r = await cli(dir, ['add', 'q/q', '-t', 'generic', '--from-env', 'HOME']);
    expect(r.code).toBe(4);
    expect(r.stderr).not.toContain('dropped');
    expect(readFileSync(file, 'utf8')).toBe(deferred);
    // Once the log is whole again, the write takes the records and says what it dropped.
    writeFileSync(log, `${kept.join('\n')}\n`);
    const w = await cli(dir, ['add', 'q/q', '-t', 'generic', '--from-env', 'HOME']);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stderr).toContain('dropped 1 unreadable deferred evidence line(s) kept in the state folder');
  });

  it("a combine into the vault's own folder records into its log without a notice about its own record", async () => {
    const r = await cli(dir, ['escrow', 'combine', '-o', 'k2.key', ...SHARES]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('(escrow.combine)');
    expect(r.stderr).not.toContain('carried');
    expect(existsSync(join(dir, 'k2.key.evidence-pending.jsonl'))).toBe(false);
  });
});
