import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import decodeQR from '@paulmillr/qr/decode.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseShareFile, shareToText } from '../../src/escrow/files.js';
import { cli, haveBinary, tempDir } from '../helpers/cli.js';
import { readPng } from '../helpers/png.js';

const CHROMIUM = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--hide-scrollbars',
];

let dir: string;
let cleanup: () => void;
beforeAll(() => ({ dir, cleanup } = tempDir()));
afterAll(() => cleanup());

describe.skipIf(!haveBinary('chromium'))('the printable share sheet', () => {
  it('renders in Chromium with the custodian, set, K-of-N, key id, and a QR code that reads back as the share', async () => {
    await cli(dir, ['init']);
    const r = JSON.parse((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'Alice Example', '-c', 'Bob', '-o', 'shares', '--json'])).stdout);
    const sheet = join(dir, 'shares', 'share-01-alice-example.html');
    const share = parseShareFile(readFileSync(join(dir, 'shares', 'share-01-alice-example.share'), 'utf8'));
    const profile = join(dir, 'chromium-profile');
    const dom = spawnSync('chromium', [...CHROMIUM, `--user-data-dir=${profile}`, '--dump-dom', `file://${sheet}`], { encoding: 'utf8', timeout: 60_000 });
    expect(dom.status).toBe(0);
    const text = dom.stdout.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
    expect(text).toContain('Escrow share for Alice Example');
    expect(text).toContain(`1 of 2; any 2 recover the vault key`);
    expect(text).toContain(`${r.setId} (epoch 1)`);
    expect(text).toContain(r.keyId);
    expect(text).toContain(r.manifestKey);
    const png = join(dir, 'sheet.png');
    const shot = spawnSync('chromium', [...CHROMIUM, `--user-data-dir=${profile}`, `--screenshot=${png}`, '--window-size=900,1400', `file://${sheet}`], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(shot.status).toBe(0);
    const img = readPng(readFileSync(png));
    expect(img.width).toBe(900);
    const dark = img.data.filter((_, i) => i % 4 === 0).filter((v) => v < 128).length;
    expect(dark).toBeGreaterThan(5000);
    expect(decodeQRPrinted(img, sheet, profile)).toBe(shareToText(share));
  });
});

/** The bounding box of dark pixels (< 128) inside a region of a screenshot. */
function inkBox(img: { width: number; data: Uint8Array }, x0: number, y0: number, x1: number, y1: number) {
  let top = Infinity;
  let bottom = -1;
  let left = Infinity;
  let right = -1;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      if (img.data[(y * img.width + x) * 4]! >= 128) continue;
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
      left = Math.min(left, x);
      right = Math.max(right, x);
    }
  }
  return { top, bottom, left, right };
}

describe.skipIf(!haveBinary('chromium'))('the share sheet at A4, on screen and printed (measured in Chromium)', () => {
  it('keeps at least 10 mm of white around its content, the title included, and prints on one A4 page, even for the longest custodian name', async () => {
    const { chromium } = await import('playwright-core');
    const longest = 'L'.repeat(48);
    const d = join(dir, 'a4');
    await cli(dir, ['init', '--vault-file', 'a4.vault', '--key-file', 'a4.key']);
    const r = await cli(dir, ['--vault-file', 'a4.vault', '--key-file', 'a4.key', 'escrow', 'split', '-k', '2', '-c', 'Alice Example', '-c', longest, '-o', d]);
    expect(r.code, r.stderr).toBe(0);
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
    try {
      for (const sheet of ['share-01-alice-example.html', `share-02-${longest.toLowerCase()}.html`]) {
        // On screen, at the width of an A4 page (210 mm at 96 dpi): the title does not touch the top edge.
        const page = await browser.newPage({ viewport: { width: 794, height: 1123 } });
        await page.goto(pathToFileURL(join(d, sheet)).href);
        const pxPerMm = 794 / 210;
        const screen = readPng(await page.screenshot());
        const ink = inkBox(screen, 0, 0, screen.width, screen.height);
        expect(ink.top / pxPerMm, `${sheet}: top margin on screen`).toBeGreaterThanOrEqual(10);
        expect(ink.left / pxPerMm, `${sheet}: left margin on screen`).toBeGreaterThanOrEqual(10);
        expect((screen.width - 1 - ink.right) / pxPerMm, `${sheet}: right margin on screen`).toBeGreaterThanOrEqual(10);
        const title = await page.locator('h1').boundingBox();
        expect(title!.y / pxPerMm, `${sheet}: the title's top on screen`).toBeGreaterThanOrEqual(10);
        // Printed: one A4 page, and in it (drawn by Chromium's own PDF viewer) at least 10 mm of white on every side.
        const pdf = await page.pdf({ preferCSSPageSize: true, printBackground: true });
        expect(pdf.toString('latin1').match(/\/Type\s*\/Page\b(?!s)/g), `${sheet}: pages`).toHaveLength(1);
        const box = /\/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]/.exec(pdf.toString('latin1'))!;
        // A4 is 595.28 × 841.89 points.
        expect([Math.round(Number(box[1])), Math.round(Number(box[2]))], `${sheet}: A4 media box`).toEqual([595, 842]);
        const file = join(dir, `${sheet}.pdf`);
        writeFileSync(file, pdf);
        const viewer = await browser.newPage({ viewport: { width: 900, height: 1400 } });
        await viewer.goto(`${pathToFileURL(file).href}#toolbar=0&view=FitH`);
        let shot = readPng(await viewer.screenshot());
        // The viewer's backdrop is one flat grey: the paper is everything else.
        const px = (x: number, y: number) => shot.data.subarray((y * shot.width + x) * 4, (y * shot.width + x) * 4 + 3);
        const backdrop = Array.from(px(1, 1));
        const isPaper = (x: number, y: number) => px(x, y).some((v, i) => Math.abs(v - backdrop[i]!) > 12);
        for (let i = 0; i < 100 && !isPaper(shot.width >> 1, Math.floor(shot.height / 2)); i++) {
          await viewer.waitForTimeout(100);
          shot = readPng(await viewer.screenshot());
        }
        const mid = shot.width >> 1;
        let top = 0;
        while (top < shot.height - 1 && !isPaper(mid, top)) top++;
        let bottom = shot.height - 1;
        while (bottom > top && !isPaper(mid, bottom)) bottom--;
        let left = 0;
        while (left < mid && !isPaper(left, top + 5)) left++;
        let right = shot.width - 1;
        while (right > mid && !isPaper(right, top + 5)) right--;
        const mm = (right - left) / 210;
        expect(Math.round((bottom - top) / mm), `${sheet}: the paper's height`).toBeGreaterThanOrEqual(295);
        const printed = inkBox(shot, left + 2, top + 2, right - 2, bottom - 2);
        expect((printed.top - top) / mm, `${sheet}: top margin printed`).toBeGreaterThanOrEqual(10);
        expect((printed.left - left) / mm, `${sheet}: left margin printed`).toBeGreaterThanOrEqual(10);
        expect((right - printed.right) / mm, `${sheet}: right margin printed`).toBeGreaterThanOrEqual(10);
        expect((bottom - printed.bottom) / mm, `${sheet}: bottom margin printed`).toBeGreaterThanOrEqual(10);
        await viewer.close();
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 120_000);
});

/**
 * The QR code read from the screenshot; where a module falls on a fraction of
 * a screen pixel the decoder may misread the format bits, so the sheet is
 * read again as a printer renders it, at twice the resolution.
 */
function decodeQRPrinted(img: ReturnType<typeof readPng>, sheet: string, profile: string): string {
  try {
    return decodeQR(img);
  } catch {
    const png = join(dir, 'sheet-2x.png');
    const shot = spawnSync(
      'chromium',
      [...CHROMIUM, `--user-data-dir=${profile}`, '--force-device-scale-factor=2', `--screenshot=${png}`, '--window-size=900,1400', `file://${sheet}`],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(shot.status).toBe(0);
    return decodeQR(readPng(readFileSync(png)));
  }
}
