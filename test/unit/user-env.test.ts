import { describe, expect, it } from 'vitest';
import { accountOf, BACKGROUND_SETTINGS, envForProcess } from '../../src/tool/user-env.js';

describe('the environment of a process run as another user or in the background', () => {
  const caller = {
    PATH: '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    LC_ALL: 'C',
    LC_TIME: 'en_GB.UTF-8',
    TZ: 'Europe/Paris',
    HOME: '/root',
    USER: 'root',
    LOGNAME: 'root',
    VAULT_TOOL_TIMEOUT: '5m',
    VAULT_TOOL_COMMAND: '/usr/bin/node /opt/vault-tool.js',
    VAULT_TOOL_STATE_DIR: '/root/.local/state/vault-tool',
    VAULT_TOOL_BACKUP_IDENTITY: '/root/backup.id',
    MY_PASSPHRASE: 'secret',
    AWS_SECRET_ACCESS_KEY: 'secret',
    RCLONE_CONFIG: '/etc/rclone.conf',
    RCLONE_CONFIG_OFFSITE_PASS: 'secret',
    PGPASSWORD: 'secret',
    HTTPS_PROXY: 'http://u:secret@proxy:3128',
    NODE_OPTIONS: '--require /tmp/x.js',
    XDG_CONFIG_HOME: '/root/.config',
    LCX: 'not a locale variable',
    UNSET: undefined,
  };

  it('passes PATH, the locale and TZ only; another account gets its own HOME, USER and LOGNAME', () => {
    expect(envForProcess(caller, [], { user: 'postgres', home: '/var/lib/postgresql' })).toEqual({
      PATH: '/usr/bin:/bin',
      LANG: 'C.UTF-8',
      LC_ALL: 'C',
      LC_TIME: 'en_GB.UTF-8',
      TZ: 'Europe/Paris',
      HOME: '/var/lib/postgresql',
      USER: 'postgres',
      LOGNAME: 'postgres',
    });
  });

  it("a background vault-tool also gets its settings and rclone's configuration path, never a credential; the same user keeps its HOME", () => {
    const env = envForProcess(caller, BACKGROUND_SETTINGS);
    expect(env).toMatchObject({ VAULT_TOOL_TIMEOUT: '5m', VAULT_TOOL_COMMAND: caller.VAULT_TOOL_COMMAND, RCLONE_CONFIG: '/etc/rclone.conf', HOME: '/root' });
    expect(Object.values(env).join('\n')).not.toContain('secret');
    for (const k of ['VAULT_TOOL_STATE_DIR', 'VAULT_TOOL_BACKUP_IDENTITY', 'NODE_OPTIONS', 'XDG_CONFIG_HOME', 'LCX', 'UNSET'])
      expect(env[k], k).toBeUndefined();
  });

  it("an account's name and home, from the passwd database", async () => {
    expect(await accountOf('0', { PATH: process.env.PATH })).toMatchObject({ user: 'root', home: expect.stringMatching(/^\//) });
    await expect(accountOf('2000000123', { PATH: process.env.PATH })).rejects.toThrow();
  });
});
