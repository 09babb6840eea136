import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDrillPlan } from '../../src/drill/plan.js';
import { BIN, cli, haveBinary, ROOT, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { havePostgres, postgresFolder, postgresOwner, startPostgres, startPostgresOn, type Postgres, type PostgresOn } from '../helpers/servers.mjs';

/**
 * Continuous archiving and point-in-time recovery against a real
 * PostgreSQL: archive_command runs the built CLI (as the server's user),
 * restores run as restore_command in a second server started on the
 * restored data directory, and the stock-tools path runs as the runbook
 * writes it (Debian age, tar, PostgreSQL's own restore_command).
 */
const HAVE_PG = havePostgres();
const HAVE_AGE = haveBinary('age', ['--version']);
const HAVE_RCLONE = haveBinary('rclone', ['version']);
const NODE = process.execPath;
const ROOT_OWNER = postgresOwner();

let dir: string;
let cleanup: () => void;
let repo: string;
let hostKey: string;
let recipient: string;
let pg: Postgres;
const servers: PostgresOn[] = [];

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  cli(dir, args, { ...opts, env: { ...(pg?.env ?? {}), RCLONE_CONFIG_OFFSITE_TYPE: 'local', VAULT_TOOL_COMMAND: `${NODE} ${BIN}`, ...opts.env } });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const segDir = (cluster = 'app') => join(repo, 'postgres-wal', cluster, 'segments');
const archived = (cluster = 'app') =>
  readdirSync(segDir(cluster))
    .filter((n) => !n.startsWith('.'))
    .sort();
const manifestOf = (name: string, cluster = 'app') => JSON.parse(readFileSync(join(segDir(cluster), `${name}.age.manifest.json`), 'utf8'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pushCommand = (cluster: string) => `${NODE} ${BIN} backup wal-push %p --cluster ${cluster} -r ${repo} --recipient ${recipient} --signing-key ${hostKey}`;

/** Switches to a new segment and waits until archive_command has archived the one it closed. */
async function switchAndWait(server: { sql: (s: string) => string }, timeoutMs = 60_000): Promise<string> {
  const name = server.sql('select pg_walfile_name(pg_switch_wal())');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const last = server.sql("select coalesce(last_archived_wal, '') from pg_stat_archiver");
    if (last.slice(8) >= name.slice(8) && last.slice(0, 8) >= name.slice(0, 8)) return name;
    await sleep(100);
  }
  throw new Error(`${name} was not archived in time: ${server.sql('select * from pg_stat_archiver')}`);
}

async function waitFor(what: string, f: () => boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (f()) return;
    } catch {
      /* not up yet */
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const counts = (s: { sql: (q: string) => string }) =>
  Object.fromEntries(
    s
      .sql("select phase || '=' || count(*) from events group by phase order by phase")
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('=')),
  );

beforeAll(async () => {
  if (!HAVE_PG) return;
  ({ dir, cleanup } = tempDir('vt-pitr-'));
  chmodSync(dir, 0o755);
  repo = postgresFolder(join(dir, 'repo'));
  hostKey = join(postgresFolder(join(dir, 'dbhost')), 'signing.key');
  expect((await vt(['init'])).code).toBe(0);
  recipient = (await vt(['backup', 'key'])).stdout.trim();
  // Settings in postgresql.conf, so a base backup carries them to the restored servers.
  pg = await startPostgres({
    initdb: ['--wal-segsize', '1'],
    conf: { archive_mode: 'on', wal_level: 'replica', archive_timeout: '60s', archive_command: pushCommand('app') },
  });
  pg.sql('create table events(id serial primary key, phase text not null, at timestamptz not null default clock_timestamp())');
  await switchAndWait(pg);
  // The database host's signing key was made by its first push: trusted once, where the vault is.
  const pub = (await vt(['backup', 'key', 'signer', '--signing-key', hostKey])).stdout.trim();
  expect((await vt(['backup', 'key', 'trust', pub, '--label', 'db1'])).code).toBe(0);
}, 120_000);

afterAll(() => {
  for (const s of servers) s.stop();
  pg?.stop();
  cleanup?.();
});

describe.skipIf(!HAVE_PG)('wal-push and wal-fetch as archive_command and restore_command', () => {
  it('archives every segment PostgreSQL completes, as age files with signed manifests, and each comes back byte for byte', async () => {
    pg.sql("insert into events(phase) select 'warm-up' from generate_series(1, 2000)");
    const name = await switchAndWait(pg);
    const files = archived();
    expect(files).toContain(`${name}.age`);
    expect(files).toContain(`${name}.age.manifest.json`);
    expect(existsSync(join(repo, 'postgres-wal', 'app', 'archive.json'))).toBe(true);
    const info = JSON.parse(readFileSync(join(repo, 'postgres-wal', 'app', 'archive.json'), 'utf8'));
    expect(info).toMatchObject({ cluster: 'app', segmentSize: 1 << 20, postgres: 15, systemId: pg.sql('select system_identifier from pg_control_system()') });
    // The archive is not a list of backups: list and prune never see its segments.
    const list = JSON.parse((await vt(['backup', 'list', '-r', repo, '--json'])).stdout) as { component: string }[];
    expect(list.filter((b) => b.component.startsWith('postgres-wal'))).toEqual([]);
    const segs = files.filter((f) => /^[0-9A-F]{24}\.age$/.test(f)).map((f) => f.slice(0, 24));
    expect(segs.length).toBeGreaterThanOrEqual(2);
    for (const s of segs) {
      const out = join(dir, `fetched-${s}`);
      const r = await vt(['backup', 'wal-fetch', s, out, '--cluster', 'app', '-r', repo]);
      expect(r.code, r.stderr).toBe(0);
      const m = manifestOf(s);
      expect(m).toMatchObject({ kind: 'postgres-wal', component: 'postgres-wal/app', source: { wal: s, systemId: info.systemId }, keyId: expect.any(String) });
      expect(sha256(readFileSync(out))).toBe(m.plaintext.sha256);
      expect(statSync(out).mode & 0o777).toBe(0o600);
    }
    // A file the archive does not hold: exit 1, not a word (PostgreSQL asks for such files all the time).
    const absent = await vt(['backup', 'wal-fetch', '00000009.history', join(dir, 'nothing'), '--cluster', 'app', '-r', repo]);
    expect(absent).toMatchObject({ code: 1, stderr: '', stdout: '' });
    expect(existsSync(join(dir, 'nothing'))).toBe(false);
    const bad = await vt(['backup', 'wal-fetch', '../../etc/passwd', join(dir, 'nothing'), '--cluster', 'app', '-r', repo]);
    expect(bad.code).toBe(2);
  }, 120_000);

  it('the same file pushed again: the same bytes are success, other bytes are refused (exit 19) and the first is kept', async () => {
    const name = archived()
      .filter((f) => /^[0-9A-F]{24}\.age$/.test(f))
      .pop()!
      .slice(0, 24);
    const folder = join(dir, 'again');
    mkdirSync(folder);
    expect((await vt(['backup', 'wal-fetch', name, join(folder, name), '--cluster', 'app', '-r', repo])).code).toBe(0);
    const manifestBefore = readFileSync(join(segDir(), `${name}.age.manifest.json`));
    const same = await vt(['backup', 'wal-push', join(folder, name), '--cluster', 'app', '-r', repo, '--recipient', recipient, '--signing-key', hostKey]);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stderr).toContain('already archived with the same content');
    const b = readFileSync(join(folder, name));
    b[8192 + 100] = b[8192 + 100]! ^ 0xff;
    writeFileSync(join(folder, name), b);
    const other = await vt(['backup', 'wal-push', join(folder, name), '--cluster', 'app', '-r', repo, '--recipient', recipient, '--signing-key', hostKey]);
    expect(other.code).toBe(19);
    expect(other.stderr).toMatch(new RegExp(`^vault-tool: error: ${name}: already archived with other content .*never overwritten; nothing was archived`));
    expect(readFileSync(join(segDir(), `${name}.age.manifest.json`))).toEqual(manifestBefore);
    // A segment of another cluster (another system identifier in its header) is refused before anything is written.
    b[8192 + 100] = b[8192 + 100]! ^ 0xff;
    b.writeBigUInt64LE(b.readBigUInt64LE(24) + 1n, 24);
    writeFileSync(join(folder, name), b);
    const foreign = await vt(['backup', 'wal-push', join(folder, name), '--cluster', 'app', '-r', repo, '--recipient', recipient, '--signing-key', hostKey]);
    expect(foreign.code).toBe(19);
    expect(foreign.stderr).toContain('belongs to the cluster with system identifier');
  }, 60_000);

  it('a push killed at any instant leaves nothing a fetch takes for a segment, and the next push completes it', async () => {
    const name = archived()
      .filter((f) => /^[0-9A-F]{24}\.age$/.test(f))
      .pop()!
      .slice(0, 24);
    const src = join(dir, 'killed', name);
    mkdirSync(join(dir, 'killed'));
    expect((await vt(['backup', 'wal-fetch', name, src, '--cluster', 'app', '-r', repo])).code).toBe(0);
    const want = sha256(readFileSync(src));
    const push = () => [BIN, 'backup', 'wal-push', src, '--cluster', 'killed', '-r', repo, '--recipient', recipient, '--signing-key', hostKey];
    const seen = new Set<string>();
    for (const delay of [0, 40, 80, 120, 150, 180, 210, 240, 280, 330, 400]) {
      const p = spawn(NODE, push(), { stdio: 'ignore', env: { PATH: process.env.PATH, HOME: dir } });
      const exited = new Promise((r) => p.on('close', r));
      setTimeout(() => p.kill('SIGKILL'), delay);
      await exited;
      const visible = existsSync(segDir('killed')) ? archived('killed') : [];
      expect(visible.every((f) => f === `${name}.age` || f === `${name}.age.manifest.json`)).toBe(true);
      const out = join(dir, 'killed', `out-${delay}`);
      const f = await vt(['backup', 'wal-fetch', name, out, '--cluster', 'killed', '-r', repo]);
      // Never a partial or unchecked segment: either the whole one, or "absent".
      expect([0, 1], f.stderr).toContain(f.code);
      if (f.code === 0) expect(sha256(readFileSync(out))).toBe(want);
      else expect(existsSync(out)).toBe(false);
      seen.add(f.code === 0 ? 'committed' : visible.length ? 'file without manifest' : 'nothing');
      const again = spawn(NODE, push(), { stdio: 'ignore', env: { PATH: process.env.PATH, HOME: dir } });
      expect(await new Promise((r) => again.on('close', r))).toBe(0);
      expect((await vt(['backup', 'wal-fetch', name, `${out}.2`, '--cluster', 'killed', '-r', repo])).code).toBe(0);
      expect(sha256(readFileSync(`${out}.2`))).toBe(want);
      rmSync(join(repo, 'postgres-wal', 'killed'), { recursive: true, force: true });
    }
    expect(seen.has('nothing')).toBe(true);
    // Killed between its file and its manifest (made here for certain): not fetched, then completed by the retry; other bytes refused.
    expect((await vt(['backup', 'wal-push', src, '--cluster', 'killed', '-r', repo, '--recipient', recipient, '--signing-key', hostKey])).code).toBe(0);
    unlinkSync(join(segDir('killed'), `${name}.age.manifest.json`));
    const orphan = await vt(['backup', 'wal-fetch', name, join(dir, 'killed', 'orphan'), '--cluster', 'killed', '-r', repo]);
    expect(orphan.code).toBe(1);
    expect(orphan.stderr).toContain('without its manifest');
    const changed = readFileSync(src);
    changed[8192 + 100] = changed[8192 + 100]! ^ 1;
    writeFileSync(join(dir, 'killed', 'other'), changed);
    mkdirSync(join(dir, 'killed', 'o'));
    writeFileSync(join(dir, 'killed', 'o', name), changed);
    const refused = await vt([
      'backup',
      'wal-push',
      join(dir, 'killed', 'o', name),
      '--cluster',
      'killed',
      '-r',
      repo,
      '--recipient',
      recipient,
      '--signing-key',
      hostKey,
    ]);
    expect(refused.code).toBe(19);
    expect(refused.stderr).toContain('without its manifest) with other content');
    const done = await vt(['backup', 'wal-push', src, '--cluster', 'killed', '-r', repo, '--recipient', recipient, '--signing-key', hostKey]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toContain('completed the archiving');
    expect((await vt(['backup', 'wal-fetch', name, join(dir, 'killed', 'orphan'), '--cluster', 'killed', '-r', repo])).code).toBe(0);
  }, 180_000);

  it("archive_command killed mid-push: PostgreSQL's retry archives the segment, whole", async () => {
    const marks = postgresFolder(join(dir, 'marks'));
    const wrap = join(dir, 'dbhost', 'wrap.sh');
    const push = `"${NODE}" "${BIN}" backup wal-push "$1" --cluster app -r ${repo} --recipient ${recipient} --signing-key ${hostKey}`;
    writeFileSync(
      wrap,
      `#!/bin/sh\nmark="${marks}/$(basename "$1")"\nif [ ! -e "$mark" ]; then : > "$mark"; ${push} & pid=$!; sleep 0.15; kill -9 $pid; exit 1; fi\nexec ${push}\n`,
      { mode: 0o755 },
    );
    const failedBefore = Number(pg.sql('select failed_count from pg_stat_archiver'));
    pg.sql(`alter system set archive_command = 'sh ${wrap} %p'`);
    pg.sql('select pg_reload_conf()');
    await sleep(300);
    pg.sql("insert into events(phase) select 'retried' from generate_series(1, 1000)");
    const name = await switchAndWait(pg);
    expect(Number(pg.sql('select failed_count from pg_stat_archiver'))).toBeGreaterThan(failedBefore);
    expect(existsSync(join(marks, name))).toBe(true);
    const r = await vt(['backup', 'wal-fetch', name, join(dir, 'retried'), '--cluster', 'app', '-r', repo]);
    expect(r.code, r.stderr).toBe(0);
    pg.sql('alter system reset archive_command');
    pg.sql('select pg_reload_conf()');
    await sleep(300);
  }, 120_000);

  it.skipIf(!HAVE_RCLONE)(
    'an rclone remote (local backend): pushed, pushed again, fetched back, absent',
    async () => {
      const name = archived()
        .filter((f) => /^[0-9A-F]{24}\.age$/.test(f))[0]!
        .slice(0, 24);
      const folder = join(dir, 'remote-src');
      mkdirSync(folder);
      await vt(['backup', 'wal-fetch', name, join(folder, name), '--cluster', 'app', '-r', repo]);
      const remote = `offsite:${dir}/remote`;
      const p1 = await vt(['backup', 'wal-push', join(folder, name), '--cluster', 'app', '-r', remote, '--recipient', recipient, '--signing-key', hostKey]);
      expect(p1.code, p1.stderr).toBe(0);
      const p2 = await vt(['backup', 'wal-push', join(folder, name), '--cluster', 'app', '-r', remote, '--recipient', recipient, '--signing-key', hostKey]);
      expect(p2.stderr).toContain('already archived with the same content');
      const f = await vt(['backup', 'wal-fetch', name, join(folder, 'back'), '--cluster', 'app', '-r', remote]);
      expect(f.code, f.stderr).toBe(0);
      expect(readFileSync(join(folder, 'back')).equals(readFileSync(join(folder, name)))).toBe(true);
      const absent = await vt(['backup', 'wal-fetch', '00000001000000000000FFFF', join(folder, 'none'), '--cluster', 'app', '-r', remote]);
      expect(absent).toMatchObject({ code: 1, stderr: '' });
    },
    60_000,
  );
});

describe.skipIf(!HAVE_PG)('base backups and point-in-time restores', () => {
  let base: string;
  let target: Date;
  let targetLsn: string;
  let idFile: string;
  const restores = () => postgresFolder(join(dir, 'restores'));
  const ownerArgs = ROOT_OWNER ? ['--owner', 'postgres'] : [];

  it('backup postgres --base: pg_basebackup into one age file with a signed manifest, once its WAL is archived', async () => {
    pg.sql("insert into events(phase) select 'before-base' from generate_series(1, 100)");
    const r = await vt(['backup', 'postgres', '--base', '--cluster', 'app', '-r', repo, '--fast-checkpoint', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const made = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((l) => l.type === 'backup');
    expect(made).toMatchObject({ component: 'postgres-base/app', verification: { ok: true } });
    base = `postgres-base/app/${made.file}`;
    const m = JSON.parse(readFileSync(join(repo, `${base}.manifest.json`), 'utf8'));
    expect(m.kind).toBe('postgres-base');
    expect(m.source).toMatchObject({ cluster: 'app', timeline: '1', startLsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/), stopWal: expect.any(String) });
    // Its WAL is in the archive: backup_manifest's range, committed; and PostgreSQL's backup history file went through wal-push too.
    expect(archived()).toContain(`${m.source.stopWal}.age.manifest.json`);
    await waitFor('the backup history file', () => archived().some((f) => /^[0-9A-F]{24}\.[0-9A-F]{8}\.backup\.age\.manifest\.json$/.test(f)), 30_000);
    const v = await vt(['backup', 'verify', base, '-r', repo]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('backup_manifest');
    pg.sql("insert into events(phase) select 'before-t' from generate_series(1, 100)");
    await sleep(1100);
    target = new Date();
    targetLsn = pg.sql('select pg_current_wal_insert_lsn()');
    pg.sql("select pg_create_restore_point('vt-before-after')");
    await sleep(1100);
    pg.sql("insert into events(phase) select 'after-t' from generate_series(1, 100)");
    await switchAndWait(pg);
  }, 120_000);

  it('a base backup whose WAL the archive does not get fails, naming the segment, and keeps nothing', async () => {
    const r = await vt(['backup', 'postgres', '--base', '--cluster', 'killed', '-r', repo, '--fast-checkpoint', '--wal-timeout', '2s']);
    expect(r.code).toBe(19);
    expect(r.stderr).toMatch(
      /^vault-tool: error: WAL segment [0-9A-F]{24}, which this base backup needs, is not in the archive of cluster killed after 2 s: is archive_command pushing there \(pg_stat_archiver\)\?; nothing was kept/m,
    );
    expect(existsSync(join(repo, 'postgres-base', 'killed')) ? readdirSync(join(repo, 'postgres-base', 'killed')) : []).toEqual([]);
    const none = await vt(['backup', 'postgres', '--base', '--cluster', 'nowhere', '-r', repo, '--fast-checkpoint']);
    expect(none.code).toBe(19);
    expect(none.stderr).toContain('the repository holds no WAL archive of cluster nowhere');
  }, 120_000);

  it('backup key export-identity: a 0600 identity file for the restore host, recorded in the evidence log', async () => {
    idFile = join(dir, 'dbhost', 'backup.id');
    const r = await vt(['backup', 'key', 'export-identity', '-o', idFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(idFile).mode & 0o777).toBe(0o600);
    const text = readFileSync(idFile, 'utf8');
    expect(text).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]+$/m);
    expect(text).toMatch(/^# trusted-signer: [0-9a-f]{16} \S+ db1$/m);
    expect(readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8')).toContain('"event":"backup.identity.export"');
    expect((await vt(['backup', 'key', 'export-identity', '-o', idFile])).code).toBe(10);
    if (ROOT_OWNER) chownSync(idFile, ROOT_OWNER.uid, ROOT_OWNER.gid);
  });

  it('restores to a time: rows committed before it are there, rows after it are not; the promoted server archives a new timeline', async () => {
    const data = join(restores(), 'to-t');
    const r = await vt([
      'backup',
      'restore',
      base,
      '--to-dir',
      data,
      '--target-time',
      target.toISOString(),
      '--target-action',
      'promote',
      '--identity',
      idFile,
      '-r',
      repo,
      ...ownerArgs,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(data, 'recovery.signal'))).toBe(true);
    expect(readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8')).toContain('"event":"backup.restore"');
    expect(statSync(data).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(data, 'postgresql.auto.conf'), 'utf8')).toContain(
      `restore_command = '${NODE} ${BIN} backup wal-fetch %f %p --cluster app -r ${repo} --identity ${idFile}'`,
    );
    const s = await startPostgresOn(data, restores());
    servers.push(s);
    await waitFor('the promotion', () => s.sql('select pg_is_in_recovery()') === 'f');
    expect(counts(s)).toEqual({ 'before-base': '100', 'before-t': '100', retried: '1000', 'warm-up': '2000' });
    expect(s.log()).toMatch(/restored log file "[0-9A-F]{24}" from archive/);
    // Promoted onto timeline 2, it archives into the same archive (its archive_command came with the base backup).
    await waitFor('00000002.history in the archive', () => archived().includes('00000002.history.age.manifest.json'), 60_000);
    s.sql("insert into events(phase) select 'on-timeline-2' from generate_series(1, 50)");
    const t2 = await switchAndWait(s);
    expect(t2.startsWith('00000002')).toBe(true);
    s.sql("insert into events(phase) select 'on-timeline-2b' from generate_series(1, 5)");
    await switchAndWait(s);
  }, 180_000);

  it('a second restore with no target follows the newest timeline through its history file', async () => {
    const data = join(restores(), 'latest');
    const r = await vt(['backup', 'restore', base, '--to-dir', data, '--identity', idFile, '--no-archive', '-r', repo, ...ownerArgs, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ timeline: 2, chain: expect.stringMatching(/^1 \(to [0-9A-F/]+\) → 2$/) });
    const s = await startPostgresOn(data, restores());
    servers.push(s);
    await waitFor('the end of recovery', () => s.sql('select pg_is_in_recovery()') === 'f');
    expect(counts(s)).toMatchObject({ 'before-t': '100', 'on-timeline-2': '50', 'on-timeline-2b': '5' });
    expect(counts(s)['after-t']).toBeUndefined();
  }, 180_000);

  it('restores to an LSN and to a named restore point just as well', async () => {
    for (const [name, flag, value] of [
      ['to-lsn', '--target-lsn', targetLsn],
      ['to-name', '--target-name', 'vt-before-after'],
    ] as const) {
      const data = join(restores(), name);
      const r = await vt([
        'backup',
        'restore',
        base,
        '--to-dir',
        data,
        flag,
        value,
        '--target-action',
        'promote',
        '--identity',
        idFile,
        '--no-archive',
        '-r',
        repo,
        ...ownerArgs,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const s = await startPostgresOn(data, restores());
      servers.push(s);
      await waitFor('the promotion', () => s.sql('select pg_is_in_recovery()') === 'f');
      expect(counts(s), name).toMatchObject({ 'before-base': '100', 'before-t': '100' });
      expect(counts(s)['after-t'], name).toBeUndefined();
      s.stop();
    }
  }, 180_000);

  it.skipIf(!HAVE_AGE || !ROOT_OWNER)(
    'by hand with stock tools (as root, as the runbook says), as the runbook writes it: age | tar, and age as restore_command',
    async () => {
      const data = join(restores(), 'stock');
      // docs/RUNBOOK.md, "Point-in-time recovery by hand", run as written.
      const runbook = readFileSync(join(ROOT, 'docs/RUNBOOK.md'), 'utf8');
      const block = /<!-- pitr-by-hand -->\n```sh\n([\s\S]*?)```/.exec(runbook)![1]!;
      const env = {
        DATA: data,
        ID: idFile,
        REPO: repo,
        BASE: join(repo, base),
        CLUSTER: 'app',
        T: target.toISOString().replace('T', ' ').replace('Z', '+00'),
        PATH: process.env.PATH,
      };
      execFileSync('sh', ['-e', '-c', block], { env, stdio: 'pipe' });
      const s = await startPostgresOn(data, restores());
      servers.push(s);
      await waitFor('the promotion', () => s.sql('select pg_is_in_recovery()') === 'f');
      expect(counts(s)).toMatchObject({ 'before-base': '100', 'before-t': '100' });
      expect(counts(s)['after-t']).toBeUndefined();
    },
    180_000,
  );
});

describe.skipIf(!HAVE_PG)('verification, retention and status of the archive', () => {
  const base = () =>
    readdirSync(join(repo, 'postgres-base', 'app'))
      .filter((f) => f.endsWith('.tar.age'))
      .sort()[0]!;

  it('wal-verify: continuous across the timelines; a segment missing is named, fails every later point, and a restore past it is refused', async () => {
    const ok = await vt(['backup', 'wal-verify', '--cluster', 'app', '-r', repo, '--read-data', '--json']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report.bases[0]).toMatchObject({ ok: true, timeline: 2 });
    expect(report.read).toBe(report.counted);
    // A segment recovery needs after the base backup's own WAL: the first of timeline 2 (the chain is 1, then 2).
    const later = archived()
      .filter((f) => /^00000002[0-9A-F]{16}\.age$/.test(f))
      .map((f) => f.slice(0, 24))[0]!;
    expect(later).toBeDefined();
    const aside = join(dir, 'aside');
    mkdirSync(aside);
    for (const f of [`${later}.age`, `${later}.age.manifest.json`]) renameSync(join(segDir(), f), join(aside, f));
    try {
      const gap = await vt(['backup', 'wal-verify', '--cluster', 'app', '-r', repo, '--json']);
      expect(gap.code, `${later}: ${gap.stdout}`).toBe(8);
      expect(JSON.parse(gap.stdout).bases[0]).toMatchObject({ ok: false, missing: later });
      const text = await vt(['backup', 'wal-verify', '--cluster', 'app', '-r', repo]);
      expect(text.stdout).toContain(`WAL segment ${later} is missing: points in time after about`);
      const refused = await vt([
        'backup',
        'restore',
        `postgres-base/app/${base()}`,
        '--to-dir',
        join(dir, 'never'),
        '--target-time',
        new Date().toISOString(),
        '--dry-run',
        '-r',
        repo,
      ]);
      expect(refused.code).toBe(8);
      expect(refused.stderr).toContain(`WAL segment ${later} is missing from the archive`);
      expect(existsSync(join(dir, 'never'))).toBe(false);
    } finally {
      for (const f of readdirSync(aside)) renameSync(join(aside, f), join(segDir(), f));
    }
    // A damaged file: the full read names it.
    const victim = join(segDir(), `${later}.age`);
    const orig = readFileSync(victim);
    const bad = Buffer.from(orig);
    bad[bad.length - 100] = bad[bad.length - 100]! ^ 1;
    writeFileSync(victim, bad);
    try {
      const r = await vt(['backup', 'wal-verify', '--cluster', 'app', '-r', repo, '--read-data', '--json']);
      expect(r.code).toBe(8);
      expect(JSON.parse(r.stdout).files).toEqual([expect.objectContaining({ name: later, ok: false, message: expect.stringContaining('SHA-256 differs') })]);
    } finally {
      writeFileSync(victim, orig);
    }
  }, 180_000);

  it('retention: base backups by the keep rules, then the WAL only the removed ones needed; never after the oldest kept', async () => {
    const first = base();
    pg.sql("insert into events(phase) select 'second-base' from generate_series(1, 10)");
    const b2 = await vt(['backup', 'postgres', '--base', '--cluster', 'app', '-r', repo, '--fast-checkpoint']);
    expect(b2.code, b2.stderr).toBe(0);
    const prune = await vt(['backup', 'prune', '--keep-last', '1', '--confirm', '-r', repo]);
    expect(prune.code, prune.stderr).toBe(0);
    expect(existsSync(join(repo, 'postgres-base', 'app', first))).toBe(false);
    const kept = JSON.parse(readFileSync(join(repo, 'postgres-base', 'app', `${base()}.manifest.json`), 'utf8'));
    const before = archived();
    const dry = await vt(['backup', 'wal-prune', '--cluster', 'app', '-r', repo, '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout);
    expect(plan).toMatchObject({ dryRun: true, keepFrom: kept.source.startLsn });
    expect(plan.remove.length).toBeGreaterThan(0);
    expect(plan.remove.every((n: string) => n.slice(8) < kept.source.startWal.slice(8))).toBe(true);
    expect(plan.remove.some((n: string) => n.endsWith('.history'))).toBe(false);
    expect(archived()).toEqual(before);
    const done = await vt(['backup', 'wal-prune', '--cluster', 'app', '-r', repo, '--confirm']);
    expect(done.code, done.stderr).toBe(0);
    const after = archived();
    for (const n of plan.remove) expect(after).not.toContain(`${n}.age`);
    expect(after).toContain('00000002.history.age');
    expect(readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8')).toContain('"event":"backup.wal.prune"');
    const v = await vt(['backup', 'wal-verify', '--cluster', 'app', '-r', repo, '--json']);
    expect(v.code, v.stdout).toBe(0);
    expect(JSON.parse(v.stdout).bases).toHaveLength(1);
  }, 180_000);

  it('drill init on a repository with base backups writes a plan its own parser accepts (base backups rehearsed by a point-in-time restore)', async () => {
    const r = await vt(['drill', 'init', '-r', repo, '-o', join(dir, 'drill.yaml')]);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(join(dir, 'drill.yaml'), 'utf8');
    expect(() => parseDrillPlan(text, 'drill.yaml', dir)).not.toThrow();
    expect(text).not.toMatch(/component: postgres-base/);
    expect(text).toContain('postgres-base/app: a point-in-time restore of app into drill-scratch/pitr-app');
  });

  it("no output of the archive's commands replaces a vault or a key file, whatever it is named", async () => {
    const before = { v: readFileSync(join(dir, 'secrets.vault')), k: readFileSync(join(dir, 'vault.key')) };
    for (const [target, what] of [
      ['secrets.vault', 'a vault file'],
      ['vault.key', 'a key file'],
    ] as const) {
      for (const args of [
        ['backup', 'wal-status', '--cluster', 'app', '-r', repo, '--prometheus', target],
        ['backup', 'wal-fetch', archived()[0]!.slice(0, 24), target, '--cluster', 'app', '-r', repo],
      ]) {
        const r = await vt(args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(10);
        expect(r.stderr).toContain(`vault-tool: error: refusing to replace ${join(dir, target)}: it is ${what}\n`);
      }
    }
    const e = await vt(['backup', 'key', 'export-identity', '-o', 'secrets.vault']);
    expect(e.code).toBe(10);
    expect(e.stderr).toContain('it is a vault file');
    expect(readFileSync(join(dir, 'secrets.vault')).equals(before.v)).toBe(true);
    expect(readFileSync(join(dir, 'vault.key')).equals(before.k)).toBe(true);
  });

  it("wal-status: the archive's RPO is the age of its newest segment, with pg_stat_archiver's failures", async () => {
    await switchAndWait(pg);
    const prom = join(dir, 'wal.prom');
    const r = await vt(['backup', 'wal-status', '--cluster', 'app', '-r', repo, '--rpo', '15m', '--archiver', '--json', '--prometheus', prom]);
    expect(r.code, r.stderr).toBe(0);
    const metrics = readFileSync(prom, 'utf8');
    expect(metrics).toMatch(/^vault_tool_wal_archive_age_seconds\{cluster="app"\} \d+$/m);
    expect(metrics).toMatch(/^vault_tool_wal_archiver_failures\{cluster="app"\} [1-9]\d*$/m);
    if (haveBinary('promtool', ['--version'])) execFileSync('promtool', ['check', 'metrics'], { input: metrics });
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ cluster: 'app', rpoSeconds: 900, rpoMissed: false, trusted: true, bases: 1 });
    expect(s.ageSeconds).toBeLessThan(120);
    expect(Number(s.archiver.failed_count)).toBeGreaterThan(0);
    const later = new Date(Date.now() + 20 * 60_000);
    const missed = await vt(['backup', 'wal-status', '--cluster', 'app', '-r', repo, '--rpo', '15m'], { now: later });
    expect(missed.code).toBe(8);
    expect(missed.stderr).toMatch(/^vault-tool: error: RPO missed for app: the newest archived segment is 2\dm/);
  }, 60_000);
});
