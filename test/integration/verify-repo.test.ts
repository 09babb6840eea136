import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

/**
 * The quarterly verification checks the backup repository that every
 * backup command and `status` read: with VAULT_TOOL_BACKUP_REPO set (as the
 * runbook has it), `verify` without -r verifies those backups too, and
 * never says PASSED over a repository whose newest backup is gone.
 */
let dir: string;
let cleanup: () => void;
const env = { VAULT_TOOL_BACKUP_REPO: 'repo' };

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-verify-repo-'));
  expect((await cli(dir, ['init'])).code).toBe(0);
  const b = await cli(dir, ['backup', 'exec', '--name', 'blob', '--', 'head', '-c', '1000', '/dev/urandom'], { env });
  expect(b.code, b.stderr).toBe(0);
});
afterAll(() => cleanup());

describe('verify and the repository of VAULT_TOOL_BACKUP_REPO', () => {
  it('checks its backups, as status does', async () => {
    const ok = await cli(dir, ['verify', '--json'], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).backups).toEqual([expect.objectContaining({ component: 'exec/blob', verdict: 'ok' })]);
    const folder = join(dir, 'repo/exec/blob');
    for (const f of readdirSync(folder).filter((n) => n.endsWith('.age'))) rmSync(join(folder, f));
    const st = await cli(dir, ['backup', 'status', '--json'], { env });
    expect(JSON.parse(st.stdout)).toEqual([expect.not.objectContaining({ lastVerifiedAt: expect.anything() })]);
    const r = await cli(dir, ['verify', '--json'], { env });
    expect(r.code).toBe(8);
    expect(JSON.parse(r.stdout).backups).toEqual([
      expect.objectContaining({ component: 'exec/blob', verdict: 'failed', message: 'the backup file is missing (its manifest is there)' }),
    ]);
  });

  it('a --read-data that is no percentage is a usage error (exit 2), as every bad option value is', async () => {
    for (const v of ['0%', '150%', 'ten']) {
      const r = await cli(dir, ['verify', '--read-data', v], { env });
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n')[0]).toBe(`vault-tool: error: --read-data "${v}": give a percentage from 1% to 100% (10%), or nothing to read every backup`);
    }
  });

  it('-r still names another repository, and without either no backup is checked', async () => {
    const r = await cli(dir, ['verify', '--json', '-r', 'elsewhere'], { env });
    expect(r.code).toBe(8);
    expect(JSON.stringify(JSON.parse(r.stdout).checks)).toContain('elsewhere');
    const none = await cli(dir, ['verify', '--json']);
    expect(none.code, none.stderr).toBe(0);
    expect(JSON.parse(none.stdout).backups).toEqual([]);
  });
});
