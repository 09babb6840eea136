// Peak memory of every backup kind on an input of BENCH_PEAKS_MB (default
// 1024: 1 GiB), and of the jobs `schedule` runs (verify, drill, status,
// prune), for the CronJobs' requests and limits (src/verify/cronjob.ts,
// RESOURCES); then the WAL archive's kinds on a cluster of BENCH_PEAKS_MB
// archiving through `backup wal-push` (a `backup postgres --base`, one
// wal-push of a 16 MiB segment, the asynchronous pusher over
// BENCH_PEAKS_SEGMENTS segments, a point-in-time `backup restore` of the
// base), and `backup bucket` of BENCH_PEAKS_MB on rclone's local backend
// (three quarters in four large objects, a quarter in objects of 5 KiB).
// BENCH_PEAKS_ONLY=kinds,archive,bucket runs some of the three. Each command runs under /usr/bin/time -v (vault-tool's own
// peak, its worker threads included) while the resident memory of its whole
// process tree (vault-tool, pg_dump, pg_restore or tar as the checker,
// redis-cli, the exec command) is summed from /proc every 20 ms. The inputs
// are incompressible (random bytes), so the dump is as large as the input.
//
//   node bench/peaks.mjs            (or npm run bench; BENCH_PEAKS_MB=256 for a quicker run)
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startKubeApi } from '../test/helpers/kube-api-server.mjs';
import { postgresOwner, startPostgres, startRedis } from '../test/helpers/servers.mjs';
import { row } from './lib.mjs';

const BIN = resolve(import.meta.dirname, '../bin/vault-tool.js');
const MB = Number(process.env.BENCH_PEAKS_MB ?? 1024);
const SEGMENTS = Number(process.env.BENCH_PEAKS_SEGMENTS ?? 50);
const only = (k) => !process.env.BENCH_PEAKS_ONLY || process.env.BENCH_PEAKS_ONLY.split(',').includes(k);
const owner = postgresOwner();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const PAGE = 4096;
const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;

function tree(pid) {
  const kids = new Map();
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const ppid = Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(p)]);
    } catch {
      /* gone */
    }
  }
  const all = [];
  const walk = (q) => {
    all.push(q);
    for (const k of kids.get(q) ?? []) walk(k);
  };
  walk(pid);
  return all;
}

const comm = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
};

const rss = (pid) => {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE;
  } catch {
    return 0;
  }
};

/**
 * vault-tool's own peak (time -v) and its process tree's (sampled); the
 * command's wall time. `asOwner`: run as the PostgreSQL cluster's user
 * (runuser, when root), as its archive_command and its operator would.
 */
function measure(args, env, { asOwner = false } = {}) {
  return new Promise((res, rej) => {
    const t = process.hrtime.bigint();
    const cmd = [process.execPath, BIN, ...args];
    const p = spawn('/usr/bin/time', ['-v', ...(asOwner && owner ? ['runuser', '-u', 'postgres', '--'] : []), ...cmd], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    let peak = 0;
    p.stderr.on('data', (c) => {
      err += c;
    });
    // What the tree held at its peak: each process by name (node and its workers are one process).
    let at = '';
    const timer = setInterval(() => {
      // runuser (running a command as the cluster's user) is the benchmark's, not the job's.
      const procs = tree(p.pid)
        .map((q) => [comm(q), rss(q)])
        .filter(([c]) => c !== 'runuser');
      const sum = procs.reduce((n, [, b]) => n + b, 0);
      if (sum <= peak) return;
      peak = sum;
      const by = new Map();
      for (const [c, b] of procs) if (b) by.set(c, [(by.get(c)?.[0] ?? 0) + 1, (by.get(c)?.[1] ?? 0) + b]);
      at = [...by]
        .sort((a, b) => b[1][1] - a[1][1])
        .map(([c, [n, b]]) => `${n > 1 ? `${n}× ` : ''}${c} ${mib(b)}`)
        .join(', ');
    }, 20);
    p.on('error', rej);
    p.on('close', (code) => {
      clearInterval(timer);
      const own = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(err)?.[1] ?? 0) * 1024;
      if (code !== 0) return rej(new Error(`${args.join(' ')} failed (${code}): ${err.split('\tCommand being timed')[0].slice(-800)}`));
      res({ own, peak, at, wall: Number(process.hrtime.bigint() - t) / 1e9 });
    });
  });
}

/** Sets `n` keys of `size` random bytes each through the Redis protocol. */
function fillRedis(port, n, size) {
  return new Promise((res, rej) => {
    const s = connect(port, '127.0.0.1');
    let replies = 0;
    s.on('error', rej);
    s.on('data', (d) => {
      replies += d
        .toString('latin1')
        .split('\r\n')
        .filter((l) => l === '+OK').length;
      if (replies === n) s.end(res);
    });
    s.on('connect', async () => {
      for (let i = 0; i < n; i++) {
        const v = randomBytes(size);
        const k = `blob:${i}`;
        const ok = s.write(Buffer.concat([Buffer.from(`*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$${size}\r\n`), v, Buffer.from('\r\n')]));
        if (!ok) await new Promise((r) => s.once('drain', r));
      }
    });
  });
}

/** Measures one command, prints its row and keeps it. */
async function record(rows, what, args, env, opts) {
  const m = await measure(args, env, opts);
  rows.push([what, m]);
  row(`peak RSS: ${what}`, `${mib(m.own)} (tree ${mib(m.peak)}) ${m.wall.toFixed(0)} s`, '');
  row('  the tree at its peak', m.at, '');
  return m;
}

export default async function benchPeaks() {
  for (const b of ['/usr/bin/time', 'pg_dump', 'pg_basebackup', 'redis-server', 'tar', 'rclone']) {
    if (spawnSync(b, ['--version']).error && spawnSync(b, ['version']).error) return row(`peaks: ${b} not installed`, 'skipped', '', false);
  }
  const rows = [];
  console.log(`\n     peak RSS, node ${process.version}, ${readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm).length} cores, inputs of ${MB} MiB`);
  if (only('kinds')) await benchKinds(rows);
  if (only('archive')) await benchArchive(rows);
  if (only('bucket')) await benchBucket(rows);
  return rows;
}

/** The dump kinds (PostgreSQL, Redis, files, exec, Kubernetes) and the jobs `schedule` runs. */
async function benchKinds(rows) {
  const dir = mkdtempSync(join(tmpdir(), 'vt-bench-peaks-'));
  const pg = await startPostgres();
  const redis = await startRedis(join(dir, 'redis'));
  const kube = await startKubeApi({ namespaces: ['a', 'b', 'c', 'd'] });
  try {
    const env = {
      ...pg.env,
      VAULT_TOOL_STATE_DIR: join(dir, 'state'),
      VAULT_TOOL_VAULT_FILE: join(dir, 'secrets.vault'),
      VAULT_TOOL_KEY_FILE: join(dir, 'vault.key'),
      VAULT_TOOL_BACKUP_REPO: join(dir, 'repo'),
      KUBECONFIG: join(dir, 'kubeconfig'),
    };
    // PostgreSQL: MB of random bytea (8 KiB a row, stored uncompressed: the dump is as large).
    pg.sql('create database app');
    pg.sql('create extension pgcrypto', 'app');
    pg.sql('create table blobs (id int primary key, b bytea); alter table blobs alter column b set storage external', 'app');
    for (let i = 0; i < MB; i += 64)
      pg.sql(
        `insert into blobs select g, ${Array(8).fill('gen_random_bytes(1024)').join(' || ')} from generate_series(${i * 128 + 1}, ${Math.min(i + 64, MB) * 128}) g`,
        'app',
      );
    // Redis: MB keys of 1 MiB random bytes, the RDB written uncompressed (random bytes do not compress anyway).
    redis.cli('config', 'set', 'rdbcompression', 'no');
    await fillRedis(redis.port, MB, 2 ** 20);
    // Files: 16 files of MB/16 random bytes.
    mkdirSync(join(dir, 'data'));
    for (let i = 0; i < 16; i++) writeFileSync(join(dir, 'data', `f${i}`), randomBytes(Math.round((MB * 2 ** 20) / 16)));
    // Kubernetes: Secrets of 768 KiB random bytes (1 MiB in base64, the API's bound), in four namespaces.
    for (let i = 0; i < MB; i++)
      kube.state.put({ metadata: { name: `s${i}`, namespace: 'abcd'[i % 4] }, data: { v: randomBytes(768 * 1024).toString('base64') } });
    writeFileSync(join(dir, 'kubeconfig'), kube.kubeconfig());
    const vt = (...a) => {
      const r = spawnSync(process.execPath, [BIN, ...a], { env: { ...process.env, ...env }, encoding: 'utf8', cwd: dir });
      if (r.status !== 0) throw new Error(r.stderr);
      return r.stdout;
    };
    vt('init');
    vt('escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-c', 'c', '-o', join(dir, 'shares'));
    const shares = readdirSync(join(dir, 'shares')).filter((f) => f.endsWith('.share'));
    const run = (what, args) => record(rows, what, args, env);
    const newest = (component) => {
      const d = join(dir, 'repo', component);
      const f = readdirSync(d)
        .filter((n) => n.endsWith('.age'))
        .sort()
        .at(-1);
      return `${mib(statSync(join(d, f)).size)} stored`;
    };
    await run(`backup postgres (${MB} MiB database)`, ['backup', 'postgres', '--dbname', 'app']);
    row('  its dump', newest('postgres/app'), '');
    await run(`backup redis (${MB} MiB of values)`, ['backup', 'redis', '-p', String(redis.port)]);
    row('  its dump', newest(readdirSync(join(dir, 'repo', 'redis')).map((n) => `redis/${n}`)[0]), '');
    await run(`backup files (${MB} MiB in 16 files)`, ['backup', 'files', '-C', dir, '--name', 'data', '--', 'data']);
    row('  its dump', newest('files/data'), '');
    await run(`backup exec (head -c ${MB} MiB of /dev/urandom)`, [
      'backup',
      'exec',
      '--name',
      'random',
      '--',
      'head',
      '-c',
      String(MB * 2 ** 20),
      '/dev/urandom',
    ]);
    await run(`backup k8s (${MB} Secrets of 1 MiB in 4 namespaces)`, ['backup', 'k8s', '-n', 'a', '-n', 'b', '-n', 'c', '-n', 'd', '--name', 'cluster']);
    row('  its dump', newest('k8s/cluster'), '');
    await run('backup verify --all', ['backup', 'verify', '--all']);
    writeFileSync(join(dir, 'verify.yaml'), `apiVersion: vault-tool/v1\nkind: VerificationPlan\nbackups: { repo: ${join(dir, 'repo')}, readData: true }\n`);
    await run('verify (readData: true)', ['verify', '--plan', join(dir, 'verify.yaml'), '--report-dir', join(dir, 'reports')]);
    writeFileSync(
      join(dir, 'drill.yaml'),
      `apiVersion: vault-tool/v1\nkind: DrillPlan\nshares: { files: [${shares
        .slice(0, 2)
        .map((s) => join(dir, 'shares', s))
        .join(
          ', ',
        )}] }\nbackups:\n  repo: ${join(dir, 'repo')}\n  restore:\n    - { component: postgres/app, database: drill_app }\nchecks:\n  - { tables: backup, database: drill_app }\n`,
    );
    await run('drill (restore into a scratch database)', ['drill', '--plan', join(dir, 'drill.yaml'), '--report-dir', join(dir, 'reports')]);
    await run('status', ['status', '--prometheus', join(dir, 'm.prom')]);
    await run('backup prune --keep-last 1 --confirm', ['backup', 'prune', '--keep-last', '1', '--confirm']);
  } finally {
    await kube.close?.();
    redis.stop();
    pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits until the cluster's archiver has nothing ready. */
async function waitArchived(pg, timeoutMs = 1_800_000) {
  const ready = () => readdirSync(join(pg.data, 'pg_wal', 'archive_status')).filter((n) => n.endsWith('.ready')).length;
  const deadline = Date.now() + timeoutMs;
  while (ready() > 0) {
    if (Date.now() > deadline) throw new Error('the archiver did not catch up');
    await sleep(200);
  }
}

/**
 * The WAL archive's kinds, every command run as the cluster's user (as its
 * archive_command is): a cluster of MB of random bytea, filled while its
 * archive_command copied the segments aside (16 MiB of random bytes each, the
 * ones the wal-push rows push), then archiving through `backup wal-push`.
 */
async function benchArchive(rows) {
  const dir = mkdtempSync(join(tmpdir(), 'vt-bench-peaks-wal-'));
  chmodSync(dir, 0o755);
  const at = (...p) => join(dir, ...p);
  for (const d of ['plain', 'repo', 'keys', 'spool', 'restores']) mkdirSync(at(d), { recursive: true });
  const own = (path) => {
    if (owner) spawnSync('chown', ['-R', `${owner.uid}:${owner.gid}`, path]);
    return path;
  };
  own(dir);
  const pg = await startPostgres({
    conf: { wal_level: 'replica', archive_mode: 'on', archive_command: `cp %p ${at('plain')}/%f`, max_wal_size: '4GB', checkpoint_timeout: '30min' },
  });
  try {
    const env = { ...pg.env, HOME: dir, VAULT_TOOL_STATE_DIR: at('keys', 'state') };
    const vt = (...a) => {
      const [c, args] = owner ? ['runuser', ['-u', 'postgres', '--', process.execPath, BIN, ...a]] : [process.execPath, [BIN, ...a]];
      const r = spawnSync(c, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`vault-tool ${a.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const vault = ['--vault-file', at('keys', 'secrets.vault'), '--key-file', at('keys', 'vault.key')];
    vt('init', ...vault);
    const recipient = vt(...vault, 'backup', 'key').trim();
    const sign = at('keys', 'signing.key');
    const signer = vt(...vault, 'backup', 'key', 'signer', '--signing-key', sign).trim();
    vt(...vault, 'backup', 'key', 'trust', signer, '--label', 'db');
    const push = (cluster) => ['backup', 'wal-push', '--cluster', cluster, '-r', at('repo'), '--recipient', recipient, '--signing-key', sign];

    pg.sql('create extension pgcrypto');
    pg.sql('create table blobs (id int primary key, b bytea); alter table blobs alter column b set storage external');
    for (let i = 0; i < MB; i += 64)
      pg.sql(
        `insert into blobs select g, ${Array(8).fill('gen_random_bytes(1024)').join(' || ')} from generate_series(${i * 128 + 1}, ${Math.min(i + 64, MB) * 128}) g`,
      );
    pg.sql('select pg_switch_wal()');
    await waitArchived(pg);
    const segs = readdirSync(at('plain'))
      .filter((n) => /^[0-9A-F]{24}$/.test(n))
      .sort()
      .slice(1, SEGMENTS + 1);
    // From here on the cluster archives through wal-push, as the base backup needs.
    const archive = `${process.execPath} ${BIN} ${push('app').join(' ')} %p`;
    pg.sql(`alter system set archive_command = '${archive.replace(/'/g, "''")}'`);
    pg.sql('select pg_reload_conf()');
    await sleep(500);

    await record(rows, 'backup wal-push (one 16 MiB segment)', [...push('one'), at('plain', segs[0])], env, { asOwner: true });
    // The pusher drains a pg_wal folder of ready files, with its default two at once and with one.
    // And over a fifth of the segments: whether its peak grows with the number it has pushed.
    for (const [jobs, some] of [
      [2, segs],
      [1, segs],
      [2, segs.slice(0, Math.ceil(segs.length / 5))],
    ]) {
      const cluster = `async-${jobs}-${some.length}`;
      const wal = at(`pg_wal-${cluster}`);
      mkdirSync(join(wal, 'archive_status'), { recursive: true });
      for (const n of some) {
        copyFileSync(at('plain', n), join(wal, n));
        writeFileSync(join(wal, 'archive_status', `${n}.ready`), '');
      }
      own(wal);
      await record(
        rows,
        `backup wal-push --async --drain --jobs ${jobs} (the pusher, ${some.length} segments)`,
        [...push(cluster), wal, '--async', '--drain', '--jobs', String(jobs), '--spool', at('spool', cluster), '--idle', '1s'],
        env,
        { asOwner: true },
      );
      const pushed = readdirSync(at('repo', 'postgres-wal', cluster, 'segments')).filter((n) => /^[0-9A-F]{24}\.age$/.test(n)).length;
      if (pushed !== some.length) throw new Error(`the pusher pushed ${pushed} of ${some.length} segments`);
      rmSync(wal, { recursive: true, force: true });
    }
    rmSync(at('plain'), { recursive: true, force: true });

    await record(
      rows,
      `backup postgres --base (${MB} MiB cluster)`,
      [...vault, 'backup', 'postgres', '--base', '--cluster', 'app', '-r', at('repo'), '--fast-checkpoint'],
      env,
      {
        asOwner: true,
      },
    );
    const baseDir = at('repo', 'postgres-base', 'app');
    const base = readdirSync(baseDir)
      .filter((n) => n.endsWith('.age'))
      .sort()
      .at(-1);
    row('  its dump', `${mib(statSync(join(baseDir, base)).size)} stored`, '');
    // A target after the base backup, and WAL archived past it.
    await sleep(1100);
    const target = new Date().toISOString();
    await sleep(1100);
    pg.sql('create table after_target (i int)');
    pg.sql('select pg_switch_wal()');
    await waitArchived(pg);
    const id = at('keys', 'backup.id');
    vt(...vault, 'backup', 'key', 'export-identity', '-o', id);
    await record(
      rows,
      'backup restore (the base, to a point in time)',
      [
        'backup',
        'restore',
        `postgres-base/app/${base}`,
        '--to-dir',
        at('restores', 'pitr'),
        '--target-time',
        target,
        '--target-action',
        'promote',
        '--identity',
        id,
        '--no-archive',
        '-r',
        at('repo'),
      ],
      env,
      { asOwner: true },
    );
  } finally {
    pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `backup bucket` of MB on rclone's local backend: three quarters in four
 * large objects (streamed), a quarter in objects of 5 KiB (listed, then read
 * in batches), so that the listing and the batches both count.
 */
async function benchBucket(rows) {
  const dir = mkdtempSync(join(tmpdir(), 'vt-bench-peaks-bucket-'));
  try {
    const env = {
      RCLONE_CONFIG_LOC_TYPE: 'local',
      VAULT_TOOL_STATE_DIR: join(dir, 'state'),
      VAULT_TOOL_VAULT_FILE: join(dir, 'secrets.vault'),
      VAULT_TOOL_KEY_FILE: join(dir, 'vault.key'),
      VAULT_TOOL_BACKUP_REPO: join(dir, 'repo'),
    };
    const src = join(dir, 'bucket');
    const bigSize = Math.round((MB * 2 ** 20 * 3) / 16);
    mkdirSync(join(src, 'large'), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const f = join(src, 'large', `big-${i}.bin`);
      writeFileSync(f, Buffer.alloc(0));
      for (let left = bigSize; left > 0; left -= 2 ** 24) writeFileSync(f, randomBytes(Math.min(left, 2 ** 24)), { flag: 'a' });
    }
    const small = Math.round((MB * 2 ** 20) / 4 / 5120);
    for (let i = 0; i < small; i++) {
      const d = join(src, 'small', `d${String(Math.floor(i / 1000)).padStart(3, '0')}`);
      if (i % 1000 === 0) mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `o-${String(i).padStart(6, '0')}.bin`), randomBytes(5120));
    }
    const r = spawnSync(process.execPath, [BIN, 'init'], { env: { ...process.env, ...env }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    await record(rows, `backup bucket (${MB} MiB: 4 objects of ${mib(bigSize)}, ${small} of 5 KiB)`, ['backup', 'bucket', `loc:${src}`, '--name', 'set'], env);
    const d = join(dir, 'repo', 'bucket', 'set');
    const f = readdirSync(d)
      .filter((n) => n.endsWith('.age'))
      .sort()
      .at(-1);
    row('  its dump', `${mib(statSync(join(d, f)).size)} stored`, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchPeaks();
