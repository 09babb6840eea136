// A writer process for the crash test: stores counter values one after the
// other and reports each committed value on stdout, until it is killed.
import { changed, updateVault, putEntry } from '../../dist/lib/index.js';

const [vaultFile, keyFile, start] = process.argv.slice(2);
const paths = { vaultFile, keyFile };
// Loaded: the test's random kill instant counts from here, so a slow start under load still gets killed mid-write.
process.stdout.write('ready\n');
for (let n = Number(start); ; n++) {
  await updateVault(paths, {}, (doc) =>
    changed(putEntry(doc, { name: 'counter', type: 'generic', value: Buffer.from(String(n)), update: true, now: new Date() })),
  );
  process.stdout.write(`committed ${n}\n`);
}
