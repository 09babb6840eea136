import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PassThrough, Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgeError } from '../../src/errors/errors.js';
import { decryptBulk, encryptBulk } from '../../src/age/bulk-run.js';
import { CHUNK, decrypt, encrypt, FULL, X25519Identity } from '../../src/age/index.js';
import { WORKER_NICE } from '../../src/age/workers.js';
import { ROOT, haveBinary, tempDir } from '../helpers/cli.js';
import { skipUnless } from '../helpers/require.js';

const MIB = 1 << 20;
const BATCH = 16 * CHUNK;
const { identity, encoded } = X25519Identity.generate();
const recipients = [identity.recipient];
const identities = [identity];
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let dir: string;
let cleanup: () => void;
let idFile: string;
beforeAll(() => {
  ({ dir, cleanup } = tempDir('vt-bulk-'));
  idFile = join(dir, 'id.txt');
  writeFileSync(idFile, encoded + '\n', { mode: 0o600 });
});
afterAll(() => cleanup());

let n = 0;
const file = (data?: Uint8Array) => {
  const p = join(dir, `f${n++}`);
  writeFileSync(p, data ?? Buffer.alloc(0));
  return p;
};

/** Runs `fn` on descriptors opened on `input` (read) and a new file (write); returns the result and the file's bytes. */
async function byDescriptor<T>(input: string, fn: (from: number, to: number) => Promise<T>): Promise<{ result?: T; error?: unknown; out: Buffer }> {
  const out = file();
  const from = openSync(input, 'r');
  const to = openSync(out, 'w');
  try {
    return { result: await fn(from, to), out: readFileSync(out) };
  } catch (error) {
    return { error, out: readFileSync(out) };
  } finally {
    closeSync(from);
    closeSync(to);
  }
}

const threads = () => Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
async function threadsBack(before: number) {
  for (let i = 0; i < 100 && threads() > before; i++) await new Promise((r) => setTimeout(r, 20));
  return threads();
}

// Around every chunk and batch boundary, below and past the point where the workers start.
const SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, BATCH - 1, BATCH, BATCH + 1, 2 * BATCH, 5 * MIB + 3, 9 * MIB];

describe('encryptBulk / decryptBulk by descriptor', () => {
  for (const size of SIZES) {
    it(`${size} bytes round-trip, with both digests, and match the whole-buffer API`, async () => {
      const plain = randomBytes(size);
      const enc = await byDescriptor(file(plain), (from, to) => encryptBulk(from, to, { recipients, sha256: { plaintext: true, ciphertext: true } }));
      expect(enc.error).toBeUndefined();
      expect(enc.result).toEqual({ plaintext: { size, sha256: sha(plain) }, ciphertext: { size: enc.out.length, sha256: sha(enc.out) } });
      expect(decrypt(enc.out, { identities }).plaintext.equals(plain)).toBe(true);
      const stored = encrypt(plain, { recipients });
      const dec = await byDescriptor(file(stored), (from, to) => decryptBulk(from, to, { identities, sha256: { plaintext: true, ciphertext: true } }));
      expect(dec.error).toBeUndefined();
      expect(dec.out.equals(plain)).toBe(true);
      expect(dec.result!.plaintext).toEqual({ size, sha256: sha(plain) });
      // The stored file hashed whole, in order, its header first.
      expect(dec.result!.ciphertext).toEqual({ size: stored.length, sha256: sha(stored) });
    });
  }

  it("the header's digest: encryption gives the SHA-256 of the header through its MAC line and the payload nonce; decryption hands those very bytes to checkHead before the file key is unwrapped, and a throw there ends the run before any output", async () => {
    const plain = randomBytes(3 * MIB + 5);
    const enc = await byDescriptor(file(plain), (from, to) => encryptBulk(from, to, { recipients, sha256: { ciphertext: true, header: true } }));
    const end = enc.out.indexOf('\n', enc.out.indexOf('\n--- ') + 1) + 1 + 16;
    expect(enc.result!.ciphertext).toEqual({ size: enc.out.length, sha256: sha(enc.out), headerSha256: sha(enc.out.subarray(0, end)) });
    const seen: string[] = [];
    const dec = await byDescriptor(file(enc.out), (from, to) => decryptBulk(from, to, { identities, checkHead: (h) => void seen.push(sha(h)) }));
    expect(dec.error).toBeUndefined();
    expect(seen).toEqual([enc.result!.ciphertext.headerSha256]);
    expect(dec.out.equals(plain)).toBe(true);
    const refused = await byDescriptor(file(enc.out), (from, to) =>
      decryptBulk(from, to, {
        identities,
        checkHead: () => {
          throw new Error('not this header');
        },
      }),
    );
    expect((refused.error as Error).message).toBe('not this header');
    expect(refused.out.length).toBe(0);
  });

  it('workers: 0 and several workers give files that open the same', async () => {
    const plain = randomBytes(6 * MIB + 77);
    for (const workers of [0, 1, 3]) {
      const enc = await byDescriptor(file(plain), (from, to) => encryptBulk(from, to, { recipients, workers }));
      const dec = await byDescriptor(file(enc.out), (from, to) => decryptBulk(from, to, { identities, workers }));
      expect(dec.out.equals(plain), `workers ${workers}`).toBe(true);
    }
  });

  it('Node streams at either end', async () => {
    const plain = randomBytes(5 * MIB + 11);
    const parts: Buffer[] = [];
    const collect = new Writable({
      write(c, _e, cb) {
        parts.push(c);
        cb();
      },
    });
    const pieces = function* () {
      for (let i = 0; i < plain.length; i += 99_991) yield plain.subarray(i, i + 99_991);
    };
    const r = await encryptBulk(Readable.from(pieces()), collect, { recipients, sha256: { plaintext: true } });
    const ct = Buffer.concat(parts);
    expect(r.plaintext).toEqual({ size: plain.length, sha256: sha(plain) });
    expect(r.ciphertext.size).toBe(ct.length);
    const back: Buffer[] = [];
    await decryptBulk(
      Readable.from([ct]),
      new Writable({
        write(c, _e, cb) {
          back.push(c);
          cb();
        },
      }),
      { identities },
    );
    expect(Buffer.concat(back).equals(plain)).toBe(true);
  });
});

describe.skipIf(!haveBinary('age'))('the Debian age binary, both ways, through files and pipes', () => {
  /** Runs the bundle's encryptBulk/decryptBulk in a child whose stdin is a pipe from `cat` (the way a shell feeds it). */
  function childThroughPipe(mode: 'encrypt' | 'decrypt', input: string, output: string): void {
    const script = join(dir, 'pipe-child.mjs');
    writeFileSync(
      script,
      `import { closeSync, openSync } from 'node:fs';
import { decryptBulk, encryptBulk } from ${JSON.stringify(join(ROOT, 'dist/lib/age.js'))};
const [mode, key, out] = process.argv.slice(2);
const to = openSync(out, 'w');
if (mode === 'encrypt') await encryptBulk(0, to, { recipients: [key] });
else await decryptBulk(0, to, { identities: [key] });
closeSync(to);
`,
    );
    const key = mode === 'encrypt' ? identity.recipient : encoded;
    const r = spawnSync('bash', ['-c', `cat "$1" | "$2" "$3" "$4" "$5" "$6"`, 'sh', input, process.execPath, script, mode, key, output], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  }

  for (const size of [0, CHUNK, BATCH + 1, 5 * MIB + 3]) {
    it(`${size} bytes`, async () => {
      const plain = randomBytes(size);
      const p = file(plain);
      // vault-tool encrypts (a file, then a pipe), age decrypts.
      const enc = await byDescriptor(p, (from, to) => encryptBulk(from, to, { recipients }));
      expect(spawnSync('age', ['-d', '-i', idFile], { input: enc.out, maxBuffer: 64 * MIB }).stdout.equals(plain)).toBe(true);
      const piped = file();
      childThroughPipe('encrypt', p, piped);
      expect(spawnSync('age', ['-d', '-i', idFile, piped], { maxBuffer: 64 * MIB }).stdout.equals(plain)).toBe(true);
      // age encrypts, vault-tool decrypts (a file, then a pipe).
      const aged = file();
      expect(spawnSync('age', ['-r', identity.recipient, '-o', aged, p]).status).toBe(0);
      expect((await byDescriptor(aged, (from, to) => decryptBulk(from, to, { identities }))).out.equals(plain)).toBe(true);
      const back = file();
      childThroughPipe('decrypt', aged, back);
      expect(readFileSync(back).equals(plain)).toBe(true);
    });
  }
});

describe("anonymous pipes (a shell's |), read by the event loop on a descriptor of the run's own", () => {
  /**
   * Runs `writer` (a node script writing `total` bytes to its stdout in small pieces, with pauses) into a child
   * running encryptBulk on its stdin (fd 0, a pipe), and returns the plaintext and the child's output file; `touch`
   * makes the child open process.stdin first, which makes fd 0's open file description non-blocking (as Node does).
   */
  function throughTrickle(total: number, touch: boolean): { plain: Buffer; out: Buffer } {
    const writer = join(dir, 'trickle.mjs');
    writeFileSync(
      writer,
      `import { writeSync } from 'node:fs';
const total = Number(process.argv[2]);
const data = Buffer.alloc(total);
for (let i = 0; i < total; i++) data[i] = (i * 7 + (i >> 8)) & 255;
const nap = new Int32Array(new SharedArrayBuffer(4));
// Pieces of 1 to 5 bytes, with a pause now and then, so that the reader finds the pipe empty (EAGAIN) and nearly empty.
for (let at = 0, k = 0; at < total; k++) {
  const n = Math.min(total - at, 1 + (k % 5));
  at += writeSync(1, data, at, n);
  if (k % 97 === 0) Atomics.wait(nap, 0, 0, 1);
}
`,
    );
    const child = join(dir, 'pipe-reader.mjs');
    writeFileSync(
      child,
      `import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { encryptBulk } from ${JSON.stringify(join(ROOT, 'dist/lib/age.js'))};
const [key, out, touch] = process.argv.slice(2);
// Opened, not read from: libuv makes the pipe non-blocking for every descriptor that shares it, fd 0 included.
if (touch === 'touch') process.stdin;
const flags = Number.parseInt(/flags:\\s+(\\d+)/.exec(readFileSync('/proc/self/fdinfo/0', 'utf8'))[1], 8);
const to = openSync(out, 'w');
const r = await encryptBulk(0, to, { recipients: [key], sha256: { plaintext: true } });
closeSync(to);
writeSync(1, JSON.stringify({ nonBlocking: (flags & 0o4000) !== 0, ...r.plaintext }));
process.exit(0);
`,
    );
    const out = file();
    const r = spawnSync(
      'bash',
      [
        '-o',
        'pipefail',
        '-c',
        `"$1" "$2" "$3" | "$1" "$4" "$5" "$6" "$7"`,
        'sh',
        process.execPath,
        writer,
        String(total),
        child,
        identity.recipient,
        out,
        touch ? 'touch' : '',
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    if (r.status !== 0) throw new Error(r.stderr);
    const plain = Buffer.alloc(total);
    for (let i = 0; i < total; i++) plain[i] = (i * 7 + (i >> 8)) & 255;
    const res = JSON.parse(r.stdout) as { nonBlocking: boolean; size: number; sha256: string };
    expect(res).toEqual({ nonBlocking: touch, size: total, sha256: sha(plain) });
    return { plain, out: readFileSync(out) };
  }

  it('a writer of a few bytes at a time, pausing: every byte, in order, past a batch boundary', () => {
    const { plain, out } = throughTrickle(BATCH + 3 * CHUNK + 5, false);
    expect(decrypt(out, { identities }).plaintext.equals(plain)).toBe(true);
  });

  it('a pipe that a Node stream of the process has made non-blocking (stdin touched first) is read to its end', () => {
    const { plain, out } = throughTrickle(2 * CHUNK + 9, true);
    expect(decrypt(out, { identities }).plaintext.equals(plain)).toBe(true);
  });
});

describe('named pipes', () => {
  it('a pipe whose writer has already gone is read to its end (never waits for a new writer)', async () => {
    const fifo = join(dir, 'gone.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const plain = randomBytes(40_000);
    const r = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const w = openSync(fifo, 'w');
    writeSync(w, plain);
    closeSync(w);
    const out = file();
    const to = openSync(out, 'w');
    try {
      const res = await encryptBulk(r, to, { recipients, sha256: { plaintext: true } });
      expect(res.plaintext).toEqual({ size: plain.length, sha256: sha(plain) });
    } finally {
      closeSync(r);
      closeSync(to);
    }
    expect(decrypt(readFileSync(out), { identities }).plaintext.equals(plain)).toBe(true);
  });
});

describe('integrity by descriptor', () => {
  const plaintext = randomBytes(9 * MIB + 12345);
  const whole = encrypt(plaintext, { recipients });
  const payloadStart = whole.length - (Math.ceil(plaintext.length / CHUNK) * 16 + plaintext.length);

  async function open(bytes: Buffer, workers?: number) {
    return byDescriptor(file(bytes), (from, to) => decryptBulk(from, to, { identities, ...(workers === undefined ? {} : { workers }) }));
  }

  const payloadFailure = (r: { out: Buffer; error?: unknown }, message: RegExp) => {
    expect(r.error).toBeInstanceOf(AgeError);
    expect((r.error as AgeError).failure).toBe('payload');
    expect((r.error as AgeError).kind).toBe('integrity');
    expect((r.error as Error).message).toMatch(message);
    // Never wrong plaintext: what was written is a prefix of the real one.
    expect(plaintext.subarray(0, r.out.length).equals(r.out)).toBe(true);
  };

  for (const workers of [undefined, 0]) {
    it(`a modified byte deep in the file: only the chunks before it are written (workers: ${workers ?? 'default'})`, async () => {
      const bad = Buffer.from(whole);
      bad[payloadStart + 100 * FULL + 5]! ^= 0x40;
      const r = await open(bad, workers);
      payloadFailure(r, /payload chunk 100 failed authentication/);
      expect(r.out.length).toBe(100 * CHUNK);
    });
  }

  it('swapped chunks, truncation at a chunk boundary and mid-chunk, trailing data', async () => {
    const swapped = Buffer.from(whole);
    const a = payloadStart + 40 * FULL;
    swapped.set(whole.subarray(a + FULL, a + 2 * FULL), a);
    swapped.set(whole.subarray(a, a + FULL), a + FULL);
    payloadFailure(await open(swapped), /payload chunk 40 failed authentication/);
    payloadFailure(await open(whole.subarray(0, payloadStart + 80 * FULL)), /truncated payload: no final chunk/);
    payloadFailure(await open(whole.subarray(0, payloadStart + 80 * FULL + 999)), /payload chunk 80 failed authentication/);
    payloadFailure(await open(Buffer.concat([whole, Buffer.from('x')])), /trailing data after the final chunk|failed authentication/);
    // A final chunk of exactly 64 KiB, then more: trailing data, whichever batch it falls in.
    const even = randomBytes(4 * BATCH);
    const evenFile = encrypt(even, { recipients });
    for (const extra of [1, FULL, BATCH]) {
      const r = await open(Buffer.concat([evenFile, randomBytes(extra)]));
      expect((r.error as Error).message, `extra ${extra}`).toMatch(/trailing data after the final chunk/);
      expect(even.subarray(0, r.out.length).equals(r.out)).toBe(true);
    }
  });

  it('header failures write nothing', async () => {
    const other = X25519Identity.generate().identity;
    const r = await byDescriptor(file(whole), (from, to) => decryptBulk(from, to, { identities: [other] }));
    expect((r.error as AgeError).failure).toBe('no-match');
    expect(r.out.length).toBe(0);
    const mac = Buffer.from(whole);
    mac[whole.indexOf('\n---') + 10]! ^= 1;
    const m = await open(mac);
    expect((m.error as AgeError).failure).toMatch(/hmac|header/);
    expect(m.out.length).toBe(0);
    for (const bad of [Buffer.alloc(0), Buffer.from('not an age file\n'), whole.subarray(0, payloadStart - 3), whole.subarray(0, payloadStart)]) {
      const e = await open(bad);
      expect(e.error).toBeInstanceOf(AgeError);
      expect(e.out.length).toBe(0);
    }
  });
});

describe("the workers' priority", () => {
  /** Each thread's nice value (field 19 of /proc/self/task/<tid>/stat). */
  const nices = () =>
    readdirSync('/proc/self/task').map((t) => {
      const s = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      return { tid: Number(t), nice: Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16]) };
    });

  it('the workers run below the calling thread, which keeps its own priority', async (ctx) => {
    skipUnless(ctx, process.platform === 'linux', 'thread priorities are read from /proc (Linux)');
    const own = nices().find((t) => t.tid === process.pid)!.nice;
    skipUnless(ctx, own + WORKER_NICE <= 19, `this process already runs at nice ${own}: its workers cannot run lower`);
    let produced = 0;
    const src = new Readable({
      read() {
        produced += MIB;
        this.push(produced > 16 * MIB ? null : Buffer.alloc(MIB, 3));
      },
    });
    let written = 0;
    let during: { tid: number; nice: number }[] = [];
    const sink = new Writable({
      write(c, _e, cb) {
        written += c.length;
        // Past the point where the workers start, and past their first batches.
        if (written > 10 * MIB && !during.length) during = nices();
        cb();
      },
    });
    await encryptBulk(src, sink, { recipients, workers: 2 });
    // The two workers, and no other thread.
    expect(during.filter((t) => t.nice === own + WORKER_NICE).length).toBe(2);
    expect(during.filter((t) => t.nice !== own && t.nice !== own + WORKER_NICE)).toEqual([]);
    expect(during.find((t) => t.tid === process.pid)!.nice).toBe(own);
    expect(nices().find((t) => t.tid === process.pid)!.nice).toBe(own);
  });
});

describe('errors, aborts and what is left behind', () => {
  it('a read error, a write error and an abort each end the run with their cause, and no worker is left', async () => {
    const before = threads();
    const big = file(randomBytes(24 * MIB));
    // A folder cannot be read.
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    const fd = openSync(folder, 'r');
    try {
      await expect(encryptBulk(fd, openSync('/dev/null', 'w'), { recipients })).rejects.toMatchObject({ code: 'EISDIR' });
    } finally {
      closeSync(fd);
    }
    // A descriptor open for reading cannot be written.
    const ro = openSync(file(), 'r');
    const from = openSync(big, 'r');
    try {
      await expect(encryptBulk(from, ro, { recipients })).rejects.toMatchObject({ code: 'EBADF' });
    } finally {
      closeSync(ro);
      closeSync(from);
    }
    // Aborted midway, with the reason given.
    const ac = new AbortController();
    let seen = 0;
    const slow = new Writable({
      write(c, _e, cb) {
        seen += c.length;
        if (seen > 8 * MIB) ac.abort(new Error('operator cancelled'));
        setImmediate(cb);
      },
    });
    const from2 = openSync(big, 'r');
    try {
      await expect(encryptBulk(from2, slow, { recipients, signal: ac.signal })).rejects.toThrow('operator cancelled');
      expect(slow.destroyed).toBe(true);
    } finally {
      closeSync(from2);
    }
    // No thread of this run is left (one a test before it was still ending may have gone meanwhile).
    expect(await threadsBack(before)).toBeLessThanOrEqual(before);
  });

  it('a stream source that fails, and a sink that fails, end the run with the cause; the output stream is never ended', async () => {
    let produced = 0;
    const src = new Readable({
      read() {
        produced += MIB;
        if (produced > 12 * MIB) this.destroy(new Error('dump failed'));
        else this.push(Buffer.alloc(MIB, 1));
      },
    });
    const sink = new PassThrough();
    sink.resume();
    let finished = false;
    sink.on('finish', () => (finished = true));
    await expect(encryptBulk(src, sink, { recipients })).rejects.toThrow('dump failed');
    expect(finished).toBe(false);
    let written = 0;
    const failing = new Writable({
      write(c, _e, cb) {
        written += c.length;
        cb(written > 6 * MIB ? new Error('disk full') : null);
      },
    });
    const from = openSync(file(randomBytes(16 * MIB)), 'r');
    try {
      await expect(encryptBulk(from, failing, { recipients })).rejects.toThrow('disk full');
    } finally {
      closeSync(from);
    }
  });

  it('bad recipients and options fail before anything is read or written', async () => {
    const p = file(Buffer.from('secret'));
    const out = file();
    const from = openSync(p, 'r');
    const to = openSync(out, 'w');
    try {
      await expect(encryptBulk(from, to, { recipients: [] })).rejects.toThrow(/no recipients/);
      await expect(encryptBulk(from, to, { recipients: ['age1nope'] })).rejects.toThrow();
    } finally {
      closeSync(from);
      closeSync(to);
    }
    expect(statSync(out).size).toBe(0);
  });
});

describe('memory', () => {
  it('the cipher buffers are released as each chunk is done, not left to the garbage collector', async () => {
    // 128 MiB sealed, then opened, on this thread: without the release V8 keeps up to ~64 MiB of dead chunks before it collects.
    const plain = join(dir, 'sparse');
    writeFileSync(plain, '');
    truncateSync(plain, 128 * MIB);
    const sealed = file();
    // Measured from what is live: dead buffers of the tests before, collected during the run, made every sample negative.
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers - before)), 1);
    try {
      for (const [mode, input, output] of [
        ['encrypt', plain, sealed],
        ['decrypt', sealed, '/dev/null'],
      ] as const) {
        const from = openSync(input, 'r');
        const to = openSync(output, 'w');
        try {
          if (mode === 'encrypt') await encryptBulk(from, to, { recipients, workers: 0 });
          else expect((await decryptBulk(from, to, { identities, workers: 0 })).plaintext.size).toBe(128 * MIB);
        } finally {
          closeSync(from);
          closeSync(to);
        }
      }
    } finally {
      clearInterval(sample);
    }
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(16 * MIB);
  });

  /** Peak RSS (VmHWM) of a child encrypting then decrypting `mib` MiB through pipes by descriptor. */
  function peakRss(mib: number, workers?: number): number {
    const script = join(dir, 'rss-child.mjs');
    writeFileSync(
      script,
      `import { readFileSync } from 'node:fs';
import { decryptBulk, encryptBulk } from ${JSON.stringify(join(ROOT, 'dist/lib/age.js'))};
const [mode, key, w] = process.argv.slice(2);
const opts = w === undefined ? {} : { workers: Number(w) };
if (mode === 'encrypt') await encryptBulk(0, 1, { recipients: [key], ...opts });
else await decryptBulk(0, 1, { identities: [key], ...opts });
process.stderr.write(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1] + '\\n');
`,
    );
    const w = workers === undefined ? [] : [String(workers)];
    const node = process.execPath;
    const r = spawnSync(
      'bash',
      [
        '-o',
        'pipefail',
        '-c',
        `head -c ${mib}M /dev/zero | "$1" "$2" encrypt "$3" $5 | "$1" "$2" decrypt "$4" $5 | wc -c`,
        'sh',
        node,
        script,
        identity.recipient,
        encoded,
        ...w,
      ],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(r.stderr);
    expect(Number(r.stdout.trim())).toBe(mib * MIB);
    return Math.max(...r.stderr.trim().split('\n').map(Number)) / 1024;
  }

  it('stays within 128 MiB with the default workers and 96 MiB without, whatever the size', { timeout: 300_000 }, () => {
    expect(peakRss(512)).toBeLessThan(128);
    expect(peakRss(512, 0)).toBeLessThan(96);
  });

  it('a pipe is read only as fast as the output is written', async () => {
    // A slow writer downstream: the run keeps only its slots of input, however much the source could give.
    let produced = 0;
    const src = new Readable({
      highWaterMark: MIB,
      read() {
        produced += MIB;
        this.push(produced > 256 * MIB ? null : Buffer.alloc(MIB, 1));
      },
    });
    let consumed = 0;
    let maxLead = 0;
    let writes = 0;
    const slow = new Writable({
      highWaterMark: MIB,
      write(c, _e, cb) {
        consumed += c.length;
        maxLead = Math.max(maxLead, produced - consumed);
        if (++writes % 4 === 0) setTimeout(cb, 2);
        else setImmediate(cb);
      },
    });
    await encryptBulk(src, slow, { recipients });
    expect(maxLead).toBeLessThan(24 * MIB);
  });
});

describe('no handle left open', () => {
  it('a completed run and a failed one let the process exit by itself', async () => {
    const script = join(dir, 'exit-child.mjs');
    const p = file(randomBytes(12 * MIB));
    writeFileSync(
      script,
      `import { openSync } from 'node:fs';
import { decryptBulk, encryptBulk, X25519Identity } from ${JSON.stringify(join(ROOT, 'dist/lib/age.js'))};
const { identity } = X25519Identity.generate();
await encryptBulk(openSync(process.argv[2], 'r'), openSync('/dev/null', 'w'), { recipients: [identity.recipient], workers: 2 });
await decryptBulk(openSync(process.argv[2], 'r'), openSync('/dev/null', 'w'), { identities: [identity], workers: 2 }).catch((e) => console.log('error: ' + e.failure));
console.log('done');
`,
    );
    const child = spawn(process.execPath, [script, p], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise((res) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (c) => {
        clearTimeout(kill);
        res(c);
      });
    });
    expect({ code, out: out.trim() }).toEqual({ code: 0, out: 'error: header\ndone' });
  });
});
