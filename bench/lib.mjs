// Small timing helpers shared by the benchmarks: median wall time of whole
// commands (fresh processes), and in-process timings.
import { spawnSync } from 'node:child_process';

export function timeCommand(cmd, args, { runs = 15, warmup = 3, cwd, env } = {}) {
  const times = [];
  for (let i = 0; i < warmup + runs; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    if (i >= warmup) times.push(ms);
  }
  return median(times);
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function timeAsync(fn, runs = 9) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(times);
}

export function row(name, value, target, ok) {
  const mark = ok === undefined ? '' : ok ? 'ok  ' : 'MISS';
  console.log(`${mark.padEnd(5)}${name.padEnd(58)}${value.padEnd(26)}${target}`);
}
