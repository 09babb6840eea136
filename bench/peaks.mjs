// Peak memory of the jobs `schedule` runs, for the CronJobs' requests and
// limits (src/verify/cronjob.ts, RESOURCES): each command runs under
// /usr/bin/time -v (vault-tool's own peak) while the resident memory of its
// whole process tree (vault-tool, its worker thread, pg_dump, pg_restore as
// the checker, psql) is summed from /proc every 20 ms.
//
//   node bench/peaks.mjs            (BENCH_PEAKS_MB=256: the database's size)
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startPostgres } from '../test/helpers/servers.mjs';

const BIN = resolve(import.meta.dirname, '../bin/vault-tool.js');
const MB = Number(process.env.BENCH_PEAKS_MB ?? 256);
const PAGE = 4096;

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

const rss = (pid) => {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE;
  } catch {
    return 0;
  }
};

function measure(args, env) {
  return new Promise((res, rej) => {
    const p = spawn('/usr/bin/time', ['-v', process.execPath, BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let peak = 0;
    p.stderr.on('data', (c) => {
      err += c;
    });
    const t = setInterval(() => {
      peak = Math.max(
        peak,
        tree(p.pid).reduce((n, q) => n + rss(q), 0),
      );
    }, 20);
    p.on('error', rej);
    p.on('close', (code) => {
      clearInterval(t);
      const own = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(err)?.[1] ?? 0) * 1024;
      if (code !== 0) return rej(new Error(`${args.join(' ')} failed (${code}): ${err.slice(-800)}`));
      res({ own, peak });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'vt-bench-peaks-'));
const pg = await startPostgres();
try {
  const env = {
    ...pg.env,
    VAULT_TOOL_STATE_DIR: join(dir, 'state'),
    VAULT_TOOL_VAULT_FILE: join(dir, 'secrets.vault'),
    VAULT_TOOL_KEY_FILE: join(dir, 'vault.key'),
    VAULT_TOOL_BACKUP_REPO: join(dir, 'repo'),
  };
  pg.sql('create database app');
  const rows = Math.round((MB * 2 ** 20) / 150);
  pg.sql(
    `create table t (id bigint primary key, a text, b text, n numeric); insert into t select g, md5(g::text) || md5((g * 7)::text), md5((g * 13)::text), random() * 1e6 from generate_series(1, ${rows}) g`,
    'app',
  );
  const size = Number(pg.sql('select pg_database_size(current_database())', 'app'));
  const vt = (...a) => {
    const r = spawnSync(process.execPath, [BIN, ...a], { env: { ...process.env, ...env }, encoding: 'utf8', cwd: dir });
    if (r.status !== 0) throw new Error(r.stderr);
  };
  vt('init');
  vt('escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-c', 'c', '-o', join(dir, 'shares'));
  const shares = readdirSync(join(dir, 'shares')).filter((f) => f.endsWith('.share'));
  const rows2 = [];
  const run = async (what, args) => {
    const m = await measure(args, env);
    rows2.push([what, m.own, m.peak]);
  };
  await run('backup postgres', ['backup', 'postgres', '--dbname', 'app']);
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
  mkdirSync(join(dir, 'data'));
  for (let i = 0; i < 16; i++) writeFileSync(join(dir, 'data', `f${i}`), randomBytes(Math.round((MB * 2 ** 20) / 16)));
  await run('backup files (random bytes, as large as the database)', ['backup', 'files', '--base', dir, '--name', 'data', '--', 'data']);
  await run('status', ['status', '--prometheus', join(dir, 'm.prom')]);
  await run('backup prune --keep-last 1 --confirm', ['backup', 'prune', '--keep-last', '1', '--confirm']);
  const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  console.log(`database of ${mib(size)}, node ${process.version}, ${readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm).length} cores`);
  console.log('command | vault-tool (time -v) | process tree');
  for (const [w, own, peak] of rows2) console.log(`${w} | ${mib(own)} | ${mib(peak)}`);
} finally {
  pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
