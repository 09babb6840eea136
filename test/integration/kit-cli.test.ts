import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, spawnCli, tempDir, ROOT } from '../helpers/cli.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

const shipped = readFileSync(join(ROOT, 'dist/recovery-kit.html'));
const sha = createHash('sha256').update(shipped).digest('hex');

describe('vault-tool kit', () => {
  it('writes the shipped kit and prints its sha256, from the sources and from the built binary', async () => {
    const r = await cli(dir, ['kit', '--out', 'recovery.html']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      `wrote recovery.html (${shipped.length} bytes): open it in any browser, offline, to rebuild the vault key from shares and open the vault\nrecovery kit sha256: ${sha}\n`,
    );
    expect(readFileSync(join(dir, 'recovery.html')).equals(shipped)).toBe(true);
    expect(statSync(join(dir, 'recovery.html')).mode & 0o777).toBe(0o644);
    const bin = await spawnCli(dir, ['--json', 'kit', '--out', 'built.html']);
    expect(bin.code, bin.stderr).toBe(0);
    expect(JSON.parse(bin.stdout)).toEqual({ out: join(dir, 'built.html'), bytes: shipped.length, sha256: sha });
  });

  it('refuses to overwrite without --force, and needs --out', async () => {
    writeFileSync(join(dir, 'recovery.html'), 'mine');
    const r = await cli(dir, ['kit', '--out', 'recovery.html']);
    expect(r.code).toBe(10);
    expect(r.stderr).toContain('recovery.html already exists');
    expect(readFileSync(join(dir, 'recovery.html'), 'utf8')).toBe('mine');
    // --force replaces a kit, never a file of another kind.
    const forced = await cli(dir, ['kit', '--out', 'recovery.html', '--force']);
    expect(forced.code).toBe(10);
    expect(forced.stderr).toContain(`refusing to replace ${join(dir, 'recovery.html')}: it is not a recovery kit vault-tool wrote`);
    expect(readFileSync(join(dir, 'recovery.html'), 'utf8')).toBe('mine');
    expect((await cli(dir, ['kit', '--out', 'kit.html'])).code).toBe(0);
    writeFileSync(join(dir, 'kit.html'), readFileSync(join(dir, 'kit.html'), 'utf8').replace('</html>', '<!-- an older kit --></html>'));
    expect((await cli(dir, ['kit', '--out', 'kit.html', '--force'])).code).toBe(0);
    expect(readFileSync(join(dir, 'kit.html')).equals(shipped)).toBe(true);
    const none = await cli(dir, ['kit']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('say where to write the kit: --out recovery-kit.html');
  });

  it("every share sheet prints the kit's sha256", async () => {
    await cli(dir, ['init']);
    expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'alice', '-c', 'bob', '-o', 'shares'])).code).toBe(0);
    for (const f of ['share-01-alice.html', 'share-02-bob.html'])
      expect(readFileSync(join(dir, 'shares', f), 'utf8')).toContain(`recovery kit sha256: <code>${sha}</code>`);
  });
});
