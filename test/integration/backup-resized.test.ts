import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir, type CliOptions } from '../helpers/cli.js';

/**
 * A stored file whose size is not the one its signed manifest gives (cut
 * short by a full disk or a failed copy, or grown) cannot be restored. The
 * repository's listing carries every file's size, so status, the choice of
 * the newest verified backup and the quarterly check see it without
 * reading a byte: it does not count. A full read judges it and records the
 * verdict; until then prune leaves it in place.
 */
let dir: string;
let cleanup: () => void;
const vt = (args: string[], opts: CliOptions = {}) => cli(dir, args, opts);
const folder = () => join(dir, 'repo/exec/blob');
const stored = () =>
  readdirSync(folder())
    .filter((f) => f.endsWith('.age'))
    .sort();
const at = (d: string) => ({ now: new Date(d) });

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-resized-'));
  expect((await vt(['init'])).code).toBe(0);
  for (const d of ['2026-03-01T10:00:00Z', '2026-03-02T10:00:00Z']) {
    const b = await vt(['backup', 'exec', '--name', 'blob', '-r', 'repo', '--', 'head', '-c', '100000', '/dev/urandom'], at(d));
    expect(b.code, b.stderr).toBe(0);
  }
});
afterAll(() => cleanup());

describe('a stored file cut short after it was written', () => {
  let older: string;
  let newest: string;
  let good: Buffer;
  beforeAll(() => {
    [older, newest] = stored() as [string, string];
    good = readFileSync(join(folder(), newest));
    truncateSync(join(folder(), newest), good.length - 4096);
  });
  afterAll(() => writeFileSync(join(folder(), newest), good));

  it('is not the newest verified backup: status gives the one before it, and the RPO it misses', async () => {
    const r = await vt(['backup', 'status', '-r', 'repo', '--rpo', '1d', '--json'], at('2026-03-02T12:00:00Z'));
    expect(r.code).toBe(8);
    const [s] = JSON.parse(r.stdout).components ?? JSON.parse(r.stdout);
    expect(s).toMatchObject({ component: 'exec/blob', lastVerifiedAt: expect.stringMatching(/^2026-03-01T10:00/), rpoMissed: true });
    const list = await vt(['backup', 'list', 'exec/blob', '-r', 'repo', '--json'], at('2026-03-02T12:00:00Z'));
    expect(JSON.parse(list.stdout)).toContainEqual(
      expect.objectContaining({
        file: newest,
        problem: `the stored file is ${good.length - 4096} bytes, its manifest says ${good.length}: it was cut short or changed after it was written`,
      }),
    );
  });

  it('a restore of the component takes the one before it, and says why', async () => {
    const r = await vt(['backup', 'restore', 'exec/blob', '-o', 'blob.bin', '-r', 'repo'], at('2026-03-02T12:00:00Z'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("1 newer one passed over: cut short or altered after it was written (its stored size is not its manifest's)");
    expect(r.stderr).toContain(older);
  });

  it('the quick check fails it; prune leaves it until a full read has judged it, then removes it', async () => {
    // The quarterly verification reads no data by default: the listing is enough to fail it.
    const quick = await vt(['verify', '-r', 'repo', '--json'], at('2026-03-02T12:00:00Z'));
    expect(quick.code).toBe(8);
    expect(JSON.parse(quick.stdout).backups).toContainEqual(
      expect.objectContaining({ file: newest, verdict: 'failed', message: expect.stringMatching(/^the stored file is \d+ bytes, its manifest says \d+/) }),
    );
    const plan = async () =>
      JSON.parse((await vt(['backup', 'prune', '--keep-last', '1', '-r', 'repo', '--json'], at('2026-03-02T12:00:00Z'))).stdout).decisions.find(
        (x: { file: string }) => x.file === newest,
      );
    expect(await plan()).toMatchObject({ keep: true, reasons: [expect.stringMatching(/^does not count \(the stored file is \d+ bytes.*left in place/)] });
    const full = await vt(['backup', 'verify', `exec/blob/${newest}`, '-r', 'repo', '--json'], at('2026-03-02T12:00:00Z'));
    expect(full.code).toBe(8);
    expect(JSON.parse(full.stdout)[0].message).toMatch(/^decryption failed: .*\(the file was truncated or altered\)$/);
    expect(await plan()).toMatchObject({ keep: false, reasons: [expect.stringMatching(/^not a good backup \(failed verification: decryption failed/)] });
  });
});
