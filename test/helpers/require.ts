import { spawnSync } from 'node:child_process';
import type { TestContext } from 'vitest';

/**
 * What a test needs from the machine it runs on. A test that cannot run
 * here is skipped, saying why, and never reported as passed; under CI=true
 * (.ci/run installs everything) a missing need fails the run instead.
 */
const CI = process.env.CI === 'true';

/** Whether the binary `name` runs here; under CI=true its absence fails the run. */
export function needs(name: string, versionArgs: string[] = ['--version']): boolean {
  const ok = !spawnSync(name, versionArgs, { stdio: 'ignore' }).error;
  if (!ok && CI) throw new Error(`${name} is required in CI but is not installed (.ci/run installs it)`);
  return ok;
}

/**
 * Skips the running test with `reason` when `ok` is false, for what only the
 * test finds out (a tmpfs that would not mount); under CI=true fails it.
 * Call it before the test asserts anything, or where what follows is all
 * that needs it.
 */
export function skipUnless(ctx: TestContext, ok: boolean, reason: string): void {
  if (ok) return;
  if (CI) throw new Error(`${reason}, and CI runs every test`);
  ctx.skip(reason);
}

/** A small tmpfs mounted on `dir` (a real full disk; mounting needs root): whether it is, and why not. */
export function mountTmpfs(dir: string, options: string): { mounted: boolean; why: string } {
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  return m.status === 0 ? { mounted: true, why: '' } : { mounted: false, why: `a tmpfs cannot be mounted here (it needs root): ${m.stderr.trim()}` };
}
