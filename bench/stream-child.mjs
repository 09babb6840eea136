// One vault-tool bulk run in its own process, the way a backup runs it: a
// file (or stdin, a pipe) into a file (or /dev/null), by descriptor through
// encryptBulk/decryptBulk, optionally with a SHA-256 of the plaintext
// computed alongside; `duplex` runs the Node stream API instead
// (encryptStream/decryptStream in stream.pipeline). Prints nothing on
// success but the digest; the bench times the whole process.
// usage: stream-child.mjs encrypt|decrypt KEY IN|- OUT [sha] [duplex] [workers=N] [lib=PATH]
//   KEY: an age1 recipient (encrypt) or an identity file (decrypt)
//   lib=PATH: another build's dist/lib/age.js (the bench's baseline), instead of this one's
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync, readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { pipeline } from 'node:stream/promises';

const [mode, key, input, output, ...flags] = process.argv.slice(2);
const lib = flags.find((f) => f.startsWith('lib='));
const { decryptBulk, decryptStream, encryptBulk, encryptStream } = await import(lib ? pathToFileURL(lib.slice(4)).href : '../dist/lib/age.js');
const sha = flags.includes('sha');
const workers = flags.find((f) => f.startsWith('workers='));
const spread = workers ? { workers: Number(workers.slice(8)) } : {};
const keyOpts =
  mode === 'encrypt'
    ? { recipients: [key] }
    : {
        identities: [
          readFileSync(key, 'utf8')
            .split('\n')
            .find((l) => l.startsWith('AGE-SECRET-KEY-1')),
        ],
      };

if (flags.includes('duplex')) {
  const source = input === '-' ? process.stdin : createReadStream(input, { highWaterMark: 1 << 20 });
  const sink = createWriteStream(output, { highWaterMark: 1 << 20 });
  const hash = sha ? createHash('sha256') : null;
  const tap = () =>
    new PassThrough({
      highWaterMark: 1 << 20,
      transform(c, _e, cb) {
        hash.update(c);
        cb(null, c);
      },
    });
  if (mode === 'encrypt') await pipeline(source, ...(hash ? [tap()] : []), encryptStream({ ...keyOpts, ...spread }), sink);
  else await pipeline(source, decryptStream({ ...keyOpts, ...spread }), ...(hash ? [tap()] : []), sink);
  if (hash) process.stderr.write(`sha256 ${hash.digest('hex')}\n`);
} else {
  const from = input === '-' ? 0 : openSync(input, 'r');
  const to = openSync(output, 'w');
  const opts = { ...keyOpts, ...spread, ...(sha ? { sha256: { plaintext: true } } : {}) };
  const r = mode === 'encrypt' ? await encryptBulk(from, to, opts) : await decryptBulk(from, to, opts);
  closeSync(to);
  if (sha) process.stderr.write(`sha256 ${r.plaintext.sha256}\n`);
}
