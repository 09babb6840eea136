// Bulk targets (bench/README.md):
// encrypt and decrypt at least as fast as the Debian age binary, from a file
// and from a pipe, to /dev/null and to a file, with and without a SHA-256 of
// the plaintext computed alongside; peak RSS at most 128 MiB with the
// default workers, 96 MiB with none (the one-core rows: one core means no
// workers). Side by side in one run, each pair alternated and repeated,
// medians reported. vault-tool runs encryptBulk/decryptBulk on descriptors
// (stream-child.mjs); one row more shows the Node stream API (the Duplex a
// pipeline uses) for comparison, not as a target. Also on one core
// (taskset -c 0) for the first size. 1 GiB by default;
// VT_BENCH_STREAM_GIB=1,4 adds 4 GiB; VT_BENCH_STREAM_RUNS sets the repeats
// (default 3); VT_BENCH_STREAM_ROWS, a regular expression, keeps only the
// rows whose name matches (`pipe→` the rows reading a pipe, `→file` those
// writing a file, `^(?!.*(core|Duplex))` all but the one-core and Duplex
// rows); VT_BENCH_STREAM_BASELINE, another build's dist/lib/age.js, runs it
// too, in turns with this one and age, and gives its ratio beside (a change
// measured before and after in the same run).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { median } from './lib.mjs';

const GIB = 1 << 30;
const CHILD = resolve(import.meta.dirname, 'stream-child.mjs');
const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;

/** Runs a shell pipeline under /usr/bin/time: wall, user and system seconds (all processes), peak RSS (the largest process). */
export function timed(cmd) {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %U %S %M', 'bash', '-o', 'pipefail', '-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`failed: ${cmd}\n${r.stderr}`);
  return { wall: Number(m[1]), user: Number(m[2]), sys: Number(m[3]), rssMiB: Number(m[4]) / 1024 };
}

/** The shell command of one row, for vault-tool or age. */
function command(tool, { mode, from, to, sha, core, duplex }, f, baseline) {
  const input = mode === 'encrypt' ? f.plain : f.cipher;
  const out = to === 'file' ? f.out : '/dev/null';
  const pin = core ? 'taskset -c 0 ' : '';
  const src = from === 'pipe' ? `cat ${q(input)} | ` : '';
  const arg = from === 'pipe' ? '-' : input;
  if (tool !== 'age') {
    const key = mode === 'encrypt' ? f.recipient : f.idFile;
    const lib = tool === 'baseline' ? ` ${q(`lib=${baseline}`)}` : '';
    return `${src}${pin}${q(process.execPath)} ${q(CHILD)} ${mode} ${q(key)} ${arg === '-' ? '-' : q(arg)} ${q(out)}${sha ? ' sha' : ''}${duplex ? ' duplex' : ''}${lib}`;
  }
  const ageArgs = mode === 'encrypt' ? `-r ${f.recipient}` : `-d -i ${q(f.idFile)}`;
  if (!sha) return `${src}${pin}age ${ageArgs} -o ${q(out)} ${arg === '-' ? '' : q(arg)}`;
  // age has no hash of its own: the same SHA-256 alongside with openssl (SHA-NI, about node:crypto's speed) through a fifo.
  const fifo = q(f.fifo);
  const hash = `rm -f ${fifo}; mkfifo ${fifo}; ${pin}openssl dgst -sha256 < ${fifo} > /dev/null & `;
  if (mode === 'encrypt') return `${hash}${src}${pin}tee ${fifo} ${src ? '' : `< ${q(input)} `}| ${pin}age ${ageArgs} -o ${q(out)}; wait`;
  return `${hash}${src}${pin}age ${ageArgs} ${arg === '-' ? '' : q(arg)} | ${pin}tee ${fifo} > ${q(out)}; wait`;
}

export default async function benchStream() {
  if (spawnSync('age', ['--version']).error) throw new Error('the Debian age binary is needed for the stream benchmark');
  if (spawnSync('/usr/bin/time', ['true']).error) throw new Error('/usr/bin/time is needed for the stream benchmark (Debian package time)');
  const sizes = (process.env.VT_BENCH_STREAM_GIB ?? '1').split(',').map(Number);
  const runs = Number(process.env.VT_BENCH_STREAM_RUNS ?? 3);
  const rows = new RegExp(process.env.VT_BENCH_STREAM_ROWS ?? '');
  const baseline = process.env.VT_BENCH_STREAM_BASELINE ? resolve(process.env.VT_BENCH_STREAM_BASELINE) : null;
  const tools = baseline ? ['vault-tool', 'age', 'baseline'] : ['vault-tool', 'age'];
  const dir = mkdtempSync(join(tmpdir(), 'vt-stream-'));
  try {
    const idFile = join(dir, 'id.txt');
    spawnSync('age-keygen', ['-o', idFile], { stdio: 'ignore' });
    const recipient = spawnSync('age-keygen', ['-y', idFile], { encoding: 'utf8' }).stdout.trim();
    console.log(
      `\n     bulk streams, side by side with age ${spawnSync('age', ['--version'], { encoding: 'utf8' }).stdout.trim()}: median of ${runs} (wall s; ratio = vault-tool throughput / age throughput)`,
    );
    console.log(
      `     ${'row'.padEnd(44)}${'vault-tool'.padEnd(18)}${'age'.padEnd(18)}${'ratio'.padEnd(8)}${'vt user/sys'.padEnd(14)}${'age user/sys'.padEnd(14)}${'vt RSS'.padEnd(10)}${'age RSS'.padEnd(9)}${'load 1 min'.padEnd(12)}${baseline ? 'baseline: ratio user/sys RSS' : ''}`,
    );
    if (baseline) console.log(`     baseline: ${baseline}`);
    for (const gib of sizes) {
      const f = { idFile, recipient, plain: join(dir, 'plain'), cipher: join(dir, 'cipher.age'), out: join(dir, 'out'), fifo: join(dir, 'sha.fifo') };
      spawnSync('bash', ['-c', `head -c ${gib * GIB} /dev/urandom > ${q(f.plain)} && age -r ${recipient} -o ${q(f.cipher)} ${q(f.plain)}`], {
        stdio: 'inherit',
      });
      // One-core figures (taskset -c 0, both tools) at the smallest size, to keep the run short.
      const specs = [];
      for (const core of gib === sizes[0] ? [false, true] : [false])
        for (const mode of ['encrypt', 'decrypt'])
          for (const from of ['file', 'pipe'])
            for (const to of ['/dev/null', 'file']) for (const sha of [false, true]) specs.push({ mode, from, to, sha, core });
      // The Node stream API, for comparison (not a target).
      if (gib === sizes[0])
        for (const mode of ['encrypt', 'decrypt']) specs.push({ mode, from: 'file', to: '/dev/null', sha: false, core: false, duplex: true });
      const nameOf = ({ mode, from, to, sha, core, duplex }) =>
        `${mode} ${gib} GiB ${from}→${to === 'file' ? 'file' : 'null'}${sha ? ' +sha256' : ''}${core ? ' 1 core' : ''}${duplex ? ' (Duplex)' : ''}`;
      for (const spec of specs.filter((s) => rows.test(nameOf(s)))) {
        const { core, duplex } = spec;
        const res = { 'vault-tool': [], age: [], baseline: [] };
        for (let i = 0; i < runs; i++) {
          // Take turns at going first (rotating the order), so that no tool always meets the same load.
          for (let k = 0; k < tools.length; k++) {
            const tool = tools[(i + k) % tools.length];
            res[tool].push(timed(command(tool, spec, f, baseline)));
            rmSync(f.out, { force: true });
          }
        }
        const m = (tool, k) => median(res[tool].map((r) => r[k]));
        const vt = m('vault-tool', 'wall');
        const ag = m('age', 'wall');
        const ratio = ag / vt;
        const gbps = (s) => `${s.toFixed(2)} s ${((gib * GIB) / s / 1e9).toFixed(2)}GB/s`;
        const rss = Math.max(...res['vault-tool'].map((r) => r.rssMiB));
        const name = nameOf(spec);
        const base = baseline
          ? `${(ag / m('baseline', 'wall')).toFixed(2)}× ${m('baseline', 'user').toFixed(2)}/${m('baseline', 'sys').toFixed(2)} ${Math.max(...res.baseline.map((r) => r.rssMiB)).toFixed(0)} MiB`
          : '';
        // One core means no workers: those rows hold the memory bound of `workers: 0`; their speed is for comparison.
        const ok = core ? rss <= 96 : ratio >= 1 && rss <= 128;
        console.log(
          `${(duplex ? '' : ok ? 'ok' : 'MISS').padEnd(5)}${name.padEnd(44)}${gbps(vt).padEnd(18)}${gbps(ag).padEnd(18)}${(ratio.toFixed(2) + '×').padEnd(8)}` +
            `${`${m('vault-tool', 'user').toFixed(2)}/${m('vault-tool', 'sys').toFixed(2)}`.padEnd(14)}${`${m('age', 'user').toFixed(2)}/${m('age', 'sys').toFixed(2)}`.padEnd(14)}` +
            `${(rss.toFixed(0) + ' MiB').padEnd(10)}${`${Math.max(...res.age.map((r) => r.rssMiB)).toFixed(0)} MiB`.padEnd(9)}${`load ${loadavg()[0].toFixed(1)}`.padEnd(12)}${base}`,
        );
      }
      rmSync(f.plain, { force: true });
      rmSync(f.cipher, { force: true });
    }
    console.log('     target: ratio >= 1.0 and vault-tool peak RSS <= 128 MiB in every row with the default workers; <= 96 MiB on one core (no workers)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchStream();
