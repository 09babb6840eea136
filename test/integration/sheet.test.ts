import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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
    expect(decodeQR(img)).toBe(shareToText(share));
  });
});
