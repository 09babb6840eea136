// One vault-tool bulk run in its own process, the way a backup runs it:
// a file (or stdin, a pipe) through encryptStream/decryptStream into a file
// (or /dev/null), optionally with a SHA-256 of the plaintext computed
// alongside. Prints nothing on success; the bench times the whole process.
// usage: stream-child.mjs encrypt|decrypt KEY IN|- OUT [sha]
//   KEY: an age1 recipient (encrypt) or an identity file (decrypt)
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decryptStream, encryptStream } from '../dist/lib/age.js';

const [mode, key, input, output, sha] = process.argv.slice(2);
const source = input === '-' ? process.stdin : createReadStream(input, { highWaterMark: 1 << 20 });
const sink = createWriteStream(output, { highWaterMark: 1 << 20 });
const stages = [];
let hash = null;
if (sha) {
  hash = createHash('sha256');
  stages.push(
    new PassThrough({
      highWaterMark: 1 << 20,
      transform(c, _e, cb) {
        hash.update(c);
        cb(null, c);
      },
    }),
  );
}
if (mode === 'encrypt') {
  await pipeline(source, ...stages, encryptStream({ recipients: [key] }), sink);
} else {
  const identity = readFileSync(key, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('AGE-SECRET-KEY-1'));
  await pipeline(source, decryptStream({ identities: [identity] }), ...stages, sink);
}
if (hash) process.stderr.write(`sha256 ${hash.digest('hex')}\n`);
