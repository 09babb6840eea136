import { chmodSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/backup/keys.js';
import { signManifest, type BackupManifest } from '../../src/backup/manifest.js';
import { cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { havePostgres, startPostgres, type Postgres } from '../helpers/servers.mjs';

/**
 * A checker that cannot judge is no verdict on the data: a host whose
 * pg_restore is older than the backup host's pg_dump, or whose checker is
 * killed for memory, reads the whole backup, finds both SHA-256s intact and
 * says "inconclusive", records nothing, and never gives prune a reason to
 * remove anything. Real damage is still a failure.
 */
let dir: string;
let cleanup: () => void;
let pg: Postgres;
const HAVE_PG = havePostgres();

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> => cli(dir, args, { ...opts, env: { ...(pg?.env ?? {}), ...opts.env } });
const lines = (r: CliResult) =>
  r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
/** A PATH whose pg_restore is a stand-in that behaves as described (the real tools stay behind it). */
const shim = (name: string, script: string) => {
  const bin = join(dir, `bin-${name}`);
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'pg_restore'), `#!/bin/sh\n${script}\n`);
  chmodSync(join(bin, 'pg_restore'), 0o755);
  return { PATH: `${bin}:${pg.env.PATH}` };
};
// An older pg_restore reads the header of a newer archive and stops: exit 1.
const TOO_OLD = shim.bind(null, 'old', 'head -c 4096 >/dev/null\necho "pg_restore: error: unsupported version (1.16) in file header" >&2\nexit 1');
// A checker the kernel kills for memory mid-way (SIGKILL, as the OOM killer does).
const KILLED = shim.bind(null, 'oom', 'head -c 65536 >/dev/null\nkill -9 $$');
const backups = () => readdirSync(join(dir, 'repo/postgres/app')).filter((f) => f.endsWith('.age'));
const manifestOf = (f: string) => join(dir, 'repo/postgres/app', `${f}.manifest.json`);

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-verdicts-'));
  expect((await vt(['init'])).code).toBe(0);
  if (!HAVE_PG) return;
  pg = await startPostgres();
  pg.sql('create database app');
  pg.sql('create table items (id int primary key, name text); insert into items select g, md5(g::text) from generate_series(1, 20000) g', 'app');
  const b = await vt(['backup', 'postgres', '--dbname', 'app', '-r', 'repo']);
  expect(b.code, b.stderr).toBe(0);
});
afterAll(() => {
  pg?.stop();
  cleanup();
});

describe.skipIf(!HAVE_PG)('a checker that cannot judge intact data is inconclusive, never a failure', () => {
  it('an older pg_restore: exit 20, "inconclusive", the manifest untouched; prune keeps the only backup', async () => {
    const [file] = backups();
    const before = readFileSync(manifestOf(file!), 'utf8');
    const r = await vt(['backup', 'verify', '--all', '-r', 'repo', '--json'], { env: TOO_OLD() });
    expect(r.code, r.stderr).toBe(20);
    expect(JSON.parse(r.stdout)).toEqual([
      expect.objectContaining({
        component: 'postgres/app',
        verdict: 'inconclusive',
        ok: false,
        inconclusive: true,
        message: expect.stringMatching(
          /^could not be checked here: pg_restore -f \/dev\/null failed \(exit 1\): pg_restore: error: unsupported version \(1\.16\) in file header; the data is intact \(both SHA-256s match the signed manifest/,
        ),
      }),
    ]);
    // With --json the error is the last event on stderr, its hint in it.
    expect(JSON.parse(r.stderr.trim().split('\n').at(-1)!)).toMatchObject({
      type: 'error',
      code: 'backup-inconclusive',
      exit: 20,
      message: expect.stringMatching(/^1 backup could not be judged on this host: postgres\/app\//),
      hint: expect.stringMatching(/^this host/),
    });
    // Nothing recorded against it: the manifest is as the backup host signed it.
    expect(readFileSync(manifestOf(file!), 'utf8')).toBe(before);
    const table = await vt(['backup', 'verify', '--all', '-r', 'repo'], { env: TOO_OLD() });
    expect(table.stdout).toMatch(/^INCONCLUSIVE +postgres\/app\//m);
    const p = await vt(['backup', 'prune', '--keep-last', '1', '--confirm', '-r', 'repo', '--json']);
    expect(JSON.parse(p.stdout).decisions).toEqual([expect.objectContaining({ file, keep: true })]);
    expect(backups()).toEqual([file]);
  });

  it('a checker killed mid-way (as by the OOM killer): inconclusive too', async () => {
    const r = await vt(['backup', 'verify', '--all', '-r', 'repo', '--json'], { env: KILLED() });
    expect(r.code, r.stderr).toBe(20);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({
      verdict: 'inconclusive',
      message: expect.stringMatching(/^could not be checked here: pg_restore -f \/dev\/null failed \(killed by SIGKILL\); the data is intact/),
    });
  });

  it('the quarterly verify says INCONCLUSIVE (not PASSED) in its output, report, record, metrics and status', async () => {
    expect((await vt(['verify', '-r', 'repo', '--read-data'])).code).toBe(0);
    const r = await vt(['verify', '-r', 'repo', '--read-data', '--report', 'q.md', '--prometheus', 'm.prom'], { env: TOO_OLD() });
    expect(r.code, r.stderr).toBe(20);
    expect(r.stdout).toMatch(/^backups +INCONCLUSIVE +postgres\/app: /m);
    expect(r.stderr).toMatch(/verification INCONCLUSIVE \(1 of \d+ checks could not be judged on this host; none failed; this is not a pass\)/);
    const report = readFileSync(join(dir, 'q.md'), 'utf8');
    expect(report).not.toContain('PASSED');
    expect(report).toMatch(/## Could not be judged on this host\n\n1\. \*\*backups: postgres\/app: .*\n {3}This host could not judge the backup/);
    const prom = readFileSync(join(dir, 'm.prom'), 'utf8');
    expect(prom).toContain('vault_tool_verify_last_status 0\n');
    expect(prom).toContain('vault_tool_verify_last_failures 0\n');
    expect(prom).toContain('vault_tool_verify_last_inconclusive 1\n');
    const rec = JSON.parse((await vt(['evidence', 'verify', '--json'])).stdout).at(-1);
    expect(rec).toMatchObject({ event: 'verify', data: { ok: false, verdict: 'inconclusive', failures: [], inconclusive: [{ area: 'backups' }] } });
    const st = await vt(['status']);
    expect(st.code).toBe(20);
    expect(st.stdout).toMatch(/INCONCLUSIVE \(1 checks could not be judged; not a pass\)/);
    expect(st.stderr).toContain('was inconclusive');
  });

  it('real damage is still a failure, whatever the checker', async () => {
    const [file] = backups();
    const path = join(dir, 'repo/postgres/app', file!);
    const good = readFileSync(path);
    truncateSync(path, good.length - 100);
    const r = await vt(['backup', 'verify', '--all', '-r', 'repo', '--json'], { env: TOO_OLD() });
    expect(r.code).toBe(8);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({
      verdict: 'failed',
      message: expect.stringMatching(/^decryption failed: .*\(the file was truncated or altered\)$/),
    });
    writeFileSync(path, good);
  });

  it("prune never removes a component's last backup on a failed verdict another host recorded", async () => {
    const [file] = backups();
    // Another host, trusted by the vault, recorded "failed" (as an older vault-tool did when its checker could not read the archive).
    const other = join(dir, 'other-host', 'signing.key');
    mkdirSync(join(dir, 'other-host'));
    const otherKey = loadSigningKey(other);
    expect((await vt(['backup', 'key', 'trust', otherKey.publicKey, '--label', 'old-host'])).code).toBe(0);
    const m = JSON.parse(readFileSync(manifestOf(file!), 'utf8')) as BackupManifest;
    const { signature: _s, signer: _g, ...body } = m;
    const failed = signManifest(
      {
        ...body,
        verification: { at: new Date().toISOString(), ok: false, check: 'full read (pg_restore -f /dev/null)', message: 'pg_restore failed (exit 1)' },
      },
      otherKey,
    );
    writeFileSync(manifestOf(file!), JSON.stringify(failed, null, 2) + '\n');
    const p = await vt(['backup', 'prune', '--keep-last', '1', '--confirm', '-r', 'repo', '--json']);
    expect(JSON.parse(p.stdout).decisions).toEqual([
      expect.objectContaining({
        file,
        keep: true,
        reasons: [
          `the last backup of the component: its failed verification was recorded by host key ${otherKey.id}, not this host; it is kept until a full read here confirms it`,
        ],
      }),
    ]);
    expect(backups()).toEqual([file]);
    // A full read here finds it intact: the verdict is replaced, and it counts again.
    expect((await vt(['backup', 'verify', '--all', '-r', 'repo'])).code).toBe(0);
    expect(JSON.parse(readFileSync(manifestOf(file!), 'utf8')).verification.ok).toBe(true);
  });
});

describe("a manifest newer than this vault-tool is this host's problem, not the backup's", () => {
  it('inconclusive, and kept', async () => {
    const b = await vt(['backup', 'exec', '--name', 'newer', '-r', 'newer-repo', '--json', '--', 'echo', 'data']);
    expect(b.code, b.stderr).toBe(0);
    const file = lines(b)[1].file as string;
    const m = join(dir, 'newer-repo/exec/newer', `${file}.manifest.json`);
    writeFileSync(m, readFileSync(m, 'utf8').replace('"version": 1', '"version": 2'));
    const r = await vt(['backup', 'verify', '--all', '-r', 'newer-repo', '--json']);
    expect(r.code, r.stderr).toBe(20);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({
      verdict: 'inconclusive',
      message: expect.stringMatching(/^could not be checked here: .*backup manifest version 2 is not supported by this vault-tool$/),
    });
    const p = await vt(['backup', 'prune', '--keep-last', '1', '--confirm', '-r', 'newer-repo', '--json']);
    expect(JSON.parse(p.stdout).decisions).toEqual([expect.objectContaining({ file, keep: true })]);
  });
});
