import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lowerSessionPriority } from '../../src/age/workers.js';
import { skipUnless } from '../helpers/require.js';

const autogroup = (() => {
  try {
    return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
  } catch {
    return false;
  }
})();

/** Runs lowerSessionPriority(by) in a new node process (in a session of its own with setsid) and returns its autogroup line. */
function groupAfter(by: number, setsid: boolean): string {
  const code = `(${lowerSessionPriority.toString()})(require('node:fs'), ${by}); process.stdout.write(require('node:fs').readFileSync('/proc/self/autogroup', 'utf8'))`;
  const r = spawnSync(setsid ? 'setsid' : process.execPath, setsid ? ['--wait', process.execPath, '-e', code] : ['-e', code], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('lowerSessionPriority', () => {
  it("lowers its own session's scheduling group, only when it leads the session (a prefetcher started by setsid)", async (ctx) => {
    skipUnless(ctx, autogroup, 'the kernel schedules no autogroups here (sched_autogroup_enabled is not 1)');
    // The kernel takes one such change a second on the whole machine: another one just made is waited out.
    let line = '';
    for (let i = 0; i < 5 && !/nice 5\b/.test(line); i++) {
      if (i) await new Promise((r) => setTimeout(r, 1100));
      line = groupAfter(5, true);
    }
    expect(line).toMatch(/nice 5\b/);
    // Not a session leader: its group is the session's it was started in, left as it was.
    const mine = readFileSync('/proc/self/autogroup', 'utf8');
    await new Promise((r) => setTimeout(r, 1100));
    expect(groupAfter(5, false)).toBe(mine);
  });
});
