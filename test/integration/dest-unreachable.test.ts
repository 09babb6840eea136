import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, haveBinary, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';

/**
 * A remote that cannot be asked is not a remote that answered "it is not
 * there". rclone logs `NOTICE: Config file … not found` whenever it runs
 * without a config file; words in its log never decide a verdict, its exit
 * code and the object asked for do. A place out of reach is inconclusive
 * (docs/DESIGN.md, "Verdicts"): never a missing copy, an absent repository,
 * or a delete that happened.
 */
const HAVE_RCLONE = haveBinary('rclone', ['version']);

let dir: string;
let cleanup: () => void;

/** No rclone config file at all: only remotes defined in the environment exist. */
const NO_CONFIG = () => ({ RCLONE_CONFIG: join(dir, 'no-such-rclone.conf') });
/** An sftp remote on a port nothing listens on (the connection is refused). */
const REFUSED = {
  RCLONE_CONFIG_DEAD_TYPE: 'sftp',
  RCLONE_CONFIG_DEAD_HOST: '127.0.0.1',
  RCLONE_CONFIG_DEAD_PORT: '1',
  RCLONE_CONFIG_DEAD_USER: 'nobody',
  // `rclone obscure x`: a password, so that rclone dials instead of asking an ssh agent.
  RCLONE_CONFIG_DEAD_PASS: 'eLeBKFbPGhjDM3kRGd1ksV4',
  VAULT_TOOL_TIMEOUT: '3s',
};

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  cli(dir, args, { ...opts, env: { ...NO_CONFIG(), RCLONE_CONFIG_OFF_TYPE: 'local', ...opts.env } });

beforeEach(async () => {
  ({ dir, cleanup } = tempDir('vt-unreachable-'));
  expect((await vt(['init'])).code).toBe(0);
  expect((await vt(['add', 'a', '-t', 'kek', '--generate'])).code).toBe(0);
});
afterEach(() => cleanup());

describe.skipIf(!HAVE_RCLONE)('an unreachable or misconfigured rclone remote is inconclusive, never a missing copy', () => {
  it('a registered copy on a remote that is no longer configured: verify says unreachable (exit 20), not missing', async () => {
    const c = await vt(['copy', '--to', `far:${join(dir, 'far')}`, '--json'], { env: { RCLONE_CONFIG_FAR_TYPE: 'local' } });
    expect(c.code, c.stderr).toBe(0);
    // The remote `far` is no longer defined: rclone cannot even create it.
    const r = await vt(['verify', '--json']);
    expect(r.code, r.stderr).toBe(20);
    const f = JSON.parse(r.stdout).checks.find((x: { area: string }) => x.area === 'copies');
    expect(f.verdict).toBe('inconclusive');
    expect(f.message).not.toMatch(/missing|not found/);
    expect(f.message).toMatch(/didn't find section in config file/);
  });

  it('a registered copy on a remote that refuses connections: verify says unreachable (exit 20), not missing', async () => {
    const c = await vt(['copy', '--to', `dead:${join(dir, 'far')}`, '--json'], {
      env: { RCLONE_CONFIG_DEAD_TYPE: 'alias', RCLONE_CONFIG_DEAD_REMOTE: join(dir, 'far') },
    });
    expect(c.code, c.stderr).toBe(0);
    const r = await vt(['verify', '--json'], { env: REFUSED });
    expect(r.code, r.stderr).toBe(20);
    const f = JSON.parse(r.stdout).checks.find((x: { area: string }) => x.area === 'copies');
    expect(f.verdict).toBe('inconclusive');
    expect(f.message).not.toMatch(/missing|not found/);
  });

  it('a repository on an unconfigured remote is out of reach (exit 1), not absent (exit 5)', async () => {
    for (const args of [
      ['backup', 'status', '-r', 'gone:repo'],
      ['backup', 'list', '-r', 'gone:repo'],
    ]) {
      const r = await vt(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).not.toContain('there is no backup repository');
    }
    // A remote that answers that the folder is not there is still an absent repository.
    const absent = await vt(['backup', 'status', '-r', `off:${join(dir, 'nothing-here')}`]);
    expect(absent.code, absent.stderr).toBe(5);
    expect(absent.stderr).toContain('there is no backup repository');
  });
});

describe.skipIf(!HAVE_RCLONE)('the destination layer classifies by exit code and object, not by words', () => {
  const io = (env: Record<string, string>) => ({ env: { PATH: process.env.PATH, HOME: dir, ...NO_CONFIG(), ...env } });

  it('reads, deletes, lists and probes on a missing config or a refused connection fail as io; a missing object on a live remote is not-found', async () => {
    const { parseDestination } = await import('../../src/dest/index.js');
    for (const [spec, env] of [
      ['gone:dir', {}],
      ['dead:dir', REFUSED],
    ] as const) {
      const d = parseDestination(spec, dir, io(env));
      await expect(d.read('x', 1024), `${spec} read`).rejects.toMatchObject({ kind: 'io' });
      // A delete on a remote that could not be asked did not happen.
      await expect(d.remove('x'), `${spec} remove`).rejects.toMatchObject({ kind: 'io' });
      await expect(d.list(), `${spec} list`).rejects.toMatchObject({ kind: 'io' });
      await expect(d.present(), `${spec} present`).rejects.toMatchObject({ kind: 'io' });
      // "Is it there?" unanswered is never a no (restore_command would end a recovery on it).
      await expect(d.has('x'), `${spec} has`).rejects.toMatchObject({ kind: 'io' });
    }
    mkdirSync(join(dir, 'live'));
    writeFileSync(join(dir, 'live', 'here'), 'x');
    const live = parseDestination(`off:${join(dir, 'live')}`, dir, io({ RCLONE_CONFIG_OFF_TYPE: 'local' }));
    mkdirSync(join(dir, 'live', 'sub'));
    // Asked about one object: a file is there, a missing name or a folder is not.
    expect(await live.has('here')).toBe(true);
    expect(await live.has('missing')).toBe(false);
    expect(await live.has('sub')).toBe(false);
    expect(await live.child('nothing').has('here')).toBe(false);
    await expect(live.read('missing', 1024)).rejects.toMatchObject({ kind: 'not-found' });
    await expect(live.remove('missing')).resolves.toBeUndefined();
    await expect(live.remove('here')).resolves.toBeUndefined();
    expect(await live.has('here')).toBe(false);
    expect(await live.list()).toEqual([]);
    expect(await live.child('nothing').list()).toEqual([]);
    expect(await live.child('nothing').present()).toBe(false);
  });
});

describe('a local folder that cannot be read is no answer either', () => {
  it('has() fails on a path it cannot look through (a loop of links), and says no only for a name that is not there', async () => {
    const { parseDestination } = await import('../../src/dest/index.js');
    mkdirSync(join(dir, 'folder'));
    writeFileSync(join(dir, 'folder', 'here'), 'x');
    symlinkSync('loop', join(dir, 'folder', 'loop'));
    const d = parseDestination(join(dir, 'folder'), dir, { env: {} });
    expect(await d.has('here')).toBe(true);
    expect(await d.has('missing')).toBe(false);
    expect(await d.has('here/below')).toBe(false);
    await expect(d.child('loop').has('x')).rejects.toMatchObject({ kind: 'io' });
  });
});
