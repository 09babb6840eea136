import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mayEnter, unreachable } from '../../src/drill/step-pitr.js';
import { userIds } from '../../src/tool/postgres.js';
import { skipUnless } from '../helpers/require.js';

/**
 * Whether the drill's throwaway PostgreSQL, run as `postgres` by runuser
 * (which gives it every group the account is in), can reach the scratch
 * folder: decided as the kernel decides, a folder's group bit counting for
 * a supplementary group too (postgres is in ssl-cert on Debian).
 */
describe('mayEnter', () => {
  const owner = { uid: 1001, gid: 1001, groups: [1001, 34] };
  it.each([
    [{ uid: 1001, gid: 0, mode: 0o700 }, true],
    [{ uid: 0, gid: 1001, mode: 0o750 }, true],
    // A supplementary group (backup, 34): its group bit.
    [{ uid: 0, gid: 34, mode: 0o750 }, true],
    [{ uid: 0, gid: 34, mode: 0o705 }, false],
    [{ uid: 0, gid: 0, mode: 0o750 }, false],
    [{ uid: 0, gid: 0, mode: 0o751 }, true],
    // The owner's bit alone counts for the owner, whatever the others may.
    [{ uid: 1001, gid: 34, mode: 0o077 }, false],
  ])('%o → %s', (st, want) => {
    expect(mayEnter(st, owner)).toBe(want);
  });
});

describe('the server user of this host', () => {
  it('its ids come with its supplementary groups; a folder open to one of them alone is reachable', async (ctx) => {
    const account = spawnSync('id', ['-G', 'postgres'], { encoding: 'utf8' });
    skipUnless(ctx, account.status === 0 && process.getuid?.() === 0, 'needs root and a postgres account (the drill runs its server as postgres when root)');
    const ids = await userIds('postgres', process.env, 10_000);
    expect(ids.uid).toBe(Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })));
    expect([...ids.groups].sort()).toEqual(account.stdout.trim().split(/\s+/).map(Number).sort());
    const extra = ids.groups.find((g) => g !== ids.gid);
    skipUnless(ctx, extra !== undefined, 'the postgres account is in no group but its own (Debian puts it in ssl-cert)');
    const top = mkdtempSync(join(tmpdir(), 'vt-reach-'));
    try {
      const closed = join(top, 'closed');
      mkdirSync(closed);
      chownSync(closed, 0, extra!);
      chmodSync(closed, 0o750);
      chmodSync(top, 0o755);
      expect(unreachable(join(closed, 'drill'), ids)).toBeNull();
      chmodSync(closed, 0o700);
      expect(unreachable(join(closed, 'drill'), ids)).toMatch(/closed \(mode 700, owner 0\)$/);
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  });
});
