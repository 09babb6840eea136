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

/**
 * Whole commands timed in turns (a, b, c, a, b, c, …) so that each meets the
 * same load: per command, the median wall time in ms and the spread (the
 * middle half, as [first quartile, third quartile]).
 */
export function timeAlternating(cmds, { runs = 21, warmup = 3, env } = {}) {
  const times = Object.fromEntries(Object.keys(cmds).map((k) => [k, []]));
  for (let i = 0; i < warmup + runs; i++) {
    for (const [k, [cmd, args]] of Object.entries(cmds)) {
      const t = process.hrtime.bigint();
      const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
      if (i >= warmup) times[k].push(ms);
    }
  }
  const q = (xs, f) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * f)];
  return Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, { median: median(xs), spread: [q(xs, 0.25), q(xs, 0.75)] }]));
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
