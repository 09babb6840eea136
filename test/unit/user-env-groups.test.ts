import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { commandAs } from '../../src/tool/user-env.js';
import { skipUnless } from '../helpers/require.js';

/**
 * A process run as another account keeps that account's supplementary
 * groups: what it reads through one of them (a repository or identity file
 * group-readable to ssl-cert or a backup group) stays readable.
 */
const groupsOf = (args: string[], cmd = 'id'): number[] =>
  spawnSync(cmd, args, { encoding: 'utf8' })
    .stdout.trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .sort((a, b) => a - b);

/** An account (not root) that belongs to a group besides its own, from the group database. */
function memberOfAnother(): { user: string; uid: number; gid: number; extra: number } | null {
  for (const line of execFileSync('getent', ['group'], { encoding: 'utf8' }).split('\n')) {
    const [, , gid, members] = line.split(':');
    for (const user of (members ?? '').split(',').filter((u) => u && u !== 'root')) {
      const id = spawnSync('id', ['-u', user], { encoding: 'utf8' });
      if (id.status !== 0) continue;
      const primary = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
      if (primary !== Number(gid)) return { user, uid: Number(id.stdout.trim()), gid: primary, extra: Number(gid) };
    }
  }
  return null;
}

describe('a command run as another account', () => {
  it("has the account's supplementary groups, which spawn with { uid, gid } alone loses", (ctx) => {
    skipUnless(ctx, process.getuid?.() === 0, 'running as another account needs root');
    const a = memberOfAnother();
    skipUnless(ctx, a !== null, 'no account here belongs to a group besides its own');
    const { user, uid, gid, extra } = a!;
    const [cmd, args] = commandAs({ uid, gid }, 'id', ['-G']);
    const got = groupsOf(args, cmd);
    expect(got).toEqual(groupsOf(['-G', user]));
    expect(got).toContain(extra);
    // What spawn does with { uid, gid }: the primary group alone.
    expect(spawnSync('id', ['-G'], { uid, gid, encoding: 'utf8' }).stdout.trim()).toBe(String(gid));
    const [c2, a2] = commandAs({ uid, gid }, 'id', ['-u']);
    expect(spawnSync(c2, a2, { encoding: 'utf8' }).stdout.trim()).toBe(String(uid));
  });

  it('without an account, the command as it is', () => {
    expect(commandAs(undefined, 'sh', ['x', 'y'])).toEqual(['sh', ['x', 'y']]);
  });
});
