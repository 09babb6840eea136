import { describe, expect, it } from 'vitest';
import { chooseForReading } from '../../src/backup/audit.js';
import type { BackupManifest } from '../../src/backup/manifest.js';
import type { Listed } from '../../src/backup/repo.js';

const backup = (component: string, day: number, readOn?: number): Listed => ({
  component,
  file: `2026010${day}T000000Z-0000000${day}.bin.age`,
  manifest: {
    finishedAt: `2026-01-0${day}T00:00:00.000Z`,
    verification: readOn ? { at: `2026-02-0${readOn}T00:00:00.000Z`, ok: true, check: 'decrypt', message: '' } : null,
  } as unknown as BackupManifest,
});

describe('which backups a verification reads in full', () => {
  const all = [
    backup('a', 1, 5),
    backup('a', 2, 1),
    backup('a', 3, 2),
    backup('b', 1, 3),
    backup('b', 2, 4),
    { component: 'b', file: 'broken', problem: 'no manifest' },
  ];
  const names = (s: Set<Listed>) => [...s].map((b) => `${b.component}${b.file[7]}`).sort();

  it('all, none, or a share that always holds the newest of each component', () => {
    expect(chooseForReading(all, true).size).toBe(6);
    expect(chooseForReading(all, false).size).toBe(0);
    // 1% of 5 rounds up to one, but the newest of each of the two components always count.
    expect(names(chooseForReading(all, 0.01))).toEqual(['a3', 'b2']);
  });

  it('beyond those, the least recently read first, so successive runs rotate through the repository', () => {
    expect(names(chooseForReading(all, 0.6))).toEqual(['a2', 'a3', 'b2']);
    expect(names(chooseForReading(all, 0.8))).toEqual(['a2', 'a3', 'b1', 'b2']);
  });
});
