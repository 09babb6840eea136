import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/backup/keys.js';
import { signManifest, type BackupManifest } from '../../src/backup/manifest.js';
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

/**
 * Starts a server on a restored data directory whose recovery must stop: waits until the startup
 * process has failed and the postmaster is gone, and returns the server's log (it fails if the
 * server came up instead).
 */
async function startExpectingAbort(data: string, socketDir: string): Promise<string> {
  const s = await startPostgresOn(data, socketDir, { wait: false });
  servers.push(s);
  // Before a consistent state the postmaster "aborts startup"; after it (a hot standby) it "shuts down": either way it exits.
  const ended = /(aborting startup|shutting down) due to startup process failure|database system is ready to accept connections/;
  await waitFor('the end of the startup', () => ended.test(s.log()), 120_000);
  if (s.log().includes('ready to accept connections')) {
    s.stop();
    throw new Error(`the server came up, when its recovery should have stopped:\n${s.log()}`);
  }
  await waitFor('the postmaster to exit', () => !existsSync(join(data, 'postmaster.pid')), 60_000);
  return s.log();
}

/**
 * The middle of a recovery's range: the first archived segment after `stopWal` (the base backup's
 * last) on the newest timeline, the one recovery follows, with one more archived after it.
 */
function middleSegment(stopWal: string): string {
  const segs = archived()
    .filter((f) => /^[0-9A-F]{24}\.age$/.test(f))
    .map((f) => f.slice(0, 24));
  const newest = segs
    .map((n) => n.slice(0, 8))
    .sort()
    .pop()!;
  const after = segs.filter((n) => n.startsWith(newest) && n.slice(8) > stopWal.slice(8));
  expect(after.length, `segments of timeline ${newest} after the base backup`).toBeGreaterThanOrEqual(2);
  return after[0]!;
}

/** Flips a byte near the end of an archived file (its last STREAM chunk: age writes the chunks before it); returns the undo. */
function damage(name: string): () => void {
  const f = join(segDir(), `${name}.age`);
  const orig = readFileSync(f);
  const bad = Buffer.from(orig);
  bad[bad.length - 100] = bad[bad.length - 100]! ^ 1;
  writeFileSync(f, bad);
  return () => writeFileSync(f, orig);
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
    // Any other failure stops a recovery: 200 + its usual code (here 2, usage).
    const bad = await vt(['backup', 'wal-fetch', '../../etc/passwd', join(dir, 'nothing'), '--cluster', 'app', '-r', repo]);
    expect(bad.code).toBe(202);
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
      // Never a partial or unchecked segment: either the whole one, or "absent" (or, before the first push wrote archive.json, no archive at all).
      const noArchive = !existsSync(join(repo, 'postgres-wal', 'killed', 'archive.json'));
      expect(noArchive ? [205] : [0, 1], f.stderr).toContain(f.code);
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
    // The spool's script: the shell moves a prefetched segment into place; vault-tool fetches the rest and keeps a prefetcher ahead.
    const spool = join(data, 'vault-tool-spool');
    expect(readFileSync(join(data, 'postgresql.auto.conf'), 'utf8')).toContain(`restore_command = 'f="%f"; p="%p"; command . ${spool}/restore.sh || exit 200'`);
    expect(readFileSync(join(spool, 'restore.sh'), 'utf8')).toContain(
      `exec ${NODE} ${BIN} backup wal-fetch "$f" "$p" --cluster app -r ${repo} --identity ${idFile} --async --spool "$S"`,
    );
    expect(statSync(spool).mode & 0o777).toBe(0o700);
    if (ROOT_OWNER) expect(statSync(join(spool, 'restore.sh')).uid).toBe(ROOT_OWNER.uid);
    // The restore started the prefetcher (as the server's user) before the server asks for anything: it is ready when asked.
    await waitFor('the prefetcher the restore started', () => existsSync(join(spool, 'prefetcher.pid')), 30_000);
    if (ROOT_OWNER) expect(statSync(`/proc/${readFileSync(join(spool, 'prefetcher.pid'), 'utf8').trim()}`).uid).toBe(ROOT_OWNER.uid);
    const s = await startPostgresOn(data, restores());
    servers.push(s);
    await waitFor('the promotion', () => s.sql('select pg_is_in_recovery()') === 'f');
    expect(counts(s)).toEqual({ 'before-base': '100', 'before-t': '100', retried: '1000', 'warm-up': '2000' });
    expect(s.log()).toMatch(/restored log file "[0-9A-F]{24}" from archive/);
    // A prefetcher ran, and leaves nothing behind once idle.
    expect(existsSync(join(spool, 'prefetcher.log'))).toBe(true);
    // Promoted onto timeline 2, it archives into the same archive (its archive_command came with the base backup).
    await waitFor('00000002.history in the archive', () => archived().includes('00000002.history.age.manifest.json'), 60_000);
    s.sql("insert into events(phase) select 'on-timeline-2' from generate_series(1, 50)");
    const t2 = await switchAndWait(s);
    expect(t2.startsWith('00000002')).toBe(true);
    s.sql("insert into events(phase) select 'on-timeline-2b' from generate_series(1, 5)");
    await switchAndWait(s);
    // A base backup of this server holds its data directory's vault-tool-spool (its restore.sh, where its recovery was): a
    // restore of it makes its own spool and never extracts that one.
    const b = await vt(['backup', 'postgres', '--base', '--cluster', 'app', '-r', repo, '--fast-checkpoint', '--json'], { env: s.env });
    expect(b.code, b.stderr).toBe(0);
    const file = b.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((l) => l.type === 'backup').file as string;
    const again = join(restores(), 'from-restored');
    try {
      if (HAVE_AGE)
        expect(
          execFileSync('sh', ['-c', `age -d -i ${idFile} ${join(repo, 'postgres-base', 'app', file)} | tar -t`], { maxBuffer: 1 << 26 }).toString(),
        ).toMatch(/^vault-tool-spool\/restore\.sh$/m);
      const r2 = await vt([
        'backup',
        'restore',
        `postgres-base/app/${file}`,
        '--to-dir',
        again,
        '--identity',
        idFile,
        '--no-archive',
        '-r',
        repo,
        ...ownerArgs,
      ]);
      expect(r2.code, r2.stderr).toBe(0);
      expect(readFileSync(join(again, 'vault-tool-spool', 'restore.sh'), 'utf8')).toContain(`S=${join(again, 'vault-tool-spool')}\n`);
      expect(readFileSync(join(again, 'vault-tool-spool', 'first'), 'utf8').startsWith('00000002')).toBe(true);
      expect(existsSync(join(again, 'vault-tool-spool', 'want'))).toBe(false);
    } finally {
      // The prefetcher that restore started, stopped; the base backup removed, so the tests after see the archive as before.
      await waitFor('the prefetcher the restore started', () => existsSync(join(again, 'vault-tool-spool', 'prefetcher.pid')), 30_000).catch(() => undefined);
      try {
        process.kill(Number(readFileSync(join(again, 'vault-tool-spool', 'prefetcher.pid'), 'utf8')));
      } catch {
        /* none */
      }
      await waitFor('the prefetcher to leave', () => !existsSync(join(again, 'vault-tool-spool', 'prefetcher.pid')), 30_000).catch(() => undefined);
      rmSync(again, { recursive: true, force: true });
      for (const f of [file, `${file}.manifest.json`]) rmSync(join(repo, 'postgres-base', 'app', f), { force: true });
    }
  }, 180_000);

  it("restore_command's script: a segment missing exits 1 quietly; without a prefetcher vault-tool fetches it (and starts one); a spooled segment written after its check is never handed over", async () => {
    const data = join(restores(), 'script');
    const r = await vt(['backup', 'restore', base, '--to-dir', data, '--identity', idFile, '--no-archive', '-r', repo]);
    expect(r.code, r.stderr).toBe(0);
    const spool = join(data, 'vault-tool-spool');
    const out = join(data, 'pg_wal', 'RECOVERYXLOG');
    const script = (name: string) =>
      new Promise<{ code: number | null; stderr: string }>((res) => {
        const p = spawn('sh', [join(spool, 'restore.sh'), name, out], { env: { ...process.env, ...pg.env }, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        p.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
        p.on('close', (code) => res({ code, stderr }));
      });
    const segs = archived()
      .filter((f) => /^00000001[0-9A-F]{16}\.age$/.test(f))
      .map((f) => f.slice(0, 24));
    // Two segments one after the other (1 MiB segments: the last 8 digits count them).
    const i = segs.findIndex(
      (n, k) => k + 1 < segs.length && segs[k + 1]!.slice(0, 16) === n.slice(0, 16) && parseInt(segs[k + 1]!.slice(16), 16) === parseInt(n.slice(16), 16) + 1,
    );
    const [first, second] = [segs[i], segs[i + 1]];
    // The prefetcher the restore started: stopped, and the segments it and the restore placed removed, for a spool without one.
    await waitFor('the prefetcher the restore started', () => existsSync(join(spool, 'prefetcher.pid')), 30_000);
    process.kill(Number(readFileSync(join(spool, 'prefetcher.pid'), 'utf8')));
    await waitFor('the prefetcher to leave', () => !existsSync(join(spool, 'prefetcher.pid')), 30_000);
    for (const d of ['in', 'ok']) for (const n of readdirSync(join(spool, d))) rmSync(join(spool, d, n));
    try {
      // Not in the archive: exit 1, not a word (PostgreSQL asks for such files).
      expect(await script('00000009000000000000000A')).toEqual({ code: 1, stderr: '' });
      // No prefetcher yet: vault-tool fetches and checks it, and starts one.
      expect(await script(first!)).toEqual({ code: 0, stderr: '' });
      expect(sha256(readFileSync(out))).toBe(manifestOf(first!).plaintext.sha256);
      await waitFor('the prefetcher to place the next segment', () => existsSync(join(spool, 'ok', second!)), 60_000);
      // Written over after its check (a later clock tick): the script leaves it, vault-tool fetches the archived one.
      await sleep(50);
      const placed = join(spool, 'in', second!);
      writeFileSync(placed, Buffer.alloc(statSync(placed).size, 7));
      expect(await script(second!)).toEqual({ code: 0, stderr: '' });
      expect(sha256(readFileSync(out))).toBe(manifestOf(second!).plaintext.sha256);
    } finally {
      const pid = Number(readFileSync(join(spool, 'prefetcher.pid'), 'utf8'));
      try {
        process.kill(pid);
      } catch {
        /* gone */
      }
      await waitFor('the prefetcher to leave', () => !existsSync(join(spool, 'prefetcher.pid')), 30_000);
      rmSync(data, { recursive: true, force: true });
    }
  }, 120_000);

  it('a second restore with no target follows the newest timeline through its history file', async () => {
    const data = join(restores(), 'latest');
    const r = await vt(['backup', 'restore', base, '--to-dir', data, '--identity', idFile, '--no-archive', '-r', repo, ...ownerArgs, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ timeline: 2, chain: expect.stringMatching(/^1 \(to [0-9A-F/]+\) → 2$/) });
    // The base step is a long one: it shows progress as every restore does (--json: events on stderr), up to the stored size.
    const ev = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { type: string; step: string; state: string; phase?: string; bytes?: number; total?: number })
      .filter((e) => e.type === 'progress' && e.step === 'restore');
    expect(ev.map((e) => e.phase).filter(Boolean)).toContain('restoring (tar -x, checked against backup_manifest)');
    const last = ev.filter((e) => e.bytes !== undefined).at(-1)!;
    expect(last.bytes).toBe(last.total);
    expect(ev.at(-1)!.state).toBe('done');
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

  it('a segment that fails its check in the middle of the range stops recovery (the server does not start, its log says why), never an early promote; repaired, the same directory recovers to the end of the archive, where the absent next segment ends recovery normally', async () => {
    const data = join(restores(), 'damaged');
    // No target: the case where PostgreSQL, told "not in the archive", would promote at the damaged segment without a word.
    const r = await vt(['backup', 'restore', base, '--to-dir', data, '--identity', idFile, '--no-archive', '-r', repo, ...ownerArgs]);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(readFileSync(join(repo, `${base}.manifest.json`), 'utf8'));
    const victim = middleSegment(m.source.stopWal);
    const repair = damage(victim);
    let log: string;
    try {
      log = await startExpectingAbort(data, restores());
    } finally {
      repair();
    }
    expect(log).toMatch(new RegExp(`vault-tool: error: ${victim}: the stored file is not the one its manifest describes`));
    expect(log).toContain(`could not restore file "${victim}" from archive: child process exited with exit code 204`);
    expect(log).not.toContain('selected new timeline ID');
    expect(readdirSync(join(data, 'pg_wal')).filter((f) => f.startsWith('RECOVERY'))).toEqual([]);
    // Fixed (here: the file put back), the same data directory goes on where it stopped.
    const before = log.length;
    const s = await startPostgresOn(data, restores());
    servers.push(s);
    await waitFor('the end of recovery', () => s.sql('select pg_is_in_recovery()') === 'f');
    // Everything the archive holds on the timeline it follows (the one a restore to T began).
    expect(counts(s)).toMatchObject({ 'before-t': '100', 'on-timeline-2': '50', 'on-timeline-2b': '5' });
    const second = s.log().slice(before);
    expect(second).toContain('archive recovery complete');
    expect(second).not.toContain('vault-tool: error');
    s.stop();
  }, 240_000);

  it('a base backup damaged in the repository: checked as it is written, and everything written is removed', async () => {
    const stored = join(repo, base);
    const orig = readFileSync(stored);
    const bad = Buffer.from(orig);
    const at = Math.floor(bad.length * 0.7);
    bad[at] = bad[at]! ^ 1;
    writeFileSync(stored, bad);
    const data = join(restores(), 'from-damaged');
    try {
      const r = await vt(['backup', 'restore', base, '--to-dir', data, '--identity', idFile, '--no-archive', '-r', repo, ...ownerArgs]);
      expect(r.code, r.stderr).toBe(4);
      // Its header held to the manifest's digest, a payload that does not authenticate under the key it fixes was altered.
      expect(r.stderr).toMatch(
        /^vault-tool: error: .* is not the backup its manifest describes \(its payload does not authenticate: .*\): nothing was restored$/m,
      );
    } finally {
      writeFileSync(stored, orig);
    }
    expect(existsSync(data)).toBe(false);
  }, 120_000);

  it.skipIf(!HAVE_AGE)(
    'a base backup replaced by another age file of the same contents: it would decrypt and pass backup_manifest, but its header is not the one its signed manifest names, and it is refused before anything is written',
    async () => {
      const stored = join(repo, base);
      const orig = readFileSync(stored);
      // The same plaintext, sealed anew to the same recipient (a new file key): every byte of the age file differs.
      const plain = execFileSync('age', ['-d', '-i', idFile, stored], { maxBuffer: 1 << 30 });
      writeFileSync(stored, execFileSync('age', ['-r', recipient], { input: plain, maxBuffer: 1 << 30 }));
      const data = join(restores(), 'from-replaced');
      try {
        const r = await vt(['backup', 'restore', base, '--to-dir', data, '--identity', idFile, '--no-archive', '-r', repo, ...ownerArgs]);
        expect(r.code, r.stderr).toBe(8);
        expect(r.stderr).toMatch(/^vault-tool: error: .* is not the backup its manifest describes \(its header's SHA-256 differs\): nothing was restored$/m);
      } finally {
        writeFileSync(stored, orig);
      }
      expect(existsSync(data)).toBe(false);
    },
    120_000,
  );

  it("a base backup tampered under its header's digest (a byte of the header, its MAC or the payload nonce, another age file's header before its payload, cut short, a manifest whose digest is not its file's): refused before anything is written, and verification fails the last too", async () => {
    const stored = join(repo, base);
    const mf = `${stored}.manifest.json`;
    const [orig, origManifest] = [readFileSync(stored), readFileSync(mf)];
    const m = JSON.parse(origManifest.toString('utf8')) as BackupManifest;
    /** An age file's header through its MAC line, and the payload nonce after it. */
    const headOf = (f: Buffer) => f.indexOf('\n', f.indexOf('\n--- ') + 1) + 1 + 16;
    const len = headOf(orig);
    // Recorded by the backup: the digest of exactly those bytes.
    expect(m.ciphertext.headerSha256).toBe(sha256(orig.subarray(0, len)));
    // Another age file to the same recipient (a WAL segment's), its header and nonce before this payload, the size kept.
    const other = readFileSync(join(segDir(), archived().find((f) => /^[0-9A-F]{24}\.age$/.test(f))!));
    const swapped = Buffer.alloc(orig.length);
    Buffer.concat([other.subarray(0, headOf(other)), orig.subarray(len)]).copy(swapped);
    const flip = (at: number) => {
      const b = Buffer.from(orig);
      b[at] = b[at]! ^ 1;
      return b;
    };
    const differs = /^vault-tool: error: .* is not the backup its manifest describes \(its header's SHA-256 differs\): nothing was restored$/m;
    const cases: [string, Buffer, number, RegExp][] = [
      ['a byte of a recipient stanza', flip(orig.indexOf('\n-> ') + 10), 8, differs],
      ['a byte of the header MAC', flip(len - 20), 8, differs],
      ['a byte of the payload nonce', flip(len - 3), 8, differs],
      ["another file's header", swapped, 8, differs],
      // Its size, against the manifest's, when the repository is listed.
      ['cut short', orig.subarray(0, orig.length - 1000), 4, /the stored file is \d+ bytes, its manifest says \d+: it was cut short or changed/],
    ];
    const data = join(restores(), 'from-tampered');
    const restore = () => vt(['backup', 'restore', base, '--to-dir', data, '--identity', idFile, '--no-archive', '-r', repo, ...ownerArgs]);
    // An empty folder given: nothing is made, written or changed in it (not even its mode, which a restore sets to 0700).
    mkdirSync(data, { mode: 0o755 });
    chmodSync(data, 0o755);
    const untouched = () => {
      expect(readdirSync(data)).toEqual([]);
      expect(statSync(data).mode & 0o777).toBe(0o755);
    };
    try {
      for (const [what, bytes, code, why] of cases) {
        writeFileSync(stored, bytes);
        const r = await restore();
        expect(r.code, `${what}: ${r.stderr}`).toBe(code);
        expect(r.stderr, what).toMatch(why);
        untouched();
      }
      writeFileSync(stored, orig);
      // The genuine file under a manifest (signed by a trusted host) whose digest is not its header's: a restore refuses it, and
      // so does verification, which hashes the whole file and holds the header's digest besides.
      const { signature: _s, signer: _k, ...body } = m;
      writeFileSync(
        mf,
        `${JSON.stringify(signManifest({ ...body, ciphertext: { ...m.ciphertext, headerSha256: 'cd'.repeat(32) } }, loadSigningKey(hostKey)), null, 2)}\n`,
      );
      const r = await restore();
      expect(r.code, r.stderr).toBe(8);
      expect(r.stderr).toMatch(/is not the backup its manifest describes \(its header's SHA-256 differs\): nothing was restored$/m);
      untouched();
      const v = await vt(['backup', 'verify', base, '-r', repo]);
      expect(v.code, v.stdout + v.stderr).not.toBe(0);
      expect(v.stdout + v.stderr).toMatch(/not the one the manifest describes \(its header's SHA-256 differs\)/);
    } finally {
      writeFileSync(stored, orig);
      writeFileSync(mf, origManifest);
      rmSync(data, { recursive: true, force: true });
    }
  }, 120_000);

  it.skipIf(!HAVE_AGE)(
    'a restore holds every file to backup_manifest again only when the signed manifest records no passed verification (the host that signs vouches for the check it recorded)',
    async () => {
      const stored = join(repo, base);
      const mf = `${stored}.manifest.json`;
      const [orig, origManifest] = [readFileSync(stored), readFileSync(mf)];
      // A byte of postgresql.conf changed in the tar (a comment; backup_manifest left as it was), sealed anew, and a manifest for
      // that very file signed by a trusted host: once recording a passed verification, once none.
      const plain = execFileSync('age', ['-d', '-i', idFile, stored], { maxBuffer: 1 << 30 });
      let h = -1;
      for (let at = plain.indexOf('postgresql.conf\0'); at >= 0; at = plain.indexOf('postgresql.conf\0', at + 1))
        if (at % 512 === 0) {
          h = at;
          break;
        }
      expect(plain.subarray(h + 512, h + 514).toString('latin1')).toBe('# ');
      plain[h + 514] = plain[h + 514] === 0x3d ? 0x2d : 0x3d;
      const sealed = execFileSync('age', ['-r', recipient], { input: plain, maxBuffer: 1 << 30 });
      const m = JSON.parse(origManifest.toString('utf8')) as BackupManifest;
      const { signature: _s, signer: _k, ...body } = m;
      const signed = (verification: BackupManifest['verification']) =>
        `${JSON.stringify(
          signManifest(
            {
              ...body,
              ciphertext: { size: sealed.length, sha256: sha256(sealed) },
              plaintext: { size: plain.length, sha256: sha256(plain) },
              verification,
            },
            loadSigningKey(hostKey),
          ),
          null,
          2,
        )}\n`;
      const data = join(restores(), 'from-resigned');
      try {
        writeFileSync(stored, sealed);
        writeFileSync(mf, signed(null));
        const refused = await vt(['backup', 'restore', base, '--to-dir', data, '--identity', idFile, '--no-archive', '-r', repo, ...ownerArgs]);
        expect(refused.code, refused.stderr).not.toBe(0);
        expect(refused.stderr).toMatch(/does not match its backup_manifest: postgresql\.conf fails its SHA256 checksum/);
        expect(existsSync(data)).toBe(false);
        writeFileSync(mf, signed({ ...m.verification!, ok: true }));
        const r = await vt(['backup', 'restore', base, '--to-dir', data, '--identity', idFile, '--no-archive', '-r', repo, ...ownerArgs]);
        expect(r.code, r.stderr).toBe(0);
        expect(
          readFileSync(join(data, 'postgresql.conf'))
            .subarray(0, 3)
            .equals(plain.subarray(h + 512, h + 515)),
        ).toBe(true);
      } finally {
        writeFileSync(stored, orig);
        writeFileSync(mf, origManifest);
        await waitFor('the prefetcher the restore started', () => existsSync(join(data, 'vault-tool-spool', 'prefetcher.pid')), 30_000).catch(() => undefined);
        try {
          process.kill(Number(readFileSync(join(data, 'vault-tool-spool', 'prefetcher.pid'), 'utf8')));
        } catch {
          /* none */
        }
        await waitFor('the prefetcher to leave', () => !existsSync(join(data, 'vault-tool-spool', 'prefetcher.pid')), 30_000);
        rmSync(data, { recursive: true, force: true });
      }
    },
    120_000,
  );

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
      // A segment age cannot decrypt stops recovery (exit 204), says so, and leaves no partial %p.
      const m = JSON.parse(readFileSync(join(repo, `${base}.manifest.json`), 'utf8'));
      const victim = middleSegment(m.source.stopWal);
      const repair = damage(victim);
      let log: string;
      try {
        log = await startExpectingAbort(data, restores());
      } finally {
        repair();
      }
      expect(log).toContain(`restore_command: ${victim}: age could not decrypt it: recovery stops here`);
      expect(log).toContain(`could not restore file "${victim}" from archive: child process exited with exit code 204`);
      expect(readdirSync(join(data, 'pg_wal')).filter((f) => f.startsWith('RECOVERY'))).toEqual([]);
      const s = await startPostgresOn(data, restores());
      servers.push(s);
      await waitFor('the promotion', () => s.sql('select pg_is_in_recovery()') === 'f');
      expect(counts(s)).toMatchObject({ 'before-base': '100', 'before-t': '100' });
      expect(counts(s)['after-t']).toBeUndefined();
      // The archive's folder not there (an unmounted disk) is no "end of the archive" either.
      const data2 = join(restores(), 'stock-unmounted');
      execFileSync('sh', ['-e', '-c', block], { env: { ...env, DATA: data2, REPO: join(dir, 'unmounted') }, stdio: 'pipe' });
      const log2 = await startExpectingAbort(data2, restores());
      expect(log2).toContain(`restore_command: ${join(dir, 'unmounted')}/postgres-wal/app/segments is not there: recovery stops here`);
    },
    300_000,
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
    // A restore's plan only (--dry-run) into a folder never made, to a target or the end of the archive.
    const plannedTo = (...target: string[]) =>
      vt(['backup', 'restore', `postgres-base/app/${base()}`, '--to-dir', join(dir, 'never'), ...target, '--dry-run', '-r', repo]);
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
      const refused = await plannedTo('--target-time', new Date().toISOString());
      expect(refused.code).toBe(8);
      expect(refused.stderr).toContain(`WAL segment ${later} is missing from the archive`);
      expect(existsSync(join(dir, 'never'))).toBe(false);
      // To the end of the archive: the server would stop at the gap with an error (wal-fetch never lets it pass for the end), so
      // the plan refuses it, naming the last WAL it can replay, and the hint the targets before it.
      const toEnd = await plannedTo();
      expect(toEnd.code, toEnd.stderr).toBe(8);
      expect(toEnd.stderr).toMatch(
        new RegExp(
          `WAL segment ${later} is missing from the archive: a recovery to the end of the archive would stop there.*the last WAL it can replay is [0-9A-F]{24}`,
        ),
      );
      expect(toEnd.stderr).toMatch(/hint: .*--target-time/);
      expect(existsSync(join(dir, 'never'))).toBe(false);
    } finally {
      for (const f of readdirSync(aside)) renameSync(join(aside, f), join(segDir(), f));
    }
    // Its manifest one a restore refuses (signed, then edited: the signature no longer holds): the plan stops there, as the
    // recovery would at that segment, naming why, with nothing written.
    const mf = join(segDir(), `${later}.age.manifest.json`);
    const genuine = readFileSync(mf, 'utf8');
    writeFileSync(mf, genuine.replace(/"finishedAt": *"[^"]+"/, '"finishedAt": "2000-01-01T00:00:00.000Z"'));
    try {
      expect(readFileSync(mf, 'utf8')).not.toBe(genuine);
      const refused = await plannedTo('--target-time', new Date().toISOString());
      expect(refused.code, refused.stderr).toBe(8);
      expect(refused.stderr).toMatch(new RegExp(`WAL segment ${later} cannot be used \\(.*signature`));
      expect(existsSync(join(dir, 'never'))).toBe(false);
    } finally {
      writeFileSync(mf, genuine);
    }
    // Another segment's file and signed manifest copied under its name (moved): the plan, wal-verify and the recovery all refuse
    // it, naming it, where before the plan and wal-verify took the signature alone and passed what the recovery refused.
    const donor = archived()
      .filter((f) => /^[0-9A-F]{24}\.age$/.test(f) && f.slice(0, 24) !== later)
      .map((f) => f.slice(0, 24))[0]!;
    const lf = join(segDir(), `${later}.age`);
    const genuineFile = readFileSync(lf);
    writeFileSync(lf, readFileSync(join(segDir(), `${donor}.age`)));
    writeFileSync(mf, readFileSync(join(segDir(), `${donor}.age.manifest.json`)));
    try {
      const moved = `WAL segment ${later} cannot be used (its manifest describes postgres-wal/app/${donor}: it was moved)`;
      const refused = await plannedTo('--target-time', new Date().toISOString());
      expect(refused.code, refused.stderr).toBe(8);
      expect(refused.stderr).toContain(moved);
      expect(existsSync(join(dir, 'never'))).toBe(false);
      const v = await vt(['backup', 'wal-verify', '--cluster', 'app', '-r', repo, '--json']);
      expect(v.code, v.stdout + v.stderr).toBe(8);
      const report = JSON.parse(v.stdout);
      expect(report.bases[0]).toMatchObject({ ok: false, missing: later, message: expect.stringContaining(moved) });
      expect(report.files).toEqual([expect.objectContaining({ name: later, ok: false, message: expect.stringContaining('it was moved') })]);
    } finally {
      writeFileSync(lf, genuineFile);
      writeFileSync(mf, genuine);
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
        // wal-fetch: 200 + the usual code, which stops a recovery (CLI.md, "Exit codes of `backup wal-fetch`").
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(args[1] === 'wal-fetch' ? 210 : 10);
        expect(r.stderr).toMatch(
          new RegExp(`^vault-tool: error: (${archived()[0]!.slice(0, 24)}: )?refusing to replace ${join(dir, target)}: it is ${what}\n`, 'm'),
        );
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

describe.skipIf(!HAVE_PG)('asynchronous archiving (--async): a pusher ahead of the archiver, archive_command taking its acknowledgements', () => {
  let server: Postgres;
  let spool: string;
  const cluster = 'async';
  /** docs/RUNBOOK.md's asynchronous archive_command, run as written, with this test's paths and keys. */
  const asyncCommand = (spoolDir: string, extra = '', prefix = '') => {
    const runbook = readFileSync(join(ROOT, 'docs/RUNBOOK.md'), 'utf8');
    const line = /<!-- wal-push-async -->\n```ini\n(archive_command = '.*')\n```/.exec(runbook)![1]!;
    const value = line.slice("archive_command = '".length, -1).replace(/''/g, "'");
    return value
      .replace('/var/lib/postgresql/wal-spool', spoolDir)
      .replace('exec vault-tool ', `exec ${prefix}${NODE} ${BIN} `)
      .replace(
        '--cluster main -r /srv/backups --recipient age1…',
        `--cluster ${cluster} -r ${repo} --recipient ${recipient} --signing-key ${hostKey} --idle 3s${extra}`,
      );
  };
  const setCommand = async (cmd: string) => {
    server.sql(`alter system set archive_command = '${cmd.replace(/'/g, "''")}'`);
    server.sql('select pg_reload_conf()');
    await sleep(300);
  };
  const statusOf = (name: string) => readdirSync(join(server.data, 'pg_wal', 'archive_status')).find((f) => f.startsWith(`${name}.`));

  beforeAll(async () => {
    if (!HAVE_PG) return;
    spool = postgresFolder(join(dir, 'spool'));
    server = await startPostgres({
      initdb: ['--wal-segsize', '1'],
      conf: { archive_mode: 'on', wal_level: 'replica', archive_timeout: '60s', archive_command: asyncCommand(join(spool, 'a')) },
    });
    server.sql('create table t(id serial primary key, v text)');
  }, 120_000);
  afterAll(() => server?.stop());

  it('every segment is archived by the pusher and reported archived only once committed; the acknowledgements are all taken', async () => {
    const names: string[] = [];
    for (let i = 0; i < 6; i++) {
      server.sql('insert into t(v) select md5(g::text) from generate_series(1, 2000) g');
      names.push(await switchAndWait(server));
    }
    expect(Number(server.sql('select failed_count from pg_stat_archiver'))).toBe(0);
    for (const n of names) {
      expect(archived(cluster)).toContain(`${n}.age.manifest.json`);
      expect(manifestOf(n, cluster).source.wal).toBe(n);
    }
    // A pusher ran (its log is in the spool) and every acknowledgement it wrote was taken; it leaves once idle.
    expect(existsSync(join(spool, 'a', 'pusher.log'))).toBe(true);
    await waitFor('the pusher to leave', () => !existsSync(join(spool, 'a', 'pusher.lock')), 30_000);
    expect(readdirSync(join(spool, 'a', 'ok'))).toEqual([]);
    expect(readFileSync(join(spool, 'a', 'pusher.log'), 'utf8')).toBe('');
    // The archive is whole: each segment fetched back is the one PostgreSQL wrote (its page headers, its manifest).
    const out = join(dir, 'async-back');
    mkdirSync(out, { recursive: true });
    for (const n of names) expect((await vt(['backup', 'wal-fetch', n, join(out, n), '--cluster', cluster, '-r', repo])).code).toBe(0);
  }, 180_000);

  it('the pusher killed: archive_command starts another or pushes the file itself; nothing is lost', async () => {
    server.sql('insert into t(v) select md5(g::text) from generate_series(1, 2000) g');
    await switchAndWait(server);
    await waitFor('a pusher', () => existsSync(join(spool, 'a', 'pusher.lock')), 30_000);
    const lock = JSON.parse(readFileSync(join(spool, 'a', 'pusher.lock'), 'utf8'));
    process.kill(lock.pid, 'SIGKILL');
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      server.sql('insert into t(v) select md5(g::text) from generate_series(1, 2000) g');
      names.push(await switchAndWait(server));
    }
    for (const n of names) expect(archived(cluster)).toContain(`${n}.age.manifest.json`);
    expect(Number(server.sql('select failed_count from pg_stat_archiver'))).toBe(0);
  }, 180_000);

  it('the repository out of reach: no acknowledgement, archive_command fails, PostgreSQL keeps the segment and archives it once the repository is back', async () => {
    const conf = join(dir, 'dead-rclone.conf');
    writeFileSync(conf, '');
    chmodSync(conf, 0o644);
    const failedBefore = Number(server.sql('select failed_count from pg_stat_archiver'));
    // The same command, to an HTTP remote nobody listens on (its own spool: a spool serves one archive).
    await setCommand(
      asyncCommand(join(spool, 'dead'), '', `env RCLONE_CONFIG=${conf} RCLONE_CONFIG_DEAD_TYPE=http RCLONE_CONFIG_DEAD_URL=http://127.0.0.1:1/ `).replace(
        `-r ${repo}`,
        '-r dead:archive',
      ),
    );
    server.sql('insert into t(v) select md5(g::text) from generate_series(1, 2000) g');
    const name = server.sql('select pg_walfile_name(pg_switch_wal())');
    await waitFor('a failed archive_command', () => Number(server.sql('select failed_count from pg_stat_archiver')) > failedBefore, 60_000);
    expect(statusOf(name)).toBe(`${name}.ready`);
    expect(readdirSync(join(spool, 'dead', 'ok'))).toEqual([]);
    expect(server.log()).toMatch(/vault-tool: error: .*(rclone|127\.0\.0\.1:1)/);
    // Back: the segment PostgreSQL kept is archived, whole.
    await setCommand(asyncCommand(join(spool, 'a')));
    await waitFor(`${name} archived`, () => statusOf(name) === `${name}.done`, 90_000);
    expect(archived(cluster)).toContain(`${name}.age.manifest.json`);
  }, 240_000);
});
