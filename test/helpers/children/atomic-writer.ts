// Writes PATH through createAtomicWriteStream from an endless source, and
// says "writing" once the first MiB is in the temp file; the test then
// kills it (SIGKILL) or stops it (SIGTERM, handled the way bin/vault-tool.js
// does: process.exit, which runs the cleanups).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createAtomicWriteStream } from '../../../src/fs/atomic-stream.js';

process.on('SIGTERM', () => process.exit(130));
const path = process.argv[2]!;
const block = Buffer.alloc(1 << 20, 0x5a);
let n = 0;
const source = new Readable({
  read() {
    if (++n === 3) process.stdout.write('writing\n');
    // Slow enough that the test's signal arrives mid-stream.
    setTimeout(() => this.push(block), 5);
  },
});
await pipeline(source, createAtomicWriteStream(path));
