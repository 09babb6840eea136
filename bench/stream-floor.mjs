// The floor of node:crypto for the STREAM seal, outside Node streams: one
// thread, a file read by descriptor into one reused 1 MiB buffer, one
// ChaCha20-Poly1305 object per 64 KiB chunk (node:crypto cannot re-key one
// or write into a caller's buffer), the sealed batch written by descriptor.
// With `gc`, a minor collection every 8 MiB frees the cipher's output
// buffers early (memory against time). Compare with the Debian age binary:
//   /usr/bin/time -f '%e %U %S %M' node bench/stream-floor.mjs FILE /dev/null [gc]
//   /usr/bin/time -f '%e %U %S %M' age -r age1… -o /dev/null FILE
import * as crypto from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';

const [input, output, mode] = process.argv.slice(2);
let gc = null;
if (mode === 'gc') {
  v8.setFlagsFromString('--expose-gc');
  gc = vm.runInNewContext('gc');
}
const fi = input === '-' ? 0 : openSync(input, 'r');
const fo = openSync(output, 'w');
const key = crypto.randomBytes(32);
const nonce = Buffer.alloc(12);
const buf = Buffer.allocUnsafeSlow(1 << 20);
const sealed = Buffer.allocUnsafeSlow((1 << 20) + 16 * 16);
let counter = 0;
for (;;) {
  let n = 0;
  for (let r = 1; n < buf.length && r; n += r) r = readSync(fi, buf, n, buf.length - n, null);
  if (!n) break;
  let o = 0;
  for (let p = 0; p < n; p += 65536) {
    nonce.writeUIntBE(counter++, 5, 6);
    const c = crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    const ct = c.update(buf.subarray(p, Math.min(n, p + 65536)));
    c.final();
    sealed.set(ct, o);
    o += ct.length;
    sealed.set(c.getAuthTag(), o);
    o += 16;
  }
  if (gc && (counter & 127) === 0) gc({ type: 'minor' });
  for (let w = 0; w < o; ) w += writeSync(fo, sealed, w, o - w);
  if (n < buf.length) break;
}
closeSync(fo);
