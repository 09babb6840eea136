import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { havePostgres, startPostgres, type Postgres } from '../helpers/servers.mjs';

/**
 * Restores leave nothing half-written and give away nothing the archive
 * carried: a failed extraction leaves no partial tree (it runs in a staging
 * folder beside the target, moved into place only when it succeeded), and
 * files restored as root belong to root under its umask (no setuid bits, no
 * foreign owners) unless asked. Tool errors keep the tool's own reason.
 */
let dir: string;
let cleanup: () => void;
let pg: Postgres | undefined;
const HAVE_PG = havePostgres();
const ROOT = process.getuid?.() === 0;

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> => cli(dir, args, { ...opts, env: { ...(pg?.env ?? {}), ...opts.env } });
let ref: string;

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-restore-'));
  if (HAVE_PG) pg = await startPostgres();
  expect((await vt(['init'])).code).toBe(0);
  mkdirSync(join(dir, 'app/bin'), { recursive: true });
  writeFileSync(join(dir, 'app/.env'), 'MODE=production\n');
  writeFileSync(join(dir, 'app/bin/tool'), '#!/bin/sh\necho hi\n');
  // chown first: it clears a setuid bit set before it.
  if (ROOT) chownSync(join(dir, 'app/bin/tool'), 12345, 12345);
  chmodSync(join(dir, 'app/bin/tool'), 0o4755);
  const b = await vt(['backup', 'files', '.env', 'bin', '-C', 'app', '--name', 'config', '-r', 'repo', '--json']);
  expect(b.code, b.stderr).toBe(0);
  ref = `files/config/${JSON.parse(b.stdout.trim().split('\n')[1]!).file}`;
}, 60_000);
afterAll(() => {
  pg?.stop();
  cleanup();
});

describe('restoring into a folder', () => {
  it('a failed extraction leaves no partial tree, neither the target nor a staging folder', async () => {
    // tar that writes part of the archive, then fails (as a full disk or a permission error does half-way).
    const fake = join(dir, 'failing-tar');
    mkdirSync(fake);
    writeFileSync(
      join(fake, 'tar'),
      '#!/bin/sh\nfor a in "$@"; do [ "$a" = -x ] && { /usr/bin/tar "$@"; echo "tar: bin/tool: Cannot write: No space left on device" >&2; exit 2; }; done\nexec /usr/bin/tar "$@"\n',
    );
    chmodSync(join(fake, 'tar'), 0o755);
    const r = await vt(['backup', 'restore', ref, '--to-dir', 'out/restored', '-r', 'repo'], { env: { PATH: `${fake}:${process.env.PATH}` } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/tar -x into .*out\/restored failed \(exit 2\): tar: bin\/tool: Cannot write: No space left on device/);
    // Nothing of it: not the target, not its parent (made for it), no staging folder.
    expect(existsSync(join(dir, 'out'))).toBe(false);
    // Into an existing folder: what was there stays, nothing is added.
    mkdirSync(join(dir, 'kept'));
    writeFileSync(join(dir, 'kept/mine.txt'), 'mine\n');
    const again = await vt(['backup', 'restore', ref, '--to-dir', 'kept', '-r', 'repo'], { env: { PATH: `${fake}:${process.env.PATH}` } });
    expect(again.code).not.toBe(0);
    expect(readdirSync(join(dir, 'kept'))).toEqual(['mine.txt']);
    expect(readdirSync(dir).filter((f) => f.includes('.restore-'))).toEqual([]);
  });

  it('a good restore lands whole, merged into an existing folder', async () => {
    const r = await vt(['backup', 'restore', ref, '--to-dir', 'kept', '-r', 'repo']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(dir, 'kept')).sort()).toEqual(['.env', 'bin', 'mine.txt']);
    expect(readFileSync(join(dir, 'kept/.env'), 'utf8')).toBe('MODE=production\n');
    expect(readdirSync(dir).filter((f) => f.includes('.restore-'))).toEqual([]);
  });

  it('--force replaces files in the folder, never a vault or a key file there', async () => {
    mkdirSync(join(dir, 'cfg'));
    writeFileSync(join(dir, 'cfg/secrets.vault'), 'an old note\n');
    writeFileSync(join(dir, 'cfg/vault.key'), 'another note\n');
    const b = await vt(['backup', 'files', 'secrets.vault', 'vault.key', '-C', 'cfg', '--name', 'notes', '-r', 'repo', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const notes = `files/notes/${JSON.parse(b.stdout.trim().split('\n')[1]!).file}`;
    mkdirSync(join(dir, 'live'));
    const vault = readFileSync(join(dir, 'secrets.vault'));
    const key = readFileSync(join(dir, 'vault.key'));
    writeFileSync(join(dir, 'live/secrets.vault'), vault);
    writeFileSync(join(dir, 'live/vault.key'), key);
    const r = await vt(['backup', 'restore', notes, '--to-dir', 'live', '--force', '-r', 'repo']);
    expect(r.code, r.stderr).toBe(10);
    expect(r.stderr).toContain('which vault-tool never replaces: nothing was restored');
    // The hint names a fix for a folder (a file name would not do).
    expect(r.stderr.split('\n')[1]).toBe(
      'vault-tool: hint: restore into a folder of its own (--to-dir NEW, or --to REMOTE:BUCKET/NEW), then move what you need: --force replaces other files, never these',
    );
    expect(readFileSync(join(dir, 'live/secrets.vault')).equals(vault)).toBe(true);
    expect(readFileSync(join(dir, 'live/vault.key')).equals(key)).toBe(true);
    // An ordinary file is still replaced with --force.
    mkdirSync(join(dir, 'other'));
    writeFileSync(join(dir, 'other/secrets.vault'), 'mine\n');
    expect((await vt(['backup', 'restore', notes, '--to-dir', 'other', '--force', '-r', 'repo'])).code).toBe(0);
    expect(readFileSync(join(dir, 'other/secrets.vault'), 'utf8')).toBe('an old note\n');
  });

  it.skipIf(!ROOT)('as root: no setuid bit, no foreign owner, unless --same-owner', async () => {
    expect((await vt(['backup', 'restore', ref, '--to-dir', 'plain', '-r', 'repo'])).code).toBe(0);
    const plain = statSync(join(dir, 'plain/bin/tool'));
    expect(plain.mode & 0o7777).toBe(0o755);
    expect(plain.uid).toBe(0);
    expect((await vt(['backup', 'restore', ref, '--to-dir', 'same', '--same-owner', '-r', 'repo'])).code).toBe(0);
    const same = statSync(join(dir, 'same/bin/tool'));
    expect(same.mode & 0o7777).toBe(0o4755);
    expect(same.uid).toBe(12345);
  });
});

describe.skipIf(!HAVE_PG)('restoring into PostgreSQL', () => {
  it("a failed pg_restore says PostgreSQL's ERROR line, not only the tool's last lines", async () => {
    pg!.sql('create database owned');
    pg!.sql('create schema app; create table app.t (id int)', 'owned');
    const b = await vt(['backup', 'postgres', '--dbname', 'owned', '-r', 'repo', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const made = b.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((l) => l.type === 'backup');
    // A target whose schema holds tables the backup does not know: the clean-up's DROP SCHEMA fails, and pg_restore ends with DETAIL and HINT lines.
    pg!.sql('create database copy');
    pg!.sql('create schema app; create table app.one (x int); create table app.two (x int); create table app.three (x int)', 'copy');
    const r = await vt(['backup', 'restore', `postgres/owned/${made.file}`, '--dbname', 'copy', '--force', '-r', 'repo']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/pg_restore into copy failed \(exit 1\): .*ERROR: +cannot drop schema app because other objects depend on it/);
    // Into a database the restore creates: a failure leaves no empty database behind.
    pg!.sql('create database owned2');
    pg!.sql('create role gone_owner; create table t (id int); alter table t owner to gone_owner', 'owned2');
    const b2 = await vt(['backup', 'postgres', '--dbname', 'owned2', '-r', 'repo', '--json']);
    expect(b2.code, b2.stderr).toBe(0);
    const made2 = b2.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((l) => l.type === 'backup');
    pg!.sql('drop database owned2');
    pg!.sql('drop role gone_owner');
    const c = await vt(['backup', 'restore', `postgres/owned2/${made2.file}`, '--dbname', 'fresh', '--create', '-r', 'repo']);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toMatch(/ERROR: +role "gone_owner" does not exist/);
    expect(pg!.sql("select count(*) from pg_database where datname = 'fresh'")).toBe('0');
  });
});
