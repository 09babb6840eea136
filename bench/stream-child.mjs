// One bulk run in its own process, so peak memory (VmHWM) is this run's alone.
// usage: stream-child.mjs encrypt RECIPIENT BYTES OUT | decrypt IDENTITY IN
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { encryptStream, decryptStream, X25519Identity, parseRecipient } from '../dist/lib/age.js';

const [mode, a, b, c] = process.argv.slice(2);
const t = process.hrtime.bigint();
let bytes = 0;
if (mode === 'encrypt') {
  const total = Number(b);
  const block = Buffer.alloc(1 << 20, 0x61);
  async function* gen() {
    for (let n = 0; n < total; n += block.length) yield block;
  }
  bytes = total;
  await pipeline(Readable.from(gen()), encryptStream({ recipients: [parseRecipient(a)] }), createWriteStream(c));
} else {
  const id = X25519Identity.parse(readFileSync(a, 'utf8').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1')));
  const sink = new (await import('node:stream')).Writable({ write(chunk, _e, cb) { bytes += chunk.length; cb(); } });
  await pipeline(createReadStream(b, { highWaterMark: 1 << 20 }), decryptStream({ identities: [id] }), sink);
}
const secs = Number(process.hrtime.bigint() - t) / 1e9;
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1];
console.log(JSON.stringify({ bytes, secs, peakMiB: Number(hwm) / 1024 }));
