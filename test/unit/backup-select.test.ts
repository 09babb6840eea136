import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BackupManifest } from '../../src/backup/manifest.js';
import type { Listed } from '../../src/backup/repo.js';
import { latestSet, newestVerified, parseBefore, pathInRepo, selectBackup } from '../../src/backup/select.js';

/** A listed backup made at `at` (its file named by it, as the repository names them). */
function made(component: string, at: string, o: { ok?: boolean; signer?: string; kind?: string; set?: BackupManifest['set']; database?: string } = {}): Listed {
  const stamp = at.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const file = `${stamp}-${component.length.toString(16).padStart(8, '0')}.x.age`;
  const m = {
    component,
    file,
    kind: o.kind ?? 'postgres',
    startedAt: at,
    finishedAt: at,
    verification: { at, ok: o.ok ?? true, check: 'x', message: '' },
    signer: { id: o.signer ?? 'good', publicKey: o.signer ?? 'good' },
    source: { database: o.database ?? component.split('/')[1]!, machine: 'db1' },
    ...(o.set ? { set: o.set } : {}),
  } as unknown as BackupManifest;
  return { component, file, manifest: m };
}

const NOW = new Date('2026-12-06T12:00:00Z');
const trusted = (m: BackupManifest) => m.signer.id === 'good';

describe('selecting backups (restic latest and --time)', () => {
  const a1 = made('postgres/app', '2026-12-01T02:00:00Z');
  const a2 = made('postgres/app', '2026-12-03T02:00:00Z');
  const a3 = made('postgres/app', '2026-12-05T02:00:00Z', { ok: false });
  const a4 = made('postgres/app', '2026-12-06T02:00:00Z', { signer: 'stranger' });
  const future = made('postgres/app', '2026-12-07T02:00:00Z');
  const cut: Listed = { component: 'postgres/app', file: '20261206T030000Z-0000beef.x.age', problem: 'no manifest' };
  const r1 = made('redis/cache', '2026-12-02T00:00:00Z');
  const all = [a1, a2, a3, a4, future, cut, r1];

  it('a component names its newest verified backup, saying what newer ones were passed over and why', () => {
    const s = newestVerified(all, 'postgres/app', { now: NOW, trusted });
    expect(s.backup).toBe(a2);
    expect(s.by).toBe('latest');
    expect(s.why).toBe(
      'the newest verified backup of postgres/app, made 2026-12-03T02:00:00Z (3 days ago), verified 2026-12-03T02:00:00Z; 1 newer one passed over: dated in the future; 1 newer one passed over: not signed by a host the vault trusts; 1 newer one passed over: its verification failed',
    );
    // Without the vault to judge signers, the stranger's counts (restore and verify pass it; list has no vault).
    expect(newestVerified(all, 'postgres/app', { now: NOW }).backup).toBe(a4);
  });

  it('--before: the newest verified backup finished at or before the time', () => {
    expect(newestVerified(all, 'postgres/app', { now: NOW, before: new Date('2026-12-03T02:00:00Z') }).backup).toBe(a2);
    expect(newestVerified(all, 'postgres/app', { now: NOW, before: new Date('2026-12-03T01:59:59Z') }).backup).toBe(a1);
    expect(() => newestVerified(all, 'postgres/app', { now: NOW, before: new Date('2026-11-01T00:00:00Z') })).toThrow(
      'no verified backup of postgres/app finished before 2026-11-01T00:00:00Z in the repository (its 6 backup(s) are all newer)',
    );
  });

  it('none verified: not found, counting why each does not count', () => {
    expect(() => newestVerified([a3, cut], 'postgres/app', { now: NOW })).toThrow(
      'no verified backup of postgres/app in the repository (1 its verification failed; 1 damaged or incomplete)',
    );
    expect(() => newestVerified(all, 'postgres/none', { now: NOW })).toThrow('no backup of postgres/none in the repository');
  });

  it('one grammar: COMPONENT, COMPONENT@latest, COMPONENT/FILE, FILE alone', () => {
    const o = { now: NOW, trusted };
    expect(selectBackup(all, 'postgres/app', o).backup).toBe(a2);
    expect(selectBackup(all, 'postgres/app@latest', o).backup).toBe(a2);
    expect(selectBackup(all, `postgres/app/${a1.file}`, o)).toMatchObject({ backup: a1, by: 'name' });
    expect(selectBackup(all, r1.file, o).backup).toBe(r1);
    expect(() => selectBackup(all, `postgres/app/${a1.file}@latest`, o)).toThrow('@latest follows a component');
    expect(() => selectBackup(all, 'postgres/gone', o)).toThrow('no backup of postgres/gone in the repository');
    expect(() => selectBackup(all, 'nothing.age', o)).toThrow('no backup nothing.age in the repository');
    // Another word after @ is said to be one, with the word that works.
    for (const w of ['newest', 'last', '2', ''])
      expect(() => selectBackup(all, `postgres/app@${w}`, o)).toThrow(
        `postgres/app@${w}: @${w} names no backup: only @latest follows a component (postgres/app@latest, its newest verified backup)`,
      );
    // A file name two components share must be named with its component.
    const twin = { ...r1, component: 'redis/other' };
    expect(() => selectBackup([r1, twin], r1.file, o)).toThrow(`${r1.file} names 2 backups: give COMPONENT/FILE`);
  });
});

describe('--before TIME', () => {
  it.each([
    ['2026-12-01', '2026-12-01T00:00:00.000Z'],
    ['2026-12-01T10:00:00Z', '2026-12-01T10:00:00.000Z'],
    ['2026-12-01T10:00:00+02:00', '2026-12-01T08:00:00.000Z'],
    ['2026-12-01 10:00:00+00', '2026-12-01T10:00:00.000Z'],
    ['36h', '2026-12-05T00:00:00.000Z'],
    ['1w2d', '2026-11-27T12:00:00.000Z'],
    ['1mo', '2026-11-06T12:00:00.000Z'],
  ])('%s is %s', (text, iso) => {
    expect(parseBefore(text, NOW, '--before').toISOString()).toBe(iso);
  });

  it.each([
    ['2026-12-01T10:00', 'give a time zone'],
    ['2026-13-45', 'not a date'],
    ['yesterday', 'neither a date or time (2026-12-01, 2026-12-01T10:00:00Z) nor a duration ago (36h, 7d)'],
  ])('%s is refused: %s', (text, msg) => {
    expect(() => parseBefore(text, NOW, '--before')).toThrow(msg);
  });
});

describe('a path to a backup file', () => {
  it('is COMPONENT/FILE of the repository folder three levels up (its manifest too); anything else is not a backup path', () => {
    const root = mkdtempSync(join(tmpdir(), 'vt-select-'));
    try {
      mkdirSync(join(root, 'out/files/config'), { recursive: true });
      writeFileSync(join(root, 'out/files/config/20261206T000000Z-abcd1234.tar.age'), '');
      writeFileSync(join(root, 'out/files/config/20261206T000000Z-abcd1234.tar.age.manifest.json'), '');
      writeFileSync(join(root, 'out/files/config/notes.txt'), '');
      mkdirSync(join(root, 'out/elsewhere/x'), { recursive: true });
      writeFileSync(join(root, 'out/elsewhere/x/a.age'), '');
      const want = { repoDir: join(root, 'out'), name: 'files/config/20261206T000000Z-abcd1234.tar.age' };
      expect(pathInRepo('out/files/config/20261206T000000Z-abcd1234.tar.age', root)).toEqual(want);
      expect(pathInRepo(join(root, 'out/files/config/20261206T000000Z-abcd1234.tar.age.manifest.json'), '/')).toEqual(want);
      expect(pathInRepo('out/files/config/notes.txt', root)).toBeNull();
      expect(pathInRepo('out/elsewhere/x/a.age', root)).toBeNull();
      expect(pathInRepo('out/files/config/missing.age', root)).toBeNull();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('a set of databases (one backup of every database, the globals last)', () => {
  const set = (id: string, at: string, extra: { bad?: string; lacking?: string } = {}) => {
    const members = ['postgres/app', 'postgres/users', 'postgres/globals'];
    const dbs = ['postgres/app', 'postgres/users'].filter((c) => c !== extra.lacking).map((c) => made(c, at, { set: { id }, ok: c !== extra.bad }));
    return [...dbs, made('postgres/globals', at.replace(':00Z', ':30Z'), { kind: 'postgres-globals', set: { id, members } })];
  };
  const old = set('s1', '2026-12-01T02:00:00Z');
  const mid = set('s2', '2026-12-03T02:00:00Z');
  const broken = set('s3', '2026-12-05T02:00:00Z', { bad: 'postgres/users' });
  const partial = set('s4', '2026-12-06T02:00:00Z', { lacking: 'postgres/app' });
  const lone = made('postgres/app', '2026-12-06T03:00:00Z');
  const all = [...old, ...mid, ...broken, ...partial, lone];

  it('the newest whole set: the globals first, then each database; sets with a member missing or failed passed over', () => {
    const s = latestSet(all, { now: NOW });
    expect(s.id).toBe('s2');
    expect(s.members.map((m) => m.backup.component)).toEqual(['postgres/globals', 'postgres/app', 'postgres/users']);
    expect(s.members.every((m) => m.manifest?.set?.id === 's2')).toBe(true);
    expect(s.why).toBe(
      'the newest whole set, made 2026-12-03T02:00:30Z (3 days ago) on db1, 3 backups; passed over: set s4 (2026-12-06T02:00:30Z): postgres/app: missing; set s3 (2026-12-05T02:00:30Z): postgres/users: its verification failed',
    );
  });

  it('before a time, or by its id; none whole is not found', () => {
    expect(latestSet(all, { now: NOW, before: new Date('2026-12-02T00:00:00Z') }).id).toBe('s1');
    expect(latestSet(all, { now: NOW, id: 's1' }).id).toBe('s1');
    expect(() => latestSet(all, { now: NOW, id: 's3' })).toThrow(
      'no whole set of databases s3 in the repository (set s3 (2026-12-05T02:00:30Z): postgres/users: its verification failed)',
    );
    expect(() => latestSet([lone], { now: NOW })).toThrow('no whole set of databases in the repository');
  });
});
