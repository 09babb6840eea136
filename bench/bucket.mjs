// Bucket backups of many small objects: `vault-tool backup bucket` of
// BENCH_BUCKET_N (default 5,000) one-line objects, on rclone's local backend
// and on an S3-protocol server here (s3rver, test/helpers/s3rver.mjs), beside
// the stock peer doing the same work: `rclone copy` of the bucket into a
// folder, then `tar -c | age -r R` of it. Objects per second (wall time) and
// the peak RSS of the largest process (/usr/bin/time -f %M); one run each,
// in turns. A last row backs up the same bucket plus one object of
// BENCH_BUCKET_BIG_MB (default 256) MiB: memory stays flat whatever the
// object's size. BENCH_BUCKET_WHERE=local or =S3 runs one backend only.
//
//   node bench/bucket.mjs           (or npm run bench)
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { row } from './lib.mjs';

const BIN = resolve(import.meta.dirname, '../bin/vault-tool.js');
const N = Number(process.env.BENCH_BUCKET_N ?? 5000);
const BIG_MB = Number(process.env.BENCH_BUCKET_BIG_MB ?? 256);
const WHERE = (process.env.BENCH_BUCKET_WHERE ?? 'local,S3').split(',');

/** The S3 server in a child process; its port and the rclone environment that names it `s3:`. */
async function startS3(dir, buckets) {
  const child = spawn(process.execPath, [resolve(import.meta.dirname, '../test/helpers/s3rver.mjs'), dir, ...buckets], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise((res, rej) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      const m = /^(\d+)\n/.exec(out);
      if (m) res(Number(m[1]));
    });
    child.once('exit', (code) => rej(new Error(`s3rver exited (${code})`)));
  });
  child.stdout.resume();
  return {
    env: {
      RCLONE_CONFIG_S3_TYPE: 's3',
      RCLONE_CONFIG_S3_PROVIDER: 'Other',
      RCLONE_CONFIG_S3_ENDPOINT: `http://127.0.0.1:${port}`,
      RCLONE_CONFIG_S3_ACCESS_KEY_ID: 'S3RVER',
      RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: 'S3RVER',
      RCLONE_CONFIG_S3_FORCE_PATH_STYLE: 'true',
    },
    close: () =>
      new Promise((r) => {
        child.once('exit', r);
        child.kill('SIGTERM');
      }),
  };
}

/** Wall seconds and the peak RSS of the largest process (KiB from time -f %M). */
function timed(cmd, args, env) {
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', 'peak %M', cmd, ...args], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const wall = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-800)}`);
  const kib = Number(/peak (\d+)/.exec(r.stderr)?.[1] ?? 0);
  return { wall, peak: kib * 1024 };
}

const fmt = (m, n) => `${(n / m.wall).toFixed(0)} obj/s, ${(m.peak / 2 ** 20).toFixed(0)} MiB`;

export default async function benchBucket() {
  for (const b of ['/usr/bin/time', 'rclone', 'age', 'tar']) {
    if (spawnSync(b, ['--version']).error && spawnSync(b, ['version']).error) return row(`bucket: ${b} not installed`, 'skipped', '', false);
  }
  const dir = mkdtempSync(join(tmpdir(), 'vt-bench-bucket-'));
  // rclone 1.60's S3 backend fails when AWS_CA_BUNDLE is set.
  const { AWS_CA_BUNDLE: _ca, ...base } = process.env;
  const s3 = await startS3(join(dir, 's3'), ['src', 'repo']);
  try {
    const env = {
      ...base,
      ...s3.env,
      RCLONE_CONFIG_LOC_TYPE: 'local',
      VAULT_TOOL_STATE_DIR: join(dir, 'state'),
      VAULT_TOOL_VAULT_FILE: join(dir, 'secrets.vault'),
      VAULT_TOOL_KEY_FILE: join(dir, 'vault.key'),
    };
    const run = (args) => {
      const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`vault-tool ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const rclone = (...args) => {
      const r = spawnSync('rclone', args, { env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`rclone ${args.join(' ')}: ${r.stderr}`);
    };
    // N one-line objects in 50 folders.
    const src = join(dir, 'small');
    for (let i = 0; i < N; i++) {
      const d = join(src, `d${String(i % 50).padStart(2, '0')}`);
      if (i < 50) mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `o-${String(i).padStart(6, '0')}.json`), `{"n":${i}}\n`);
    }
    rclone('copy', '--transfers', '16', src, 's3:src/small');
    run(['init']);
    // The backup key is made on first use: made here, out of the timings.
    mkdirSync(join(dir, 'one'));
    writeFileSync(join(dir, 'one', 'x'), 'x\n');
    run(['backup', 'bucket', `loc:${join(dir, 'one')}`, '--name', 'one', '-r', join(dir, 'repo')]);
    writeFileSync(join(dir, 'backup.id'), run(['get', 'backup/identity']), { mode: 0o600 });
    const recipient = spawnSync('age-keygen', ['-y', join(dir, 'backup.id')], { encoding: 'utf8' }).stdout.trim();
    const stock = (from) => [
      '-c',
      'rclone copy --transfers 16 "$1" "$2" && tar -cf - -C "$2" . | age -r "$3" > "$4" && rm -rf "$2" "$4"',
      'sh',
      from,
      join(dir, 'stage'),
      recipient,
      join(dir, 'stock.age'),
    ];
    console.log(`\n     bucket backups of ${N} one-line objects (wall objects/s, peak RSS of the largest process)`);
    for (const [where, spec] of [
      ['local backend', `loc:${src}`],
      ['S3 server', 's3:src/small'],
    ].filter(([where]) => WHERE.some((w) => where.startsWith(w)))) {
      const vt = timed(process.execPath, [BIN, 'backup', 'bucket', spec, '--name', 'small', '-r', join(dir, 'repo')], env);
      row(`bucket ${where}: vault-tool backup bucket`, fmt(vt, N), '');
      const peer = timed('sh', stock(spec), env);
      row(`bucket ${where}: rclone copy + tar | age`, fmt(peer, N), '');
      row(`bucket ${where}: vault-tool / stock (time)`, `${(vt.wall / peer.wall).toFixed(2)}×`, '');
    }
    if (BIG_MB > 0) {
      const big = join(dir, 'big');
      mkdirSync(big);
      writeFileSync(join(big, 'big.bin'), Buffer.alloc(0));
      for (let i = 0; i < BIG_MB; i++) writeFileSync(join(big, 'big.bin'), randomBytes(2 ** 20), { flag: 'a' });
      rclone('copy', src, big);
      const vt = timed(process.execPath, [BIN, 'backup', 'bucket', `loc:${big}`, '--name', 'big', '-r', join(dir, 'repo')], env);
      row(`bucket local: ${N} objects + one of ${BIG_MB} MiB`, `${vt.wall.toFixed(1)} s, ${(vt.peak / 2 ** 20).toFixed(0)} MiB`, '');
    }
  } finally {
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchBucket();
