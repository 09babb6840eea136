// The drill on a fixed small data set (PostgreSQL 30,000 rows, Redis 5,000
// keys, a config folder), from three share files with vault.key gone, beside
// the same restores done by hand with stock tools (age -d into pg_restore,
// into dump.rdb, into tar -x) with the key already at hand.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startPostgres, startRedis } from '../test/helpers/servers.mjs';
import { median, row } from './lib.mjs';

const BIN = resolve(import.meta.dirname, '../bin/vault-tool.js');

export default async function benchDrill() {
  for (const b of ['pg_dump', 'redis-server', 'age']) if (spawnSync(b, ['--version']).error) return row(`drill: ${b} not installed`, 'skipped', '', false);
  const dir = mkdtempSync(join(tmpdir(), 'vt-bench-drill-'));
  const pg = await startPostgres();
  const redis = await startRedis();
  const env = { ...process.env, ...pg.env, VAULT_TOOL_STATE_DIR: join(dir, 'state'), VAULT_TOOL_BACKUP_REPO: join(dir, 'repo') };
  const vt = (...args) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`vault-tool ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const sh = (script, ...args) => {
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', script, 'bench', ...args], { cwd: dir, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${script}: ${r.stderr}`);
  };
  try {
    pg.sql('create database orders');
    pg.sql('create table items (id int primary key, name text); insert into items select g, md5(g::text) from generate_series(1, 30000) g', 'orders');
    redis.cli('eval', "for i=1,5000 do redis.call('set', 'k'..i, 'v'..i) end", '0');
    mkdirSync(join(dir, 'app/certs'), { recursive: true });
    writeFileSync(join(dir, 'app/.env'), 'MODE=production\n');
    writeFileSync(join(dir, 'app/certs/tls.crt'), 'cert\n');
    vt('init');
    vt('add', 'platform/master', '-t', 'master-key', '--generate');
    vt('escrow', 'split', '-k', '3', '-c', 'a', '-c', 'b', '-c', 'c', '-c', 'd', '-c', 'e', '-o', 'shares');
    vt('backup', 'postgres', '--dbname', 'orders');
    vt('backup', 'redis', '-p', String(redis.port));
    vt('backup', 'files', '.env', 'certs', '-C', 'app');
    writeFileSync(join(dir, 'backup.id'), vt('get', 'backup/identity'), { mode: 0o600 });
    rmSync(join(dir, 'vault.key'));
    const shares = readdirSync(join(dir, 'shares'))
      .filter((f) => f.endsWith('.share'))
      .slice(0, 3)
      .map((f) => `shares/${f}`);
    writeFileSync(
      join(dir, 'drill.yaml'),
      `apiVersion: vault-tool/v1
kind: DrillPlan
rto: 2h
shares: { files: [${shares.join(', ')}] }
backups:
  repo: repo
  restore:
    - { component: postgres/orders, database: drill_orders }
    - { component: redis/default, dir: scratch/redis }
    - { component: files/config, dir: scratch/config }
checks:
  - { sql: "select count(*) from items", database: drill_orders, expect: "30000" }
  - { redisKeys: 5000, dir: scratch/redis }
  - { files: [.env, certs/tls.crt], dir: scratch/config }
`,
    );
    const file = (c) =>
      join(
        dir,
        'repo',
        c,
        readdirSync(join(dir, 'repo', c)).find((f) => f.endsWith('.age')),
      );
    const walls = [],
      recoveries = [],
      manual = [];
    for (let i = 0; i < 5; i++) {
      let t = process.hrtime.bigint();
      const out = JSON.parse(vt('drill', '--plan', 'drill.yaml', '--json'));
      walls.push(Number(process.hrtime.bigint() - t) / 1e9);
      recoveries.push(out.recoverySeconds);
      t = process.hrtime.bigint();
      sh(
        'createdb drill_manual && age -d -i backup.id "$1" | pg_restore --single-transaction --exit-on-error --no-owner -d drill_manual',
        file('postgres/orders'),
      );
      sh(
        'mkdir -p m/redis m/config && age -d -i backup.id "$1" > m/redis/dump.rdb && redis-check-rdb m/redis/dump.rdb >/dev/null && age -d -i backup.id "$2" | tar -x -C m/config',
        file('redis/default'),
        file('files/config'),
      );
      manual.push(Number(process.hrtime.bigint() - t) / 1e9);
      sh('dropdb drill_manual && rm -rf m');
    }
    row('drill (shares → vault → 3 restores → checks → teardown)', `${median(walls).toFixed(2)} s wall`, '');
    row('drill: recovery time it reports (teardown excluded)', `${median(recoveries).toFixed(2)} s`, '');
    row('drill: the restores by hand (age -d | pg_restore, tar…)', `${median(manual).toFixed(2)} s`, '');
  } finally {
    pg.stop();
    redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
