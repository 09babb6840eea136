import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillResult } from '../../src/drill/drill.js';
import { drillHtml } from '../../src/drill/report.js';
import { haveBinary, tempDir } from '../helpers/cli.js';

/**
 * The drill's printable page in Chromium, at 1200 px and at A4 print size:
 * nothing scrolls sideways (long paths and messages wrap), and every step's
 * bar is visible on the timeline although the RTO is hours and the steps
 * seconds, the RTO named or marked.
 */
const READY = haveBinary('chromium');
let browser: Browser | undefined;
let dir: string;
let cleanup: () => void;

const longPath = `/srv/drill-scratch/${'files-configuration-of-the-platform-'.repeat(6)}config`;
const step = (name: string, offset: number, seconds: number, ok = true, plan?: number): DrillResult['steps'][number] => ({
  name,
  ok,
  startedAt: '2026-12-06T10:00:00.000Z',
  offset,
  seconds,
  ...(plan !== undefined ? { plan: { offset: plan, seconds: 0.2 } } : {}),
  message: `${name}: ${longPath}`,
});
const result = (over: Partial<DrillResult> = {}): DrillResult => ({
  ok: true,
  dryRun: false,
  at: '2026-12-06T10:00:00.000Z',
  operator: 'alice',
  plan: { path: 'drill.yaml', sha256: 'a'.repeat(64) },
  vault: { vaultId: 'v'.repeat(32), generation: 12, keyId: 'k'.repeat(16) },
  custodians: ['alice', 'bob', 'carol'],
  steps: [
    step('combine the shares', 0, 0.4),
    step('open the vault with the recovered key', 0.4, 0.1),
    step('verify the vault', 0.5, 0.8),
    step('restore Secrets into drill-platform', 3.4, 0.6, true, 1.3),
    step('restore postgres/keycloak', 4.0, 41.5, true, 1.5),
    step('restore redis/default', 45.5, 1.2, true, 1.9),
    step(`restore files/config into ${longPath}`, 46.7, 0.3, true, 2.2),
    step('run the checks', 47.0, 2.4, true, 2.6),
    step('tear down the scratch targets', 49.4, 1.1, true, 3.0),
  ],
  restored: [{ component: 'files/config', file: `${'x'.repeat(120)}.tar.age`, madeAt: '2026-12-06T09:00:00Z', ageSeconds: 3600, into: longPath }],
  recoverySeconds: 49.4,
  rtoTargetSeconds: 7200,
  rtoText: '2h',
  rtoMet: true,
  rtoVerdict: 'met',
  ...over,
});

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-drill-report-'));
  if (!READY) return;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  cleanup();
});

async function open(html: string, width: number, height: number, print: boolean) {
  const page = await browser!.newPage({ viewport: { width, height } });
  if (print) await page.emulateMedia({ media: 'print' });
  const file = join(dir, `report-${width}-${print ? 'print' : 'screen'}.html`);
  writeFileSync(file, html);
  await page.goto(`file://${file}`);
  return page;
}

describe.skipIf(!READY)('the drill report in Chromium', () => {
  for (const [label, width, height, print] of [
    ['1200 px', 1200, 900, false],
    // A4 at 96 dpi, less the page margins: what the print layout has.
    ['A4 print', 680, 1000, true],
  ] as const) {
    it(`${label}: no sideways scrolling, every step visible on the timeline, the RTO named`, async () => {
      const page = await open(drillHtml(result()), width, height, print);
      const m = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
        bars: Array.from(document.querySelectorAll('.track .bar:not(.plan)')).map((b) => b.getBoundingClientRect().width),
        track: document.querySelector('.track')!.getBoundingClientRect().width,
        note: document.getElementById('rto-note')!.textContent,
      }));
      await page.screenshot({ path: join(dir, `report-${width}.png`), fullPage: true });
      await page.close();
      expect(m.scroll).toBeLessThanOrEqual(m.client);
      expect(m.bars).toHaveLength(9);
      for (const w of m.bars) expect(w).toBeGreaterThanOrEqual(3);
      // The longest step (41.5 s of 49.4) fills most of the track, not a sliver against 2 hours.
      expect(Math.max(...m.bars)).toBeGreaterThan(m.track * 0.6);
      expect(m.note).toMatch(/The RTO \(2h\) lies beyond this scale: the recovery used 0\.69% of it\./);
    });
  }

  it('an RTO within reach is marked on the scale; a failed drill names no share of it', async () => {
    const near = await open(drillHtml(result({ rtoTargetSeconds: 60, rtoText: '1m' })), 1200, 900, false);
    const marker = await near.evaluate(() => {
      const rto = document.querySelector('.track .rto');
      const track = document.querySelector('.track')!.getBoundingClientRect();
      return rto ? (rto.getBoundingClientRect().left - track.left) / track.width : null;
    });
    await near.close();
    expect(marker).toBeGreaterThan(0.9);
    expect(marker).toBeLessThan(1);
    const failed = await open(
      drillHtml(result({ ok: false, rtoMet: undefined, rtoVerdict: 'not measured (the drill failed)', steps: [step('run the checks', 1, 2, false)] })),
      1200,
      900,
      false,
    );
    const text = await failed.evaluate(() => ({
      recovery: document.getElementById('recovery')!.textContent,
      note: document.getElementById('rto-note')!.textContent,
    }));
    await failed.close();
    expect(text.recovery).toBe('against an RTO of 2h: not measured (the drill failed)');
    expect(text.note).not.toMatch(/used/);
  });
});
