// The floor of node:crypto for the STREAM seal, outside Node streams: one
// thread, a file read by descriptor into one reused 1 MiB buffer, one
// ChaCha20-Poly1305 object per 64 KiB chunk (node:crypto cannot re-key one
// or write into a caller's buffer), the sealed batch written by descriptor.
// It measures cost only: its output has no header and no last-chunk flag,
// so it is not an age file. With `gc`, a minor collection every 8 MiB frees
// the cipher's output buffers early (memory against time).
//   node bench/stream-floor.mjs              side by side with the Debian age on 1 GiB, medians of 3
//   node bench/stream-floor.mjs IN OUT [gc]  one run
import * as crypto from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';

if (process.argv.length < 4) await sideBySide();
else seal(...process.argv.slice(2));

function seal(input, output, mode) {
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
}

/** age, the floor and the floor with early collection, alternated on one 1 GiB file: wall, user/sys, peak RSS. */
async function sideBySide() {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { timed } = await import('./stream.mjs');
  const { median } = await import('./lib.mjs');
  const dir = mkdtempSync(join(tmpdir(), 'vt-floor-'));
  try {
    const plain = join(dir, 'plain');
    spawnSync('bash', ['-c', `head -c ${1 << 30} /dev/urandom > '${plain}' && age-keygen -o '${dir}/id' 2>/dev/null`], { stdio: 'inherit' });
    const recipient = spawnSync('age-keygen', ['-y', join(dir, 'id')], { encoding: 'utf8' }).stdout.trim();
    if (!recipient) throw new Error('the Debian age and age-keygen are needed for this benchmark');
    const self = `'${process.execPath}' '${import.meta.filename}' '${plain}' /dev/null`;
    const rows = { age: `age -r ${recipient} -o /dev/null '${plain}'`, floor: self, 'floor gc': `${self} gc` };
    const res = Object.fromEntries(Object.keys(rows).map((k) => [k, []]));
    for (let i = 0; i < 3; i++) for (const [k, cmd] of Object.entries(rows)) res[k].push(timed(cmd));
    for (const [k, rs] of Object.entries(res)) {
      const m = (f) => median(rs.map((r) => r[f])).toFixed(2);
      const ratio = median(res.age.map((r) => r.wall)) / median(rs.map((r) => r.wall));
      console.log(
        `${k.padEnd(10)}${m('wall')} s  user/sys ${m('user')}/${m('sys')}  ${ratio.toFixed(2)}× age  peak RSS ${Math.max(...rs.map((r) => r.rssMiB)).toFixed(0)} MiB`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
