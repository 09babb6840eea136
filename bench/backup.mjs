// Backups of a PostgreSQL database of BENCH_BACKUP_MB (default 512) MB, side
// by side in one run with the tools operators use today:
//   pg_dump -Fc -f plain.dump                        (no encryption, no check)
//   pg_dump -Fc | restic backup --stdin              (Debian restic, a local repository)
//   vault-tool backup postgres                       (encrypted, checked by pg_restore while written, read back)
// each also with -Z0 (uncompressed: the stream, not zlib, is the bottleneck);
// and `backup verify` against age -d + pg_restore -f /dev/null of the plain dump.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startPostgres } from '../test/helpers/servers.mjs';
import { median, row } from './lib.mjs';

const BIN = resolve(import.meta.dirname, '../bin/vault-tool.js');
const MB = Number(process.env.BENCH_BACKUP_MB ?? 512);
const RUNS = Number(process.env.BENCH_BACKUP_RUNS ?? 3);

function timed(cmd, args, env) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${String(r.stderr).slice(-500)}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

export default async function benchBackup() {
  for (const b of ['pg_dump', 'restic', 'age']) {
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
    pg.sql('create database bench');
    // Rows of hex text and numbers: compressible about as much as application tables are.
    const rows = Math.round((MB * 2 ** 20) / 150);
    pg.sql(
      `create table t (id bigint primary key, a text, b text, n numeric, at timestamptz); insert into t select g, md5(g::text) || md5((g * 7)::text), md5((g * 13)::text), random() * 1e6, now() - g * interval '1 second' from generate_series(1, ${rows}) g`,
      'bench',
    );
    pg.sql('vacuum analyze t', 'bench');
    const size = Number(pg.sql('select pg_database_size(current_database())', 'bench'));
    timed(process.execPath, [BIN, 'init'], env);
    timed('restic', ['init', '-r', join(dir, 'restic'), '-q'], env);
    const label = `${(size / 2 ** 20).toFixed(0)} MB database`;
    for (const z of [null, 0]) {
      const zArgs = z === null ? [] : ['-Z', String(z)];
      const tag = z === null ? '' : ' -Z0';
      const plain = [],
        restic = [],
        vt = [];
      for (let i = 0; i < RUNS; i++) {
        rmSync(join(dir, 'plain.dump'), { force: true });
        plain.push(timed('pg_dump', ['-Fc', ...zArgs, '-f', join(dir, 'plain.dump'), 'bench'], env));
        restic.push(
          timed(
            'bash',
            [
              '-o',
              'pipefail',
              '-c',
              `pg_dump -Fc ${zArgs.join(' ')} bench | restic backup -q -r "$1" --stdin --stdin-filename bench.dump`,
              'bench',
              join(dir, 'restic'),
            ],
            env,
          ),
        );
        vt.push(timed(process.execPath, [BIN, 'backup', 'postgres', '--dbname', 'bench', ...zArgs, '-r', join(dir, 'repo')], env));
      }
      const [p, r, v] = [median(plain), median(restic), median(vt)];
      row(`backup postgres${tag}, ${label}: pg_dump -Fc -f`, `${p.toFixed(2)} s`, '');
      row(`backup postgres${tag}: pg_dump | restic backup --stdin`, `${r.toFixed(2)} s`, '');
      row(`backup postgres${tag}: vault-tool backup postgres`, `${v.toFixed(2)} s (${(v / p).toFixed(2)}× pg_dump)`, '≤ 1.1× pg_dump', v / p <= 1.1);
      row(`backup postgres${tag}: vault-tool vs restic`, `${(v / r).toFixed(2)}× restic's time`, '≤ 1.0× restic', v <= r);
    }
    // Verify the newest (-Z0) backup against decrypting it with age and checking the plain dump.
    const comp = join(dir, 'repo', 'postgres', 'bench');
    const newest = readdirSync(comp)
      .filter((f) => f.endsWith('.age'))
      .sort()
      .at(-1);
    writeFileSync(join(dir, 'backup.id'), spawnSync(process.execPath, [BIN, 'get', 'backup/identity'], { env: { ...process.env, ...env } }).stdout, {
      mode: 0o600,
    });
    const ver = [],
      ref = [];
    for (let i = 0; i < RUNS; i++) {
      ver.push(timed(process.execPath, [BIN, 'backup', 'verify', `postgres/bench/${newest}`, '-r', join(dir, 'repo')], env));
      const dec = timed('bash', ['-c', 'age -d -i "$1" "$2" > "$3"', 'bench', join(dir, 'backup.id'), join(comp, newest), join(dir, 'plain.dump')], env);
      ref.push(dec + timed('pg_restore', ['-f', '/dev/null', join(dir, 'plain.dump')], env));
    }
    const [vv, rr] = [median(ver), median(ref)];
    row('backup verify (full read): age -d, then pg_restore -f /dev/null', `${rr.toFixed(2)} s`, '');
    row('backup verify (full read): vault-tool backup verify', `${vv.toFixed(2)} s (${(vv / rr).toFixed(2)}×)`, '≤ 1.2× decrypt + pg_restore', vv / rr <= 1.2);
  } finally {
    pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
