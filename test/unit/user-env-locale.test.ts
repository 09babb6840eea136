import { describe, expect, it } from 'vitest';
import { BACKGROUND_SETTINGS, envForProcess, LOCALE_NAMES } from '../../src/tool/user-env.js';

describe('the locale variables a process run as another user or in the background gets', () => {
  const standard = ['LC_ALL', 'LC_CTYPE', 'LC_COLLATE', 'LC_MESSAGES', 'LC_MONETARY', 'LC_NUMERIC', 'LC_TIME'];
  const glibc = ['LC_ADDRESS', 'LC_IDENTIFICATION', 'LC_MEASUREMENT', 'LC_NAME', 'LC_PAPER', 'LC_TELEPHONE'];

  it('passes each standard locale category by name', () => {
    const env = Object.fromEntries([...standard, ...glibc].map((k) => [k, 'C.UTF-8']));
    expect(envForProcess(env, BACKGROUND_SETTINGS, { user: 'postgres', home: '/var/lib/postgresql' })).toMatchObject(env);
    expect([...LOCALE_NAMES].sort()).toEqual([...standard, ...glibc].sort());
  });

  it('passes no other LC_ name: SSH carries LC_* from the client, and a value there may be a credential', () => {
    const env = envForProcess(
      { PATH: '/usr/bin', LC_ALL: 'C', LC_TOKEN: 'ghp_secret', LC_GITHUB_TOKEN: 'ghp_secret', LC_X: 'secret', LC_SECRET: 'secret' },
      BACKGROUND_SETTINGS,
      { user: 'postgres', home: '/var/lib/postgresql' },
    );
    expect(env).toEqual({ PATH: '/usr/bin', LC_ALL: 'C', HOME: '/var/lib/postgresql', USER: 'postgres', LOGNAME: 'postgres' });
    expect(JSON.stringify(envForProcess({ LC_TOKEN: 'ghp_secret' }))).not.toContain('secret');
  });
});
