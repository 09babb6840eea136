// `npm run bench`: every performance target, measured side by side in one run.
import { benchVault } from './vault.mjs';

console.log(`vault-tool benchmarks — node ${process.version}, ${(await import('node:os')).cpus().length} cores\n`);
console.log('     ' + 'measure'.padEnd(58) + 'result'.padEnd(26) + 'target');
await benchVault();
for (const name of ['./escrow.mjs', './k8s.mjs', './stream.mjs', './backup.mjs', './drill.mjs', './wal.mjs', './bucket.mjs', './peaks.mjs']) {
  try {
    const m = await import(name);
    await m.default();
  } catch (e) {
    if (e.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes(name.slice(2))) throw e;
  }
}
