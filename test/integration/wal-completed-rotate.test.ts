import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex, walSegment } from '../helpers/wal-segment.js';
import { cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';

/**
 * archive_command killed between a segment's file and its manifest, then
 * `backup key rotate`, then PostgreSQL's retry: the retry completes the file
 * (encrypted to the key before the rotation) and PostgreSQL drops its copy.
 * The archive must still give the segment back.
 */

describe('a segment whose push was killed, completed after backup key rotate', () => {
  let dir: string;
  let cleanup: () => void;
  const vt = (args: string[], o: CliOptions = {}): Promise<CliResult> => cli(dir, args, o);
  const n = '000000010000000000000001';
  const real = walSegment(1n, 0x5a);
  const wal = () => ['--cluster', 'main', '-r', 'repo'];
  const manifest = () => join(dir, 'repo', 'postgres-wal', 'main', 'segments', `${n}.age.manifest.json`);

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir('vt-wal-rotate-cli-'));
    expect((await vt(['init'])).code).toBe(0);
    // This host's signing key, trusted (wal-push signs with it, and does not register it).
    const pub = (await vt(['backup', 'key', 'signer'])).stdout.trim();
    expect((await vt(['backup', 'key', 'trust', pub, '--label', 'db1'])).code).toBe(0);
    mkdirSync(join(dir, 'pg_wal'));
    writeFileSync(join(dir, 'pg_wal', n), real);
    const first = await vt(['backup', 'wal-push', join('pg_wal', n), ...wal()]);
    expect(first.code, first.stderr).toBe(0);
    const before = JSON.parse(readFileSync(manifest(), 'utf8')).keyId as string;
    unlinkSync(manifest());
    const rotated = await vt(['backup', 'key', 'rotate']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const retry = await vt(['backup', 'wal-push', join('pg_wal', n), ...wal()]);
    expect(retry.code, retry.stderr).toBe(0);
    expect(before).toMatch(/^[0-9a-f]{16}$/);
  }, 60_000);
  afterAll(() => cleanup());

  it('the completed manifest names no key: the retry cannot tell which one the file it found is encrypted to', () => {
    expect(JSON.parse(readFileSync(manifest(), 'utf8'))).toMatchObject({ completed: true, keyId: '', recipient: '' });
  });

  it('wal-status names the completed file, which no full read has passed yet', async () => {
    const r = await vt(['backup', 'wal-status', ...wal()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `vault-tool: warning: ${n}: completed by a later push from a file found without its manifest, and no full read has passed it yet`,
    );
    expect(JSON.parse((await vt(['backup', 'wal-status', ...wal(), '--json'])).stdout).completedUnread).toEqual([n]);
  });

  it('wal-fetch gives the segment back (the vault holds both key versions)', async () => {
    const r = await vt(['backup', 'wal-fetch', n, 'restored', ...wal()]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256Hex(readFileSync(join(dir, 'restored')))).toBe(sha256Hex(real));
  });

  it('wal-verify --read-data reads it and passes it', async () => {
    const r = await vt(['backup', 'wal-verify', '--read-data', ...wal(), '--json']);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ counted: 1, read: 1, files: [] });
    // Read in full and passed: wal-status no longer names it.
    const after = await vt(['backup', 'wal-status', ...wal()]);
    expect(after.stderr).not.toContain('completed by a later push');
    expect(JSON.parse((await vt(['backup', 'wal-status', ...wal(), '--json'])).stdout).completedUnread).toBeUndefined();
  });
});
