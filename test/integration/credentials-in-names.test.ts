import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

/**
 * Credentials written into a place's name (an rclone connection string, a
 * redis:// URI) would be on a tool's command line, in the manifests and in
 * messages: refused, the secret never repeated, nothing made.
 */
const SECRET = 'S3cretKEYdoNotShow';
let dir: string;
let cleanup: () => void;
beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
  writeFileSync(join(dir, 'f'), 'x');
});
afterEach(() => cleanup());

const RCLONE_HINT =
  "vault-tool: hint: give the remote's settings in rclone's configuration (rclone config) or its RCLONE_CONFIG_<REMOTE>_<KEY> variables, and name it as remote:path\n";

describe('credentials in the name of a place', () => {
  it.each([
    [['backup', 'files', 'f', '-r', `:s3,access_key_id=AKIA,secret_access_key=${SECRET}:bucket/p`], ':s3'],
    [['backup', 'files', 'f', '-r', `offsite,secret_access_key=${SECRET}:bucket`], 'offsite'],
    [['copy', '--to', `usb,pass=${SECRET}:/vault`], 'usb'],
    [['backup', 'bucket', `proofs,secret_access_key=${SECRET}:b`, '-r', 'repo'], 'proofs'],
  ])('an rclone connection string: %j', async (args, remote) => {
    const before = readdirSync(dir).sort();
    const r = await cli(dir, args);
    expect(r.stderr).toBe(
      `vault-tool: error: the destination ${remote},…: a remote with rclone settings in its name is refused: they would be on rclone's command line (ps) and in the destination's records\n` +
        RCLONE_HINT,
    );
    expect(r.code).toBe(2);
    // Read as a folder, it made one named after the key.
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('a redis:// URI with its password, on the command line or in a schedule plan', async () => {
    const r = await cli(dir, ['backup', 'redis', '-h', `redis://:${SECRET}@localhost`, '-r', 'repo']);
    expect(r.stderr).toBe(
      'vault-tool: error: the Redis host is a URI (or holds user@): a password in it would be on the command line of redis-cli (ps), in the manifest and in messages\n' +
        'vault-tool: hint: give the host name or address alone; the password goes in the environment variable REDISCLI_AUTH\n',
    );
    expect(r.code).toBe(2);
    writeFileSync(
      join(dir, 'plan.yaml'),
      `apiVersion: vault-tool/v1\nkind: SchedulePlan\nrepo: /srv/backups\njobs:\n  - { name: r, at: "0 2 * * *", redis: { host: "redis://:${SECRET}@db" } }\n`,
    );
    const s = await cli(dir, ['schedule', 'cron', '--plan', 'plan.yaml']);
    expect(s.code).toBe(11);
    expect(s.stderr).toContain('jobs[0].redis.host: the Redis host is a URI');
    expect(s.stderr + s.stdout).not.toContain(SECRET);
  });
});
