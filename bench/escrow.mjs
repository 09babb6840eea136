// Escrow targets: split 3-of-5 with self-test, and combine, each well under
// 100 ms in process; reported beside the Debian ssss tool for the same K-of-N.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { splitSecret, combineShares, idOfSecret } from '../dist/lib/escrow.js';
import { row, timeAsync, timeCommand } from './lib.mjs';

export default async function benchEscrow() {
  // A vault key's secret is a clamped X25519 scalar; the library does not hand out a key's scalar, so make one.
  const secret = randomBytes(32);
  secret[0] &= 248;
  secret[31] = (secret[31] & 127) | 64;
  const key = { keyId: idOfSecret(secret) };
  const labels = ['a', 'b', 'c', 'd', 'e'];
  let shares;
  const split = await timeAsync(async () => {
    shares = (await splitSecret({ secret, keyId: key.keyId, threshold: 3, labels, epoch: 1, keyIdOf: idOfSecret })).shares;
  }, 21);
  const combine = await timeAsync(() => combineShares(shares.slice(1, 4), idOfSecret), 21);
  row('escrow split 3-of-5 + self-test (in process)', `${split.toFixed(2)} ms`, '< 100 ms', split < 100);
  row('escrow combine 3 shares + key-id check (in process)', `${combine.toFixed(2)} ms`, '< 100 ms', combine < 100);
  if (spawnSync('ssss-split', ['-v'], { stdio: 'ignore' }).error) {
    row('ssss-split / ssss-combine', 'not installed', 'apt-get install ssss');
    return;
  }
  // ssss works on a passphrase-sized secret (hex, 32 bytes here) and prints shares; time whole processes.
  const hex = secret.toString('hex');
  const sh = `printf %s ${hex} | ssss-split -t 3 -n 5 -x -q > /tmp/vt-ssss.$$ && head -n 3 /tmp/vt-ssss.$$ | ssss-combine -t 3 -x -q 2>/dev/null >/dev/null; rm -f /tmp/vt-ssss.$$`;
  const ssss = timeCommand('sh', ['-c', sh], { runs: 15 });
  const shBase = timeCommand('sh', ['-c', 'true'], { runs: 15 });
  const ssssNet = Math.max(ssss - shBase, 0.01);
  row('ssss-split 3-of-5 + ssss-combine (less sh startup)', `${ssssNet.toFixed(2)} ms`, 'reference');
  row('vault-tool split+combine / ssss split+combine', `${((split + combine) / ssssNet).toFixed(2)}x`, 'ratio (in-process vs processes)');
}
