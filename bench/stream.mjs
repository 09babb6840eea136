// Bulk targets: a 1 GiB stream encrypts and decrypts at least as fast as the
// Debian age binary (to /dev/null), with peak memory under 64 MiB.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { X25519Identity } from '../dist/lib/age.js';
import { row } from './lib.mjs';

const GIB = 1 << 30;

function child(args) {
  const r = spawnSync(process.execPath, [resolve(import.meta.dirname, 'stream-child.mjs'), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

function timeSh(cmd) {
  const t = process.hrtime.bigint();
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

export default async function benchStream() {
  const dir = mkdtempSync(join(tmpdir(), 'vt-stream-'));
  try {
    const { identity, encoded } = X25519Identity.generate();
    const idFile = join(dir, 'id.txt');
    writeFileSync(idFile, encoded + '\n', { mode: 0o600 });
    const enc = child(['encrypt', identity.recipient, String(GIB), join(dir, 'ours.age')]);
    const dec = child(['decrypt', idFile, join(dir, 'ours.age')]);
    const gbps = (s) => `${(GIB / s / 1e9).toFixed(2)} GB/s`;
    const haveAge = !spawnSync('age', ['--version']).error;
    let ageEnc = Infinity;
    let ageDec = Infinity;
    if (haveAge) {
      ageEnc = timeSh(`head -c ${GIB} /dev/zero | age -r ${identity.recipient} > ${join(dir, 'theirs.age')}`);
      ageDec = timeSh(`age -d -i ${idFile} ${join(dir, 'theirs.age')} > /dev/null`);
      row('age binary: encrypt 1 GiB (from head -c /dev/zero)', gbps(ageEnc), 'reference');
      row('age binary: decrypt 1 GiB to /dev/null', gbps(ageDec), 'reference');
    }
    row('vault-tool: encrypt 1 GiB stream', `${gbps(enc.secs)}, peak ${enc.peakMiB.toFixed(0)} MiB`, '>= age, < 64 MiB', enc.secs <= ageEnc * 1.0 && enc.peakMiB < 64);
    row('vault-tool: decrypt 1 GiB stream', `${gbps(dec.secs)}, peak ${dec.peakMiB.toFixed(0)} MiB`, '>= age, < 64 MiB', dec.secs <= ageDec * 1.0 && dec.peakMiB < 64);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
