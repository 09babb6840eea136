// Backups of a PostgreSQL database of realistic size (pgbench -i -s
// BENCH_BACKUP_SCALE, default 50, plus BENCH_BACKUP_BLOB_MB, default 96, of
// random bytea: about 850 MB), side by side in one run, in turns, with the
// tools operators use today; medians of BENCH_BACKUP_RUNS (default 3), and
// the CPU (user + system) of each command's whole process tree (the server's
// own backend excluded: the same for all).
//
//   pg_dump -Fc -f plain.dump                       (no encryption, no check)
//   pg_dump -Fc | tee >(pg_restore -f /dev/null) | age -r R > f && sha256sum f
//                                                   (the same work as vault-tool, with stock tools)
//   pg_dump -Fc | restic backup --stdin             (Debian restic, a new local repository each run)
//   vault-tool backup postgres                      (encrypted, checked by pg_restore while written, hashed, signed)
// each with the default compression and with -Z0 (the stream, not zlib, is
// the bottleneck); `backup verify` of each against age -d | pg_restore -f
// /dev/null plus sha256sum of the same file; and the fixed cost of a backup
// (a database of one small table, a 1 KB file) against the bare dump tool.
//
//   node bench/backup.mjs          (after node build.mjs; or npm run bench)
//   BENCH_BACKUP_ONLY=fixed node bench/backup.mjs
//                                  (the fixed cost alone: no large database is made)
//   BENCH_BACKUP_BEFORE=/path/to/other/bin/vault-tool.js
//                                  (the fixed cost of another build timed in the same turns,
//                                  e.g. main's: cp -r bin dist package.json to a folder first)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startPostgres } from '../test/helpers/servers.mjs';
import { median, row } from './lib.mjs';

const BIN = resolve(import.meta.dirname, '../bin/vault-tool.js');
const SCALE = Number(process.env.BENCH_BACKUP_SCALE ?? 50);
const BLOB_MB = Number(process.env.BENCH_BACKUP_BLOB_MB ?? 96);
const RUNS = Number(process.env.BENCH_BACKUP_RUNS ?? 3);
const SMALL_RUNS = Number(process.env.BENCH_BACKUP_SMALL_RUNS ?? 15);
const ONLY_FIXED = process.env.BENCH_BACKUP_ONLY === 'fixed';
const BEFORE = process.env.BENCH_BACKUP_BEFORE ? resolve(process.env.BENCH_BACKUP_BEFORE) : undefined;

/** One command: wall seconds, and the CPU seconds of its process tree (as /usr/bin/time reports them). */
function timed(cmd, args, env) {
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', cmd, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    maxBuffer: 1 << 24,
  });
  const wall = Number(process.hrtime.bigint() - t) / 1e9;
  const err = String(r.stderr);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${err.slice(-500)}`);
  const [u, s] = err.trim().split('\n').at(-1).split(' ').map(Number);
  return { wall, cpu: u + s };
}

const sh = (script, ...args) => ['bash', ['-o', 'pipefail', '-c', script, 'bench', ...args]];

/** Commands timed in turns (a, b, c, a, b, c, …), the first turn's order reversed every other round. */
function inTurns(cmds, runs, env, before = {}) {
  const out = Object.fromEntries(Object.keys(cmds).map((k) => [k, { wall: [], cpu: [] }]));
  for (let i = 0; i < runs; i++) {
    const keys = Object.keys(cmds);
    for (const k of i % 2 ? keys.reverse() : keys) {
      before[k]?.();
      const [cmd, args] = cmds[k];
      const m = timed(cmd, args, env);
      out[k].wall.push(m.wall);
      out[k].cpu.push(m.cpu);
    }
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { wall: median(v.wall), cpu: median(v.cpu) }]));
}

const fmt = (m) => `${m.wall.toFixed(2)} s (CPU ${m.cpu.toFixed(2)} s)`;
const fmtMs = (m) => `${(m.wall * 1000).toFixed(0)} ms (CPU ${(m.cpu * 1000).toFixed(0)} ms)`;

export default async function benchBackup() {
  for (const b of ONLY_FIXED ? ['pg_dump', 'tar', '/usr/bin/time'] : ['pg_dump', 'pgbench', 'restic', 'age', 'sha256sum', 'tar', '/usr/bin/time']) {
    if (spawnSync(b, ['--version']).error && spawnSync(b, ['version']).error) return row(`backup: ${b} not installed`, 'skipped', '', false);
  }
  const dir = mkdtempSync(join(tmpdir(), 'vt-bench-backup-'));
  const pg = await startPostgres();
  try {
    const env = {
      ...pg.env,
      VAULT_TOOL_STATE_DIR: join(dir, 'state'),
      VAULT_TOOL_VAULT_FILE: join(dir, 'secrets.vault'),
      VAULT_TOOL_KEY_FILE: join(dir, 'vault.key'),
      RESTIC_PASSWORD: 'bench-only',
      RESTIC_CACHE_DIR: join(dir, 'restic-cache'),
    };
    pg.sql('create database small');
    pg.sql("create table t (id int primary key, v text); insert into t select g, 'v' || g from generate_series(1, 10) g", 'small');
    mkdirSync(join(dir, 'one'));
    writeFileSync(join(dir, 'one/f'), Buffer.alloc(1024, 7));
    timed(process.execPath, [BIN, 'init'], env);
    // The backup key is made on first use: made here, out of the timings.
    timed(process.execPath, [BIN, 'backup', 'postgres', '--dbname', 'small', '-r', join(dir, 'repo')], env);
    if (!ONLY_FIXED) await large(dir, env, pg);
    fixedCost(dir, env);
  } finally {
    pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The large database: backups with the default compression and -Z0, and their verification, against the stock tools. */
async function large(dir, env, pg) {
  pg.sql('create database bench');
  const init = spawnSync('pgbench', ['-i', '-q', '-s', String(SCALE), 'bench'], { env: { ...process.env, ...env }, encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`pgbench -i: ${init.stderr}`);
  pg.sql('create extension pgcrypto', 'bench');
  // Random bytes do not compress: a share of the database as binary data (images, encrypted columns) does the same.
  pg.sql('create table blobs (id int primary key, b bytea)', 'bench');
  pg.sql('alter table blobs alter column b set storage external', 'bench');
  pg.sql(
    `insert into blobs select g, gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) from generate_series(1, ${BLOB_MB * 128}) g`,
    'bench',
  );
  pg.sql('vacuum analyze', 'bench');
  const size = Number(pg.sql('select pg_database_size(current_database())', 'bench'));
  const identity = spawnSync(process.execPath, [BIN, 'get', 'backup/identity'], { env: { ...process.env, ...env } }).stdout;
  writeFileSync(join(dir, 'backup.id'), identity, { mode: 0o600 });
  const recipient = spawnSync('age-keygen', ['-y', join(dir, 'backup.id')], { encoding: 'utf8' }).stdout.trim();
  const label = `${(size / 2 ** 20).toFixed(0)} MB database`;
  const newest = {};
  for (const z of [null, 0]) {
    const zArgs = z === null ? '' : `-Z${z}`;
    const tag = z === null ? '' : ' -Z0';
    const freshRestic = () => {
      rmSync(join(dir, 'restic'), { recursive: true, force: true });
      timed('restic', ['init', '-q', '-r', join(dir, 'restic')], env);
    };
    const m = inTurns(
      {
        bare: ['pg_dump', ['-Fc', ...(zArgs ? [zArgs] : []), '-f', join(dir, 'plain.dump'), 'bench']],
        stock: sh(
          `pg_dump -Fc ${zArgs} bench | tee >(pg_restore -f /dev/null) | age -r "$1" > "$2" && sha256sum "$2" > /dev/null`,
          recipient,
          join(dir, 'stock.age'),
        ),
        restic: sh(`pg_dump -Fc ${zArgs} bench | restic backup -q -r "$1" --stdin --stdin-filename bench.dump`, join(dir, 'restic')),
        vt: [process.execPath, [BIN, 'backup', 'postgres', '--dbname', 'bench', ...(zArgs ? [zArgs] : []), '-r', join(dir, 'repo')]],
      },
      RUNS,
      env,
      {
        bare: () => rmSync(join(dir, 'plain.dump'), { force: true }),
        stock: () => rmSync(join(dir, 'stock.age'), { force: true }),
        restic: freshRestic,
      },
    );
    row(`backup postgres${tag}, ${label}: pg_dump -Fc -f`, fmt(m.bare), '');
    row(`backup postgres${tag}: stock (tee, pg_restore, age, sha256sum)`, fmt(m.stock), '');
    row(`backup postgres${tag}: pg_dump | restic backup --stdin`, fmt(m.restic), '');
    row(`backup postgres${tag}: vault-tool backup postgres`, fmt(m.vt), '');
    const vsBare = m.vt.wall / m.bare.wall;
    if (z === null) row(`backup postgres: vault-tool / pg_dump -Fc -f`, `${vsBare.toFixed(2)}×`, '≤ 1.05×', vsBare <= 1.05);
    else {
      row(`backup postgres -Z0: vault-tool / pg_dump -Fc -f`, `${vsBare.toFixed(2)}×`, '');
      row(`backup postgres -Z0: vault-tool / the stock pipeline`, `${(m.vt.wall / m.stock.wall).toFixed(2)}×`, '≤ 1.0×', m.vt.wall <= m.stock.wall);
    }
    row(
      `backup postgres${tag}: vault-tool / restic`,
      `${(m.vt.wall / m.restic.wall).toFixed(2)}×`,
      z === null ? '' : '≤ 1.0×',
      z === null ? undefined : m.vt.wall <= m.restic.wall,
    );
    const comp = join(dir, 'repo', 'postgres', 'bench');
    newest[tag] = readdirSync(comp)
      .filter((f) => f.endsWith('.age'))
      .sort()
      .at(-1);
  }
  const comp = join(dir, 'repo', 'postgres', 'bench');
  for (const [tag, file] of Object.entries(newest)) {
    const m = inTurns(
      {
        stock: sh('age -d -i "$1" "$2" | pg_restore -f /dev/null && sha256sum "$2" > /dev/null', join(dir, 'backup.id'), join(comp, file)),
        vt: [process.execPath, [BIN, 'backup', 'verify', `postgres/bench/${file}`, '-r', join(dir, 'repo')]],
      },
      RUNS,
      env,
    );
    row(`backup verify${tag}: age -d | pg_restore -f /dev/null; sha256sum`, fmt(m.stock), '');
    row(`backup verify${tag}: vault-tool backup verify`, `${fmt(m.vt)} ${(m.vt.wall / m.stock.wall).toFixed(2)}×`, '≤ 1.2×', m.vt.wall / m.stock.wall <= 1.2);
  }
}

/**
 * The fixed cost: a database of one small table, a 1 KB file; node -e 0
 * beside them (Node's own start); with BENCH_BACKUP_BEFORE, another build's
 * backups in the same turns. The load average is printed with it.
 */
function fixedCost(dir, env) {
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const loadBefore = load();
  const vt = (bin) => ({
    pg: [process.execPath, [bin, 'backup', 'postgres', '--dbname', 'small', '-r', join(dir, 'repo')]],
    files: [process.execPath, [bin, 'backup', 'files', '--name', 'one', '-C', join(dir, 'one'), 'f', '-r', join(dir, 'repo')]],
  });
  const now = vt(BIN);
  // On Debian `pg_dump` on PATH is pg_wrapper (a Perl script) in front of the program itself, which vault-tool runs directly: both timed.
  const bindir = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const direct = bindir.status === 0 ? join(bindir.stdout.trim(), 'pg_dump') : undefined;
  const before = BEFORE ? vt(BEFORE) : undefined;
  const s = inTurns(
    {
      pgdump: ['pg_dump', ['-Fc', '-f', join(dir, 'small.dump'), 'small']],
      ...(direct ? { pgdirect: [direct, ['-Fc', '-f', join(dir, 'small.dump'), 'small']] } : {}),
      vtpg: now.pg,
      ...(before ? { beforepg: before.pg } : {}),
      tar: ['tar', ['-cf', join(dir, 'one.tar'), '-C', join(dir, 'one'), 'f']],
      vtfiles: now.files,
      ...(before ? { beforefiles: before.files } : {}),
      node: [process.execPath, ['-e', '0']],
    },
    SMALL_RUNS,
    env,
    {
      pgdump: () => rmSync(join(dir, 'small.dump'), { force: true }),
      pgdirect: () => rmSync(join(dir, 'small.dump'), { force: true }),
      tar: () => rmSync(join(dir, 'one.tar'), { force: true }),
    },
  );
  row('fixed cost: load average (1, 5, 15 min) before / after', `${loadBefore} / ${load()}`, '');
  row('fixed cost: pg_dump -Fc -f, one small table', fmtMs(s.pgdump), '');
  if (direct) row(`fixed cost: ${direct} (no pg_wrapper)`, fmtMs(s.pgdirect), '');
  if (before) {
    row('fixed cost: BENCH_BACKUP_BEFORE backup postgres', `${fmtMs(s.beforepg)} ${(s.beforepg.wall / s.pgdump.wall).toFixed(2)}×`, '');
    row(
      'fixed cost: BENCH_BACKUP_BEFORE backup files',
      `${fmtMs(s.beforefiles)} ${(s.beforefiles.wall / (s.node.wall + s.tar.wall)).toFixed(2)}× (node -e 0 + tar)`,
      '',
    );
  }
  row(
    'fixed cost: vault-tool backup postgres, one small table',
    `${fmtMs(s.vtpg)} ${(s.vtpg.wall / s.pgdump.wall).toFixed(2)}×`,
    '≤ 3×',
    s.vtpg.wall / s.pgdump.wall <= 3,
  );
  if (direct) row('fixed cost: vault-tool backup postgres / pg_dump without pg_wrapper', `${(s.vtpg.wall / s.pgdirect.wall).toFixed(2)}×`, '');
  row('fixed cost: tar -cf, a 1 KB file', fmtMs(s.tar), '');
  row('fixed cost: vault-tool backup files, a 1 KB file', `${fmtMs(s.vtfiles)} ${(s.vtfiles.wall / s.tar.wall).toFixed(1)}× tar`, '');
  row('fixed cost: node -e 0', fmtMs(s.node), '');
  row(
    'fixed cost: vault-tool backup files / (node -e 0 + tar)',
    `${(s.vtfiles.wall / (s.node.wall + s.tar.wall)).toFixed(2)}×`,
    '≤ 3×',
    s.vtfiles.wall / (s.node.wall + s.tar.wall) <= 3,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await benchBackup();
