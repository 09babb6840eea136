import { describe, expect, it } from 'vitest';
import { chooseForReading } from '../../src/backup/audit.js';
import type { BackupManifest } from '../../src/backup/manifest.js';
import type { Listed } from '../../src/backup/repo.js';
import { backupFindings, backupStatus } from '../../src/backup/status.js';

/**
 * A backup whose full read failed does not count until a full read passes
 * it, even once its file is put back whole: status names it (a failure, with
 * why), and every verification that reads data reads it again, rather than
 * the rotation coming back to it last (it was read most recently).
 */
const backup = (day: number, verification: { ok: boolean; on: number; message?: string } | null): Listed => ({
  component: 'files/cfg',
  file: `2026010${day}T000000Z-0000000${day}.tar.age`,
  manifest: {
    finishedAt: `2026-01-0${day}T00:00:00.000Z`,
    keyId: 'k1',
    verification: verification
      ? { at: `2026-02-0${verification.on}T00:00:00.000Z`, ok: verification.ok, check: 'full read (tar -t)', message: verification.message ?? '' }
      : null,
  } as unknown as BackupManifest,
});

describe('a backup whose full read failed', () => {
  const all = [
    backup(1, { ok: true, on: 1 }),
    backup(2, { ok: false, on: 9, message: 'decryption failed: payload chunk 0 failed authentication' }),
    backup(3, { ok: true, on: 2 }),
  ];

  it('is read again by every verification that reads data, whatever share it reads', () => {
    const names = (s: Set<Listed>) => [...s].map((b) => b.file.slice(7, 8)).sort();
    // The newest (3) always, then the least recently read (1); 2 was read last, but its verdict waits on a full read.
    expect(names(chooseForReading(all, 0.01))).toEqual(['2', '3']);
    expect(names(chooseForReading(all, false))).toEqual([]);
  });

  it('is named by status with why, a failure; the newest good one is what counts', () => {
    const [s] = backupStatus(all, undefined, undefined, new Date('2026-03-01T00:00:00Z'));
    expect(s).toMatchObject({
      component: 'files/cfg',
      lastVerifiedAt: '2026-01-03T00:00:00.000Z',
      excluded: [
        {
          file: all[1]!.file,
          why: 'its full read failed (recorded 2026-02-09T00:00:00.000Z: decryption failed: payload chunk 0 failed authentication)',
        },
      ],
    });
    expect(backupFindings(s!)).toEqual({
      failed: [
        `files/cfg/${all[1]!.file} does not count: its full read failed (recorded 2026-02-09T00:00:00.000Z: decryption failed: payload chunk 0 failed authentication); a full read judges it again, and only a pass makes it count`,
      ],
      inconclusive: [],
    });
  });

  it('a backup never read, or read and passed, is no finding', () => {
    const [s] = backupStatus([backup(1, null), backup(3, { ok: true, on: 2 })], undefined, undefined, new Date('2026-03-01T00:00:00Z'));
    expect(s!.excluded).toBeUndefined();
    expect(backupFindings(s!).failed).toEqual([]);
  });
});
