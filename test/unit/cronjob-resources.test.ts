import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RESOURCES } from '../../src/verify/cronjob.js';
import type { JobKind } from '../../src/verify/schedule-plan.js';
import { ROOT } from '../helpers/cli.js';

/**
 * The CronJobs' memory requests come from the peaks bench/peaks.mjs
 * measures (bench/README.md, "Peak memory of every backup kind"): each
 * request at least the largest peak of its job's process tree there, the
 * limit twice the request.
 */
const mebibytes = (q: string) => {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  if (!m) throw new Error(`not a quantity in Mi or Gi: ${q}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
};

/** The table's rows by the command they start with, for each kind of job the schedule runs. */
const ROWS: Partial<Record<JobKind, RegExp>> = {
  postgres: /^`backup postgres` \(/,
  redis: /^`backup redis`/,
  files: /^`backup files`/,
  exec: /^`backup exec`/,
  backupVerify: /^`backup verify --all`/,
  verify: /^`verify`/,
  drill: /^`drill`/,
  status: /^`status`/,
  prune: /^`backup prune`/,
};

function measuredPeaks(): Map<JobKind, number> {
  const readme = readFileSync(join(ROOT, 'bench', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Peak memory of every backup kind'));
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('\n|')));
  const peaks = new Map<JobKind, number>();
  for (const line of table.split('\n').filter((l) => l.startsWith('| `'))) {
    const cells = line.split('|').map((c) => c.trim());
    const kind = (Object.keys(ROWS) as JobKind[]).find((k) => ROWS[k]!.test(cells[1]!));
    if (!kind) continue;
    // The process tree's column: one figure per run (`167 / 164 MiB`).
    const runs = [...cells[3]!.matchAll(/\d+/g)].map((m) => Number(m[0]));
    peaks.set(kind, Math.max(...runs));
  }
  return peaks;
}

describe('CronJob memory requests and limits', () => {
  it('every kind of job the schedule runs has a measured peak in bench/README.md', () => {
    expect([...measuredPeaks().keys()].sort()).toEqual(Object.keys(ROWS).sort());
  });

  it("each request covers its job's measured peak, and the limit is twice the request", () => {
    for (const [kind, peak] of measuredPeaks()) {
      const r = RESOURCES[kind];
      expect(mebibytes(r.memory), `${kind}: request ${r.memory}, peak ${peak} MiB`).toBeGreaterThanOrEqual(peak);
      expect(mebibytes(r.limit), kind).toBe(2 * mebibytes(r.memory));
    }
    // k8s: its peak grows with the size of the Secrets read (bench/README.md); the request is for namespaces of ordinary ones.
    expect(mebibytes(RESOURCES.k8s.limit)).toBe(2 * mebibytes(RESOURCES.k8s.memory));
  });
});
