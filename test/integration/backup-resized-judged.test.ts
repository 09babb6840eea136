import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir, type CliOptions } from '../helpers/cli.js';

/**
 * A stored file whose listed size is not its manifest's does not count, and
 * prune leaves it in place until a full read has judged it. The flag is the
 * listing's, never stored: it goes as soon as the listing shows the
 * manifest's size again (the file put back whole), and a full read alone
 * does not override a listing that disagrees. The routine verification that
 * reads a sample of the repository (`verify --read-data 10%`) always reads
 * such a file, so that its judgment is made and recorded rather than left
 * pending for ever.
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
const NOW = '2026-03-20T12:00:00Z';

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-resized-judged-'));
  expect((await vt(['init'])).code).toBe(0);
  for (let day = 1; day <= 12; day++) {
    const b = await vt(
      ['backup', 'exec', '--name', 'blob', '-r', 'repo', '--', 'head', '-c', '20000', '/dev/urandom'],
      at(`2026-03-${String(day).padStart(2, '0')}T10:00:00Z`),
    );
    expect(b.code, b.stderr).toBe(0);
  }
}, 120_000);
afterAll(() => cleanup());

describe('a backup flagged by its listed size', () => {
  it('the sampled verification reads it in full, records the verdict, and prune then acts on it', async () => {
    const files = stored();
    // An older one (not the newest, never the least recently read first): a 10% sample would otherwise pass it by.
    const cut = files[5]!;
    const size = readFileSync(join(folder(), cut)).length;
    truncateSync(join(folder(), cut), size - 1000);
    const v = await vt(['verify', '-r', 'repo', '--read-data', '10%', '--signing-key', join(dir, '.state', 'signing.key'), '--json'], at(NOW));
    expect(v.code).toBe(8);
    const verdict = JSON.parse(v.stdout).backups.find((b: { file: string }) => b.file === cut);
    expect(verdict).toMatchObject({ verdict: 'failed', message: expect.stringMatching(/^decryption failed: .*\(the file was truncated or altered\)$/) });
    const m = JSON.parse(readFileSync(join(folder(), `${cut}.manifest.json`), 'utf8'));
    expect(m.verification).toMatchObject({ ok: false, check: expect.stringMatching(/^full read/) });
    const plan = JSON.parse((await vt(['backup', 'prune', '--keep-last', '20', '-r', 'repo', '--json'], at(NOW))).stdout);
    expect(plan.decisions.find((x: { file: string }) => x.file === cut)).toMatchObject({
      keep: false,
      reasons: [expect.stringMatching(/^not a good backup \(failed verification: decryption failed/)],
    });
  }, 120_000);

  it("put back whole, it counts again at once: the flag is the listing's, never stored", async () => {
    const file = stored().at(-1)!;
    const good = readFileSync(join(folder(), file));
    const problem = async () =>
      (JSON.parse((await vt(['backup', 'list', 'exec/blob', '-r', 'repo', '--json'], at(NOW))).stdout) as { file: string; problem?: string }[]).find(
        (b) => b.file === file,
      )?.problem;
    truncateSync(join(folder(), file), good.length - 10);
    expect(await problem()).toMatch(/^the stored file is \d+ bytes, its manifest says \d+/);
    writeFileSync(join(folder(), file), good);
    expect(await problem()).toBeUndefined();
    // The newest verified backup of the component again: the one made on the 12th.
    const s = await vt(['backup', 'status', '-r', 'repo', '--json'], at(NOW));
    const [c] = JSON.parse(s.stdout).components ?? JSON.parse(s.stdout);
    expect(c).toMatchObject({ component: 'exec/blob', lastVerifiedAt: expect.stringMatching(/^2026-03-12T10:00/) });
  }, 60_000);
});
