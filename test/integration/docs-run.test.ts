import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { haveBinary, ROOT } from '../helpers/cli.js';
import { havePostgres, haveRedis } from '../helpers/servers.mjs';
import { type Block, fencedBlocks, problems } from '../helpers/docs/blocks.js';
import { runScenario, type Scenario } from '../helpers/docs/scenario.js';
import { cluster } from '../helpers/docs/scenarios/cluster.js';
import { drill } from '../helpers/docs/scenarios/drill.js';
import { officer } from '../helpers/docs/scenarios/officer.js';
import { pitr } from '../helpers/docs/scenarios/pitr.js';
import { platform } from '../helpers/docs/scenarios/platform.js';
import { quarter } from '../helpers/docs/scenarios/quarter.js';
import { clone, tour } from '../helpers/docs/scenarios/readme.js';

/**
 * README.md and docs/RUNBOOK.md run as written. Every shell block carries a
 * mark (test/helpers/docs/blocks.ts): it runs here, in its scenario, in a
 * scratch folder with throwaway servers and the built CLI on PATH as
 * `vault-tool`; or another test runs it; or it says why it cannot run here
 * (a real cluster, a real bucket). A block without a mark fails the first
 * test, so a new block is either run or excluded on purpose.
 */
const DOCS = ['README.md', 'docs/RUNBOOK.md'];
const SCENARIOS: Scenario[] = [clone, tour, officer, cluster, quarter, platform, pitr, drill];

const blocks: Block[] = DOCS.flatMap((f) => fencedBlocks(f, readFileSync(join(ROOT, f), 'utf8')));
const blocksOf = (name: string) => blocks.filter((b) => b.mark?.kind === 'run' && b.mark.scenario === name);

// Every scenario needs the stock tools its blocks call; in CI a missing one fails (haveBinary throws).
const HAVE =
  havePostgres() &&
  haveRedis() &&
  ['age', 'age-keygen', 'jq', 'kubectl', 'curl', 'rclone', 'openssl', 'tar', 'git'].every((b) =>
    haveBinary(b, b === 'kubectl' ? ['version', '--client'] : ['--version']),
  );

describe('README.md and docs/RUNBOOK.md', () => {
  it('every shell block is run by a scenario here, run by another test, or says why it cannot run here', () => {
    const bad = problems(blocks);
    const names = new Set(SCENARIOS.map((s) => s.name));
    for (const b of blocks) {
      if (b.mark?.kind === 'run' && !names.has(b.mark.scenario))
        bad.push(`${b.where}: no scenario "${b.mark.scenario}" in test/integration/docs-run.test.ts (${[...names].join(', ')})`);
      if (b.mark?.kind === 'run-by' && !existsSync(join(ROOT, b.mark.file))) bad.push(`${b.where}: run by ${b.mark.file}, which does not exist`);
    }
    for (const s of SCENARIOS) if (!blocksOf(s.name).length) bad.push(`scenario ${s.name}: no block of README.md or docs/RUNBOOK.md is marked for it`);
    expect(bad).toEqual([]);
    const notRun = blocks.filter((b) => b.mark?.kind === 'not-run');
    const elsewhere = blocks.filter((b) => b.mark?.kind === 'run-by');
    const shell = blocks.filter((b) => b.mark);
    console.info(
      [
        `${shell.length} shell blocks: ${shell.length - notRun.length - elsewhere.length} run here in ${SCENARIOS.length} scenarios, ${elsewhere.length} by other tests, ${notRun.length} not run here:`,
        ...notRun.map((b) => `  ${b.where}: ${b.mark!.kind === 'not-run' ? b.mark!.reason : ''}`),
        ...elsewhere.map((b) => `  ${b.where}: run by ${b.mark!.kind === 'run-by' ? b.mark!.file : ''}`),
        ...blocks.flatMap((b) => (b.mark?.kind === 'run' ? b.mark.skips.map((s) => `  ${b.where}: \`${s.command}\` not run: ${s.reason}`) : [])),
      ].join('\n'),
    );
  });

  for (const sc of SCENARIOS) {
    // A scenario this machine cannot give what its blocks need is skipped, saying why; in CI that is a failure.
    const why = sc.cannotRun?.() ?? null;
    if (why && process.env.CI === 'true') throw new Error(`scenario ${sc.name} cannot run here, which CI requires: ${why}`);
    it.skipIf(!HAVE || why !== null)(
      `${sc.name}: its blocks run as written`,
      async () => {
        await runScenario(sc, blocksOf(sc.name), { timeoutMs: 180_000 });
      },
      400_000,
    );
  }
});
