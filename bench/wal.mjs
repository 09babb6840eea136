// Continuous WAL archiving and point-in-time restore, side by side in one run
// with what operators use today, on one PostgreSQL cluster (16 MiB segments):
//   per segment:  age -r R < seg > out && sha256sum seg
//                 pgbackrest archive-push (Debian pgbackrest, repository encryption on; gz, its default, and none)
//                 vault-tool backup wal-push (one process per segment) and where its time goes
//                 the asynchronous mode: archive_command taking the pusher's acknowledgement, and the pusher's own time
//   under load:   pgbench writing; the archiver's backlog (.ready files) and segments/s, per archive_command
//                 (cp, wal-push, wal-push --async, pgbackrest archive-push, and with its --archive-async)
//   restore:      vault-tool backup restore to a time + PostgreSQL's recovery through wal-fetch, against
//                 tar -x of the same base backup + PostgreSQL's own recovery from plain files (restore_command cp);
//                 BENCH_WAL_RESTORE_RUNS rounds (3), BENCH_WAL_BEFORE=DIR another build's restore in turn with this one,
//                 BENCH_WAL_TRACE=1 where each recovery's time went (restore_command's answers, from the server's log);
//                 BENCH_WAL_KEEP=1 keeps the files (and the restore's scenario), BENCH_WAL_REUSE=DIR times the restores again on them
// Every tool runs as the cluster's user (runuser -u postgres when root), as the server would run it.
// pgBackRest is a benchmark-only dependency: apt-get install pgbackrest (rows say so when it is missing).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { postgresOwner, startPostgres, startPostgresOn } from '../test/helpers/servers.mjs';
import { median, row } from './lib.mjs';

const BIN = resolve(import.meta.dirname, '../bin/vault-tool.js');
const NODE = process.execPath;
const SEGMENTS = Number(process.env.BENCH_WAL_SEGMENTS ?? 9);
const LOAD_SECONDS = Number(process.env.BENCH_WAL_LOAD_SECONDS ?? 60);
const SCALE = Number(process.env.BENCH_WAL_SCALE ?? 20);
const RESTORE_SEGMENTS = Number(process.env.BENCH_WAL_RESTORE_SEGMENTS ?? 64);
const owner = postgresOwner();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const have = (b, args = ['--version']) => !spawnSync(b, args, { stdio: 'ignore' }).error;
/** A command line run as the cluster's user. */
const asPg = (cmd, args) => (owner ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);
const own = (path) => {
  if (owner) spawnSync('chown', ['-R', `${owner.uid}:${owner.gid}`, path]);
  return path;
};

function run(cmd, args, env, opts = {}) {
  const [c, a] = asPg(cmd, args);
  const t = process.hrtime.bigint();
  const r = spawnSync(c, a, { env, encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${String(r.stderr).slice(-800)}`);
  return { ms, stdout: r.stdout };
}
const sh = (script, env) => run('sh', ['-c', script], env);

/**
 * CPU time (user + system, ms) of a command and everything it waited for,
 * as /usr/bin/time reports it: on a shared machine, steadier than wall time.
 * NaN where /usr/bin/time is not installed.
 */
function cpuOf(cmd, args, env, out) {
  if (!HAVE_TIME) return Number.NaN;
  run('/usr/bin/time', ['-f', '%U %S', '-o', out, cmd, ...args], env);
  return cpuFileMs(out);
}
function cpuFileMs(file) {
  const [u, s] = readFileSync(file, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return (u + s) * 1000;
}
const HAVE_TIME = !spawnSync('/usr/bin/time', ['-f', '', 'true'], { stdio: 'ignore' }).error;

/**
 * The asynchronous archive_command as docs/RUNBOOK.md gives it: the shell
 * takes the pusher's acknowledgement while a pusher runs (up to 10 s), else
 * vault-tool does (and starts a pusher, or pushes the file itself).
 */
const asyncArchiveCommand = (spool, vaultTool) =>
  `S=${spool}; n=0; while [ $n -lt 100 ]; do [ "$(cat $S/ok/%f 2>/dev/null)" = "$(stat -c %%d:%%i:%%s:%%.9Y:%%.9Z %p)" ] && rm $S/ok/%f && exit 0; [ -e $S/error/%f ] && break; kill -0 $(cat $S/pusher.pid 2>/dev/null) 2>/dev/null || break; n=$((n+1)); sleep 0.1; done; exec ${vaultTool} --async --spool $S`;
/** An archive_command as the server runs it for one file. */
const expand = (cmd, path) => cmd.replace(/%(%|f|p)/g, (_, c) => (c === '%' ? '%' : c === 'f' ? path.split('/').pop() : path));

export default async function benchWal() {
  for (const b of ['pg_basebackup', 'pgbench', 'age', 'sha256sum']) if (!have(b)) return row(`wal: ${b} not installed`, 'skipped', '', false);
  const pgbr = have('pgbackrest', ['version']);
  const dir = mkdtempSync(join(tmpdir(), 'vt-bench-wal-'));
  chmodSync(dir, 0o755);
  const at = (...p) => join(dir, ...p);
  for (const d of ['plain', 'repo', 'keys', 'spool', 'pgbr', 'scratch', 'restores']) mkdirSync(at(d));
  own(dir);
  // Interrupted: the server and the files go all the same.
  let pg;
  const stop = () => {
    pg?.stop();
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  pg = await startPostgres({
    conf: { wal_level: 'replica', archive_mode: 'on', archive_command: `cp %p ${at('plain')}/%f`, max_wal_size: '2GB', checkpoint_timeout: '30min' },
  });
  const env = { ...process.env, ...pg.env, HOME: dir, VAULT_TOOL_STATE_DIR: at('keys', 'state') };
  try {
    // The vault where the backup identity lives, and the recipient the database host is given.
    run(NODE, [BIN, 'init', '--vault-file', at('keys', 'secrets.vault'), '--key-file', at('keys', 'vault.key')], env);
    const vaultArgs = ['--vault-file', at('keys', 'secrets.vault'), '--key-file', at('keys', 'vault.key')];
    const recipient = run(NODE, [BIN, ...vaultArgs, 'backup', 'key'], env).stdout.trim();
    const sign = at('keys', 'signing.key');
    // The database host's signing key, trusted where the vault is (as the runbook sets it up).
    const signer = run(NODE, [BIN, ...vaultArgs, 'backup', 'key', 'signer', '--signing-key', sign], env).stdout.trim();
    run(NODE, [BIN, ...vaultArgs, 'backup', 'key', 'trust', signer, '--label', 'db'], env);
    const push = (cluster) => ['backup', 'wal-push', '--cluster', cluster, '-r', at('repo'), '--recipient', recipient, '--signing-key', sign];

    writeFileSync(at('scratch', 'bulk.sql'), 'insert into bulk select g, repeat(md5(g::text), 8) from generate_series(1, 2000) g;\n');
    own(at('scratch', 'bulk.sql'));
    // Segments to push: the pgbench database being written.
    run('pgbench', ['-i', '-q', '-s', String(SCALE), 'postgres'], env);
    run('pgbench', ['-T', '5', '-c', '2', 'postgres'], env);
    pg.sql('select pg_switch_wal()');
    await waitArchived(pg);
    const segs = readdirSync(at('plain'))
      .filter((n) => /^[0-9A-F]{24}$/.test(n))
      .sort()
      .slice(-SEGMENTS);
    const sysid = pg.sql('select system_identifier from pg_control_system()');
    console.log(`\n     WAL archive: ${SEGMENTS} segments of 16 MiB, cluster ${sysid}, pgbench scale ${SCALE}`);

    // BENCH_WAL_ONLY=segment,load,restore runs some of the three.
    const only = (k) => !process.env.BENCH_WAL_ONLY || process.env.BENCH_WAL_ONLY.split(',').includes(k);
    if (only('segment')) await perSegment({ at, env, segs, recipient, push, pg, pgbr });
    if (only('load')) await underLoad({ at, env, push, pg, pgbr });
    else {
      const vt = `${NODE} ${BIN} ${push('app').join(' ')} %p`;
      pg.sql(`alter system set archive_command = '${`cp %p ${at('plain')}/%f && ${vt}`.replace(/'/g, "''")}'`);
      pg.sql('select pg_reload_conf()');
      await sleep(500);
    }
    if (only('restore')) await restore({ at, env, vaultArgs, pg });
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
    pg.stop();
    if (process.env.BENCH_WAL_KEEP === '1') console.log(`     kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits until the archiver has nothing ready. */
async function waitArchived(pg, timeoutMs = 600_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (readyCount(pg) === 0) return;
    await sleep(200);
  }
  throw new Error('the archiver did not catch up');
}
const readyCount = (pg) => readdirSync(join(pg.data, 'pg_wal', 'archive_status')).filter((n) => n.endsWith('.ready')).length;

async function perSegment({ at, env, segs, recipient, push, pg, pgbr }) {
  const seg = (n) => at('plain', n);
  const times = { wrap: [], age: [], vt: [], br: [], brNone: [], node: [], version: [], shell: [], foreground: [] };
  const cpu = { age: [], vt: [], br: [], brNone: [], node: [], version: [] };
  const cpuFile = at('scratch', 'cpu.txt');
  const phases = [];
  // pgBackRest, as its user guide sets it up: a stanza on this cluster, repository encryption on.
  const conf = at('pgbr', 'pgbackrest.conf');
  if (pgbr) {
    writeFileSync(
      conf,
      `[global]\nrepo1-path=${at('pgbr', 'repo')}\nrepo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=bench-only-passphrase-0123456789\nlock-path=${at('pgbr', 'lock')}\nspool-path=${at('pgbr', 'spool')}\nlog-path=${at('pgbr', 'log')}\nlog-level-console=warn\nlog-level-file=off\n[bench]\npg1-path=${pg.data}\npg1-port=${pg.port}\npg1-socket-path=${pg.env.PGHOST}\npg1-user=postgres\n`,
    );
    own(at('pgbr'));
    run('pgbackrest', [`--config=${conf}`, '--stanza=bench', 'stanza-create'], env);
  }
  // The segment pgBackRest archived (repo/archive/bench/15-1/<log>/<name>-<sha1>.<ext>), removed between runs.
  const brRemove = (n) => {
    const root = join(at('pgbr', 'repo'), 'archive', 'bench');
    for (const v of readdirSync(root).filter((x) => /^\d+-\d+$/.test(x)))
      for (const l of readdirSync(join(root, v)).filter((x) => /^[0-9A-F]{16}$/.test(x)))
        for (const f of readdirSync(join(root, v, l))) if (f.startsWith(n)) rmSync(join(root, v, l, f));
  };
  for (let i = 0; i < segs.length; i++) {
    const n = segs[i];
    times.wrap.push(run('true', [], env).ms);
    times.node.push(run(NODE, ['-e', '0'], env).ms);
    times.version.push(run(NODE, [BIN, '--version'], env).ms);
    const ageSh = `age -r ${recipient} < ${seg(n)} > ${at('scratch', 'out.age')} && sha256sum ${seg(n)} > /dev/null`;
    times.age.push(sh(ageSh, env).ms);
    cpu.age.push(cpuOf('sh', ['-c', ageSh], env, cpuFile));
    cpu.node.push(cpuOf(NODE, ['-e', '0'], env, cpuFile));
    cpu.version.push(cpuOf(NODE, [BIN, '--version'], env, cpuFile));
    cpu.vt.push(cpuOf(NODE, [BIN, ...push('cpu'), seg(n)], env, cpuFile));
    const r = run(NODE, [BIN, '--json', ...push('sync'), seg(n)], env);
    times.vt.push(r.ms);
    phases.push({ wall: r.ms - median(times.wrap), ...JSON.parse(r.stdout).timings });
    if (pgbr) {
      for (const [k, extra] of [
        ['br', []],
        ['brNone', ['--compress-type=none']],
      ]) {
        // The archived segment goes between runs, so that each run archives it anew.
        brRemove(n);
        times[k].push(run('pgbackrest', [`--config=${conf}`, '--stanza=bench', ...extra, 'archive-push', seg(n)], env).ms);
        brRemove(n);
        cpu[k].push(cpuOf('pgbackrest', [`--config=${conf}`, '--stanza=bench', ...extra, 'archive-push', seg(n)], env, cpuFile));
      }
    }
  }
  // The asynchronous mode: the pusher drains a pg_wal folder of ready files, then archive_command takes each acknowledgement.
  const walDir = at('scratch', 'pg_wal');
  mkdirSync(join(walDir, 'archive_status'), { recursive: true });
  for (const n of segs) {
    copyFileSync(seg(n), join(walDir, n));
    writeFileSync(join(walDir, 'archive_status', `${n}.ready`), '');
  }
  own(at('scratch'));
  const spool = at('spool', 'bench');
  const pusherArgs = [BIN, ...push('async'), walDir, '--async', '--drain', '--spool', spool, '--idle', '1s', '--jobs', '1', '--json'];
  // Under /usr/bin/time where there is one: the pusher's CPU, its start-up shared by all the segments it pushed.
  const pusher = HAVE_TIME ? run('/usr/bin/time', ['-f', '%U %S', '-o', cpuFile, NODE, ...pusherArgs], env) : run(NODE, pusherArgs, env);
  const pusherCpu = HAVE_TIME ? cpuFileMs(cpuFile) / segs.length : Number.NaN;
  const pushed = pusher.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === 'pushed');
  if (pushed.length !== segs.length) throw new Error(`the pusher pushed ${pushed.length} of ${segs.length}`);
  const command = asyncArchiveCommand(spool, `${NODE} ${BIN} ${push('async').join(' ')} %p`);
  for (const n of segs) {
    // The acknowledgement is taken by the first; the second finds the one written back.
    const ack = readFileSync(join(spool, 'ok', n));
    times.shell.push(sh(expand(command, join(walDir, n)), env).ms);
    if (readdirSync(join(spool, 'ok')).includes(n)) throw new Error('the archive_command did not take the acknowledgement');
    writeFileSync(join(spool, 'ok', n), ack);
    own(join(spool, 'ok', n));
    times.foreground.push(run(NODE, [BIN, ...push('async'), join(walDir, n), '--async', '--spool', spool], env).ms);
  }
  // Every command ran through the same runuser (as root): its own time is taken off each figure.
  const wrap = median(times.wrap);
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.length ? median(v) - (k === 'wrap' ? 0 : wrap) : Number.NaN]));
  if (owner) row('wal: (runuser -u postgres -- true, taken off each figure)', `${wrap.toFixed(0)} ms`, '');
  // A figure with the wrapper's time taken off may come out below zero: it is under a millisecond.
  const ms = (v) => (v < 1 ? '<1 ms' : `${v.toFixed(0)} ms`);
  row('wal: age -r R < seg > out && sha256sum seg', ms(m.age), '');
  if (pgbr) {
    row('wal: pgbackrest archive-push (aes-256-cbc, gz)', ms(m.br), '');
    row('wal: pgbackrest archive-push (aes-256-cbc, uncompressed)', ms(m.brNone), '');
  } else row('wal: pgbackrest archive-push', 'skipped: apt-get install pgbackrest', '', false);
  const brBest = pgbr ? Math.min(m.br, m.brNone) : Number.POSITIVE_INFINITY;
  row('wal: vault-tool backup wal-push (a process per segment)', ms(m.vt), '');
  // Where the time of one wal-push goes: medians of each phase (ms), the rest start-up (node, modules).
  const p = (k) => median(phases.map((x) => x[k] ?? 0));
  const work = ['keys', 'read', 'archive', 'check', 'hash', 'encrypt', 'store', 'manifest'];
  row(
    '  where: node -e 0 / vault-tool --version',
    `${ms(m.node)} / ${ms(m.version)}`,
    `modules +${(p('wall') - work.reduce((a, k) => a + p(k), 0) - m.node).toFixed(0)} ms`,
  );
  row(
    '  where: keys, read, archive.json, page checks',
    work
      .slice(0, 4)
      .map((k) => p(k).toFixed(0))
      .join(' / ') + ' ms',
    '',
  );
  row(
    '  where: SHA-256 ×2, encrypt, store, sign+manifest',
    work
      .slice(4)
      .map((k) => p(k).toFixed(0))
      .join(' / ') + ' ms',
    '',
  );
  const pusherPer = pushed.map((e) => Object.values(e.timings).reduce((a, b) => a + b, 0));
  row('wal: the pusher (--async --drain), work per segment', ms(median(pusherPer)), "off the archiver's path");
  row(
    'wal: --async archive_command, its shell test',
    ms(m.shell),
    `≤ age+sha256sum (${ms(m.age)})${pgbr ? `, ≤ pgBackRest (${ms(brBest)})` : ''}`,
    m.shell <= m.age && m.shell <= brBest,
  );
  row('wal: --async archive_command, vault-tool taking it', ms(m.foreground), '');
  if (HAVE_TIME) {
    const c = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v.length ? median(v) : Number.NaN]));
    row(
      'wal: CPU/segment: age+sha256sum / pgBackRest gz / none',
      `${ms(c.age)} / ${pgbr ? `${ms(c.br)} / ${ms(c.brNone)}` : 'skipped'}`,
      '/usr/bin/time, user + system',
    );
    row(
      'wal: CPU/segment: wal-push (node -e 0, --version)',
      `${ms(c.vt)} (${ms(c.node)}, ${ms(c.version)})`,
      `the pusher: ${ms(pusherCpu)} a segment (its start shared)`,
    );
  }
  row(
    'wal: wal-push vs pgBackRest (the faster of its two)',
    pgbr ? `${(m.vt / brBest).toFixed(2)}×` : 'skipped',
    '≤ 1.0× (one process per segment)',
    pgbr ? m.vt <= brBest : false,
  );
  row('wal: vault-tool wal-push vs age + sha256sum', `${(m.vt / m.age).toFixed(2)}×`, '≤ 1.0× (one process per segment)', m.vt <= m.age);
}

/**
 * pgbench writing under each archive_command, the archiver's backlog (files
 * ready, not archived yet) sampled every second: pgbench's own TPC-B-like
 * transactions (8 clients, synchronous_commit off: as much WAL as this host
 * writes that way) for LOAD_SECONDS, where archiving must keep up (the
 * backlog in the last third no larger than in the first, drained within
 * seconds); then bulk inserts (whole pages of WAL) for half as long, which
 * measure how many segments a second each archive_command takes at most.
 */
async function underLoad({ at, env, push, pg, pgbr }) {
  const q = (s) => `'${s.replace(/'/g, "''")}'`;
  const vt = (args) => `${NODE} ${BIN} ${args.join(' ')}`;
  const modes = [
    ['cp', () => `cp %p ${at('scratch')}/%f`],
    ['wal-push', (c) => vt([...push(c), '%p'])],
    ['wal-push --async', (c) => asyncArchiveCommand(at('spool', c), vt([...push(c), '%p', '--idle', '10s']))],
  ];
  if (pgbr) {
    const br = `pgbackrest --config=${at('pgbr', 'pgbackrest.conf')} --stanza=bench`;
    modes.push(['pgbackrest (aes-256-cbc, gz)', () => `${br} archive-push %p`]);
    // pgBackRest's own asynchronous mode: archive-push forks one process that pushes ahead (spool-path), and acknowledges from it.
    modes.push(['pgbackrest --archive-async', () => `${br} --archive-async archive-push %p`]);
  }
  pg.sql('create table if not exists bulk (id int, v text)');
  pg.sql("alter system set synchronous_commit = 'off'");
  const loads = [
    ['pgbench', LOAD_SECONDS, ['-c', '8', '-j', '2', '-b', 'tpcb-like']],
    ['bulk', Math.max(10, Math.round(LOAD_SECONDS / 2)), ['-c', '2', '-j', '2', '-f', at('scratch', 'bulk.sql')]],
  ];
  for (const [load, seconds, args] of loads) {
    for (const [i, [label, command]] of modes.entries()) {
      pg.sql(`alter system set archive_command = ${q(command(`${load}-${i}`))}`);
      pg.sql('select pg_reload_conf()');
      await sleep(500);
      pg.sql('truncate bulk');
      const archived0 = Number(pg.sql('select archived_count from pg_stat_archiver'));
      const failed0 = Number(pg.sql('select failed_count from pg_stat_archiver'));
      const lsn0 = pg.sql('select pg_current_wal_lsn()');
      const bench = spawnLoad(env, seconds, args);
      const samples = [];
      const t0 = Date.now();
      while (Date.now() - t0 < seconds * 1000) {
        await sleep(1000);
        samples.push(readyCount(pg));
      }
      await bench.done;
      const generated = Number(pg.sql(`select pg_wal_lsn_diff(pg_current_wal_lsn(), '${lsn0}') / 16777216`));
      const tEnd = Date.now();
      pg.sql('select pg_switch_wal()');
      await waitArchived(pg);
      const drain = (Date.now() - tEnd) / 1000;
      const archived = Number(pg.sql('select archived_count from pg_stat_archiver')) - archived0;
      const failed = Number(pg.sql('select failed_count from pg_stat_archiver')) - failed0;
      const third = Math.max(1, Math.floor(samples.length / 3));
      const first = Math.max(...samples.slice(0, third));
      const last = Math.max(...samples.slice(-third));
      const kept = last <= Math.max(first, 2) && drain < 30 && failed === 0;
      row(
        `wal: ${load} ${seconds}s, ${label}`,
        `${(archived / (seconds + drain)).toFixed(2)} seg/s (${(generated / seconds).toFixed(2)} written)`,
        `backlog max ${Math.max(...samples)}, last third ${last}; drained ${drain.toFixed(1)}s; ${failed} failed`,
        load === 'pgbench' && label.startsWith('wal-push') ? kept : undefined,
      );
    }
  }
  pg.sql('alter system reset synchronous_commit');
  pg.sql(`alter system set archive_command = ${q(`cp %p ${at('plain')}/%f && ${vt([...push('app'), '%p'])}`)}`);
  pg.sql('select pg_reload_conf()');
  await sleep(500);
}

function spawnLoad(env, seconds, args) {
  const [c, a] = asPg('pgbench', ['-n', '-T', String(seconds), ...args, 'postgres']);
  const p = spawn(c, a, { env, stdio: 'ignore' });
  return { done: new Promise((res) => p.on('close', res)) };
}

/**
 * A point-in-time restore of the bench database: vault-tool's (plan, base
 * backup checked and written, then PostgreSQL replaying through wal-fetch)
 * against tar -x of the same base backup and PostgreSQL replaying the same
 * WAL from plain files, each to the same target, timed until promoted.
 */
async function restore({ at, env, vaultArgs, pg }) {
  const scenario = await makeRestoreScenario({ at, env, vaultArgs, pg });
  // Kept (BENCH_WAL_KEEP=1): the scenario is written beside the files, for BENCH_WAL_REUSE=DIR to time again without the setup.
  if (process.env.BENCH_WAL_KEEP === '1') writeFileSync(at('scratch', 'restore.json'), JSON.stringify(scenario));
  await timeRestores({ at, env, vaultArgs, ...scenario });
}

/** The base backup, the WAL after it and the target of a point-in-time restore, made on the bench's cluster. */
async function makeRestoreScenario({ at, env, vaultArgs, pg }) {
  const vt = (args, opts) => run(NODE, [BIN, ...vaultArgs, ...args], env, opts);
  const r = vt(['backup', 'postgres', '--base', '--cluster', 'app', '-r', at('repo'), '--fast-checkpoint', '--json']);
  const made = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .find((l) => l.type === 'backup');
  const base = `postgres-base/app/${made.file}`;
  // WAL after the base backup: pgbench for a while, then the target, then more.
  // About RESTORE_SEGMENTS segments of WAL after it: bulk inserts and pgbench's transactions.
  pg.sql('create table if not exists bulk (id int, v text)');
  const lsn0 = pg.sql('select pg_current_wal_lsn()');
  while (Number(pg.sql(`select pg_wal_lsn_diff(pg_current_wal_lsn(), '${lsn0}') / 16777216`)) < RESTORE_SEGMENTS) {
    run('pgbench', ['-n', '-t', '20', '-c', '2', '-f', `${at('scratch', 'bulk.sql')}@1`, '-b', 'tpcb-like@1', 'postgres'], env);
  }
  await sleep(1100);
  const target = new Date();
  await sleep(1100);
  run('pgbench', ['-n', '-T', '3', '-c', '1', 'postgres'], env);
  pg.sql('select pg_switch_wal()');
  await waitArchived(pg);
  const id = at('keys', 'backup.id');
  vt(['backup', 'key', 'export-identity', '-o', id]);
  own(id);
  const walAfter = readdirSync(join(at('repo'), 'postgres-wal', 'app', 'segments')).filter((n) => /^[0-9A-F]{24}\.age$/.test(n)).length;
  return { base, target: target.toISOString(), id, walAfter };
}

/**
 * BENCH_WAL_REUSE=DIR: the restores timed again on a scenario an earlier run kept (BENCH_WAL_KEEP=1), without its setup (a
 * cluster, pgbench, the archive): for comparing builds of the restore in quick turns. DIR is left as it was.
 */
async function reuseRestore(dir) {
  const at = (...p) => join(dir, ...p);
  const env = { ...process.env, HOME: dir, VAULT_TOOL_STATE_DIR: at('keys', 'state') };
  const vaultArgs = ['--vault-file', at('keys', 'secrets.vault'), '--key-file', at('keys', 'vault.key')];
  await timeRestores({ at, env, vaultArgs, ...JSON.parse(readFileSync(at('scratch', 'restore.json'), 'utf8')) });
}

/** The point-in-time restores timed: PostgreSQL's own from plain files, and each build's, in turns. */
async function timeRestores({ at, env, vaultArgs, base, target: targetIso, id, walAfter }) {
  const target = new Date(targetIso);

  const promoted = async (data) => {
    // The server's log, new (pg_ctl appends to it: a scenario timed again would hold the runs before).
    rmSync(`${data}.log`, { force: true });
    const t = process.hrtime.bigint();
    const s = await startPostgresOn(data, at('restores'), { wait: false });
    for (;;) {
      const q = spawnSync('psql', ['-X', '-A', '-t', '-c', 'select pg_is_in_recovery()'], { env: { ...env, ...s.env }, encoding: 'utf8' });
      if (q.status === 0 && q.stdout.trim() === 'f') break;
      // Any FATAL but those of the connection attempts made while it recovers.
      const fatal = s
        .log()
        .split('\n')
        .find((l) => l.includes('FATAL:') && !/the database system is (starting up|not yet accepting connections|in recovery mode)/.test(l));
      if (fatal) throw new Error(`recovery failed: ${fatal}\n${s.log().slice(-1500)}`);
      await sleep(50);
    }
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    s.stop();
    return ms;
  };
  const targetArgs = ['--target-time', target.toISOString(), '--target-action', 'promote'];
  const pgTime = target.toISOString().replace('T', ' ').replace('Z', '+00');
  // BENCH_WAL_TRACE=1: the server logs with millisecond timestamps and DEBUG3 (each restore_command run), and every run says
  // where its replay went: time in restore_command per segment (median, 90th percentile, the slowest) and between them.
  const trace = process.env.BENCH_WAL_TRACE === '1';
  const traceConf = trace ? ["log_line_prefix = '%m '", "log_min_messages = 'debug3'"] : [];
  const addConf = (data) => {
    if (!traceConf.length) return;
    sh(`printf "%s\\n" ${traceConf.map((l) => JSON.stringify(l)).join(' ')} >> ${data}/postgresql.auto.conf`, env);
  };
  const traced = (label, data) => {
    if (!trace) return;
    const log = readFileSync(`${data}.log`, 'utf8').split('\n');
    const ts = (l) => Date.parse(l.slice(0, 23).replace(' ', 'T') + 'Z');
    const inCmd = [];
    const between = [];
    const slow = [];
    let started = null;
    let done = null;
    // From the server's first line to its first ask, and from its last answer to its being ready (promoted).
    const stamped = log.filter((l) => !Number.isNaN(ts(l)));
    const first = stamped.find((l) => l.includes('executing restore command'));
    const lead = first ? ts(first) - ts(stamped[0]) : Number.NaN;
    const ready = stamped.findLast((l) => l.includes('ready to accept connections'));
    for (const l of log) {
      if (l.includes('executing restore command')) {
        started = ts(l);
        if (done !== null) between.push(started - done);
      } else if (started !== null && /restored log file "[0-9A-F]{24}"|could not restore file/.test(l)) {
        done = ts(l);
        if (/restored log file/.test(l)) inCmd.push(done - started);
        // Every answer slower than 100 ms, in order: where the waits are.
        if (done - started > 100) slow.push(`${/"([^"]+)"/.exec(l)?.[1]} ${done - started} ms`);
        started = null;
      }
    }
    if (!inCmd.length)
      console.log(
        log
          .filter((l) => /restore|LOG/.test(l))
          .slice(0, 12)
          .join('\n'),
      );
    const q = (xs, f) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * f))];
    console.log(
      `     ${label}: ${inCmd.length} segments; to the first ask ${lead} ms, after the last answer ${done === null || !ready ? '?' : ts(ready) - done} ms; in restore_command median ${q(inCmd, 0.5)} ms, p90 ${q(inCmd, 0.9)} ms, max ${q(inCmd, 1)} ms, sum ${inCmd.reduce((a, b) => a + b, 0)} ms; between median ${q(between, 0.5)} ms, sum ${between.reduce((a, b) => a + b, 0)} ms; slower than 100 ms: ${slow.join(', ') || 'none'}`,
    );
  };
  // BENCH_WAL_BEFORE=DIR: the same restore by another build (DIR/bin/vault-tool.js), in turn with this one, on the same base;
  // DIR,DIR2,…: several, each named by its folder (a name the restore's folder and the shell take as it is).
  const builds = [['vault-tool', BIN]];
  const before = (process.env.BENCH_WAL_BEFORE ?? '').split(',').filter(Boolean);
  for (const d of [...before].reverse())
    builds.unshift([before.length > 1 ? `before-${d.split('/').filter(Boolean).pop()}` : 'before', resolve(d, 'bin/vault-tool.js')]);
  const runs = Number(process.env.BENCH_WAL_RESTORE_RUNS ?? 3);
  const ours = new Map(builds.map(([l]) => [l, []]));
  const theirs = [];
  const tar = at('scratch', 'base.tar');
  sh(`age -d -i ${id} ${join(at('repo'), base)} > ${tar}`, env);
  // Before each timed restore, what the setup or the restore before it left to write goes to disk (not timed): otherwise its
  // writeback takes the cores of whichever restore comes next.
  const settle = () => spawnSync('sync', { stdio: 'ignore' });
  for (let i = 0; i < runs; i++) {
    // PostgreSQL's own: the same base backup as a plain tar (decrypted beforehand, not timed), tar -x, restore_command cp.
    const plain = at('restores', `plain-${i}`);
    settle();
    const x = sh(
      `mkdir -m 700 ${plain} && tar -x -C ${plain} -f ${tar} && touch ${plain}/recovery.signal && printf "%s\\n" "restore_command = 'cp ${at('plain')}/%f %p'" "recovery_target_time = '${pgTime}'" "recovery_target_action = 'promote'" "archive_mode = 'off'" >> ${plain}/postgresql.auto.conf`,
      env,
    );
    addConf(plain);
    theirs.push({ base: x.ms, replay: await promoted(plain) });
    traced(`cp, run ${i + 1}`, plain);
    rmSync(plain, { recursive: true, force: true });
    // vault-tool: the restore command (plan, base backup checked in full and written), then the server's recovery.
    // The builds in turn, the first of each round rotating.
    for (const [label, bin] of [...builds.slice(i % builds.length), ...builds.slice(0, i % builds.length)]) {
      const data = at('restores', `vt-${label}-${i}`);
      settle();
      const t = run(
        NODE,
        [bin, ...vaultArgs, 'backup', 'restore', base, '--to-dir', data, ...targetArgs, '--identity', id, '--no-archive', '-r', at('repo')],
        env,
      );
      addConf(data);
      ours.get(label).push({ base: t.ms, replay: await promoted(data) });
      traced(`${label}, run ${i + 1}`, data);
      rmSync(data, { recursive: true, force: true });
    }
  }
  const total = (xs) => median(xs.map((x) => x.base + x.replay));
  const part = (xs, k) => (median(xs.map((x) => x[k])) / 1000).toFixed(2);
  const t = total(theirs);
  const m = JSON.parse(readFileSync(join(at('repo'), `${base}.manifest.json`), 'utf8'));
  const mb = (m.plaintext.size / 2 ** 20).toFixed(0);
  row(
    `wal: PITR, ${mb} MB base: tar -x + replay (cp)`,
    `${(t / 1000).toFixed(2)} s`,
    `tar ${part(theirs, 'base')} s, replay ${part(theirs, 'replay')} s; ${walAfter} segments archived`,
  );
  for (const [label] of builds) {
    const xs = ours.get(label);
    const o = total(xs);
    row(
      `wal: PITR: ${label} backup restore + wal-fetch`,
      `${(o / 1000).toFixed(2)} s (${(o / t).toFixed(2)}×)`,
      `≤ 1.2× plain (restore ${part(xs, 'base')} s, replay ${part(xs, 'replay')} s)`,
      o / t <= 1.2,
    );
  }
  console.log(`     load average: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('     ' + 'measure'.padEnd(58) + 'result'.padEnd(26) + 'target');
  if (process.env.BENCH_WAL_REUSE) await reuseRestore(resolve(process.env.BENCH_WAL_REUSE));
  else await benchWal();
}
