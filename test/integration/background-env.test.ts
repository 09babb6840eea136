import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, ROOT, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { havePostgres, postgresFolder, postgresOwner, startPostgres, type Postgres } from '../helpers/servers.mjs';

/**
 * The environment of the processes vault-tool leaves running, as another
 * user or in the background: the restore's prefetcher (as the data
 * directory's owner, --owner, when root) and the drill's throwaway
 * PostgreSQL (as postgres, when root). Each gets an allow-list: the
 * operator's secrets (a passphrase variable, cloud and rclone credentials,
 * a libpq password) never reach it, read back from /proc/PID/environ.
 */
const HAVE_PG = havePostgres();
const NODE = process.execPath;
const ROOT_OWNER = postgresOwner();
const POSTGRES_HOME = ROOT_OWNER ? execFileSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' }).split(':')[5]! : undefined;

/** What an operator's shell may hold: none of it may reach another user's process. */
const SECRETS = {
  VAULT_TOOL_PASSPHRASE: 'passphrase-secret-1',
  AWS_SECRET_ACCESS_KEY: 'aws-secret-2',
  RCLONE_CONFIG_OFFSITE_PASS: 'rclone-secret-3',
  PGPASSWORD: 'pg-secret-4',
  HTTPS_PROXY: 'http://user:proxy-secret-5@proxy.invalid:3128',
  NODE_OPTIONS: '--max-old-space-size=4096',
};

let dir: string;
let cleanup: () => void;
let repo: string;
let hostKey: string;
let recipient: string;
let pg: Postgres;
let base: string;
let idFile: string;

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  cli(dir, args, { ...opts, env: { ...(pg?.env ?? {}), VAULT_TOOL_COMMAND: `${NODE} ${BIN}`, ...opts.env } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pushCommand = () => `${NODE} ${BIN} backup wal-push %p --cluster app -r ${repo} --recipient ${recipient} --signing-key ${hostKey}`;

/** A process's environment, as the kernel holds it. */
function environOf(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean)) {
    const i = kv.indexOf('=');
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

function expectNoSecret(env: Record<string, string>): void {
  const text = Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  for (const [k, v] of Object.entries(SECRETS)) {
    expect(env[k], k).toBeUndefined();
    expect(text).not.toContain(v);
  }
  // Nothing of the operator's state folder or home either.
  expect(env.VAULT_TOOL_STATE_DIR).toBeUndefined();
  expect(env.PATH).toBe(process.env.PATH);
}

async function waitFor(what: string, f: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (f()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function switchAndWait(server: Postgres): Promise<void> {
  const name = server.sql('select pg_walfile_name(pg_switch_wal())');
  await waitFor(`${name} archived`, () => server.sql("select coalesce(last_archived_wal, '') from pg_stat_archiver") >= name);
}

beforeAll(async () => {
  if (!HAVE_PG) return;
  ({ dir, cleanup } = tempDir('vt-bgenv-'));
  chmodSync(dir, 0o755);
  repo = postgresFolder(join(dir, 'repo'));
  hostKey = join(postgresFolder(join(dir, 'dbhost')), 'signing.key');
  expect((await vt(['init'])).code).toBe(0);
  expect((await vt(['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-c', 'c', '-o', 'shares'])).code).toBe(0);
  recipient = (await vt(['backup', 'key'])).stdout.trim();
  pg = await startPostgres({
    initdb: ['--wal-segsize', '1'],
    conf: { archive_mode: 'on', wal_level: 'replica', archive_timeout: '60s', archive_command: pushCommand() },
  });
  pg.sql('create table events(id serial primary key, phase text not null)');
  await switchAndWait(pg);
  const pub = (await vt(['backup', 'key', 'signer', '--signing-key', hostKey])).stdout.trim();
  expect((await vt(['backup', 'key', 'trust', pub, '--label', 'db1'])).code).toBe(0);
  const b = await vt(['backup', 'postgres', '--base', '--cluster', 'app', '-r', repo, '--fast-checkpoint', '--json']);
  expect(b.code, b.stderr).toBe(0);
  const made = b.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .find((l) => l.type === 'backup');
  base = `postgres-base/app/${made.file}`;
  pg.sql("insert into events(phase) select 'after-base' from generate_series(1, 100)");
  await switchAndWait(pg);
  idFile = join(dir, 'dbhost', 'backup.id');
  expect((await vt(['backup', 'key', 'export-identity', '-o', idFile])).code).toBe(0);
  if (ROOT_OWNER) chownSync(idFile, ROOT_OWNER.uid, ROOT_OWNER.gid);
}, 180_000);

afterAll(() => {
  pg?.stop();
  cleanup?.();
});

describe.skipIf(!HAVE_PG)('the environment of what vault-tool leaves running', () => {
  it("the restore's prefetcher: PATH, the locale and vault-tool's settings, HOME the owner's; no secret of the operator's", async () => {
    const data = join(postgresFolder(join(dir, 'restores')), 'one');
    const r = await vt(
      ['backup', 'restore', base, '--to-dir', data, '--identity', idFile, '--no-archive', '-r', repo, ...(ROOT_OWNER ? ['--owner', 'postgres'] : [])],
      {
        env: { ...SECRETS, LANG: 'C.UTF-8', LC_TIME: 'C', TZ: 'UTC', VAULT_TOOL_TIMEOUT: '7m', VAULT_TOOL_STATE_DIR: join(dir, '.state') },
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const spool = join(data, 'vault-tool-spool');
    await waitFor('the prefetcher the restore started', () => existsSync(join(spool, 'prefetcher.pid')), 30_000).catch((e) => {
      throw new Error(`${e.message}: ${existsSync(join(spool, 'prefetcher.log')) ? readFileSync(join(spool, 'prefetcher.log'), 'utf8') : 'no log'}`);
    });
    const pid = Number(readFileSync(join(spool, 'prefetcher.pid'), 'utf8'));
    try {
      const env = environOf(pid);
      expectNoSecret(env);
      expect(env).toMatchObject({ LANG: 'C.UTF-8', LC_TIME: 'C', TZ: 'UTC', VAULT_TOOL_TIMEOUT: '7m' });
      if (ROOT_OWNER) {
        expect(env).toMatchObject({ HOME: POSTGRES_HOME, USER: 'postgres', LOGNAME: 'postgres' });
        // The operator's home (the test's HOME) is not the prefetcher's.
        expect(env.HOME).not.toBe(dir);
        // The owner's supplementary groups, as a login would give them (a repository may be readable through one).
        const groups = (readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Groups:[ \t]*(.*)$/m)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
        const owners = execFileSync('id', ['-G', 'postgres'], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
        expect(groups.sort()).toEqual(owners.sort());
      } else expect(env.HOME).toBe(dir);
    } finally {
      try {
        process.kill(pid);
      } catch {
        /* gone */
      }
      await waitFor('the prefetcher to leave', () => !existsSync(join(spool, 'prefetcher.pid')), 30_000);
      rmSync(data, { recursive: true, force: true });
    }
  }, 120_000);

  it("the drill's throwaway PostgreSQL: none of the drill's secrets in the server's environment", async () => {
    const scratch = join(postgresFolder(join(dir, 'scratch')), 'kept');
    writeFileSync(
      join(dir, 'kept.yaml'),
      `apiVersion: vault-tool/v1\nkind: DrillPlan\nrto: 1h\nshares: { files: [shares/share-01-a.share, shares/share-02-b.share] }\nbackups:\n  repo: ${repo}\n  pitr:\n    - { cluster: app, dir: ${scratch} }\n`,
    );
    const r = await vt(['drill', '--plan', 'kept.yaml', '--keep', '--json'], { env: { ...SECRETS, LANG: 'C.UTF-8' } });
    try {
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const pid = Number(readFileSync(join(scratch, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
      const env = environOf(pid);
      expectNoSecret(env);
      expect(env.LANG).toBe('C.UTF-8');
      if (ROOT_OWNER) expect(env.HOME).toBe(POSTGRES_HOME);
    } finally {
      const t = await vt(['drill', 'teardown']);
      expect(t.code, t.stdout + t.stderr).toBe(0);
    }
  }, 240_000);

  it("the demo's PostgreSQL: none of the caller's secrets in the server's environment", async () => {
    const servers = (await import(join(ROOT, 'dist', 'servers.js'))) as {
      startDemoPostgres(dir: string): Promise<{ data: string; stop(): void } | string>;
    };
    const saved = { ...process.env };
    Object.assign(process.env, SECRETS);
    let pg2: { data: string; stop(): void } | string;
    try {
      pg2 = await servers.startDemoPostgres(join(postgresFolder(join(dir, 'demo')), 'pg'));
    } finally {
      for (const k of Object.keys(SECRETS)) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
    if (typeof pg2 === 'string') throw new Error(pg2);
    try {
      const env = environOf(Number(readFileSync(join(pg2.data, 'postmaster.pid'), 'utf8').split('\n')[0]));
      expectNoSecret(env);
      if (ROOT_OWNER) expect(env.HOME).toBe(POSTGRES_HOME);
    } finally {
      pg2.stop();
    }
  }, 120_000);
});
