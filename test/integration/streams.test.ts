import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgeError } from '../../src/errors/errors.js';
import { decryptStream, encryptStream } from '../../src/age/bulk.js';
import { CHUNK, decrypt, encrypt, FULL, X25519Identity } from '../../src/age/index.js';
import { ROOT, haveBinary, tempDir } from '../helpers/cli.js';

const MIB = 1 << 20;
const GIB = 1 << 30;
const { identity, encoded } = X25519Identity.generate();
const recipients = [identity.recipient];
const identities = [identity];

let dir: string;
let cleanup: () => void;
let idFile: string;
beforeAll(() => {
  ({ dir, cleanup } = tempDir('vt-streams-'));
  idFile = join(dir, 'id.txt');
  writeFileSync(idFile, encoded + '\n', { mode: 0o600 });
});
afterAll(() => cleanup());

/** `size` bytes of distinct pseudo-random blocks, produced on demand (never all in memory); counts what was read. */
function source(size: number, block = MIB): Readable & { produced: () => number } {
  const seed = randomBytes(block);
  let off = 0;
  const r = new Readable({
    highWaterMark: block,
    read() {
      if (off >= size) return void this.push(null);
      const n = Math.min(block, size - off);
      const b = Buffer.allocUnsafe(n);
      seed.copy(b, 0, 0, n);
      if (n >= 8) b.writeDoubleLE(off, 0);
      off += n;
      this.push(b);
    },
  });
  return Object.assign(r, { produced: () => off });
}

/** Hashes and counts what passes through. */
function tap(): PassThrough & { digest: () => string; bytes: () => number } {
  const h = createHash('sha256');
  let n = 0;
  const t = new PassThrough({
    transform(c: Buffer, _e, cb) {
      h.update(c);
      n += c.length;
      cb(null, c);
    },
  });
  return Object.assign(t, { digest: () => h.digest('hex'), bytes: () => n });
}

function sink(): Writable & { digest: () => string; bytes: () => number } {
  const h = createHash('sha256');
  let n = 0;
  const w = new Writable({
    write(c: Buffer, _e, cb) {
      h.update(c);
      n += c.length;
      cb();
    },
  });
  return Object.assign(w, { digest: () => h.digest('hex'), bytes: () => n });
}

/** Runs `age args`, streaming `input` (a chain of streams) into it and its output into `output`. */
async function throughAge(args: string[], input: (Readable | NodeJS.ReadWriteStream)[], output: Writable): Promise<void> {
  const p = spawn('age', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((res) => p.on('close', res));
  await Promise.all([(pipeline as (...s: unknown[]) => Promise<void>)(...input, p.stdin), pipeline(p.stdout, output)]);
  const code = await exited;
  if (code !== 0) throw new Error(`age ${args.join(' ')} exited ${code}: ${err}`);
}

const hasAge = haveBinary('age');
const SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 5 * MIB + 3, 9 * MIB];

describe.skipIf(!hasAge)('streams and the Debian age binary, both ways, through pipes', () => {
  for (const size of SIZES) {
    it(`${size} bytes`, async () => {
      // vault-tool encrypts, age decrypts.
      const plain = tap();
      const out = sink();
      await throughAge(['-d', '-i', idFile], [source(size, 100_003), plain, encryptStream({ recipients })], out);
      expect(out.bytes()).toBe(size);
      expect(out.digest()).toBe(plain.digest());
      // age encrypts, vault-tool decrypts.
      const plain2 = tap();
      const cipher = new PassThrough();
      const back = sink();
      await Promise.all([
        throughAge(['-r', identity.recipient], [source(size, 77_777), plain2], cipher),
        pipeline(cipher, decryptStream({ identities }), back),
      ]);
      expect(back.bytes()).toBe(size);
      expect(back.digest()).toBe(plain2.digest());
    });
  }

  it('1 GiB each way, streamed (never in memory)', { timeout: 600_000 }, async () => {
    const plain = tap();
    const out = sink();
    await throughAge(['-d', '-i', idFile], [source(GIB), plain, encryptStream({ recipients })], out);
    expect(out.bytes()).toBe(GIB);
    expect(out.digest()).toBe(plain.digest());
    const plain2 = tap();
    const cipher = new PassThrough();
    const back = sink();
    await Promise.all([throughAge(['-r', identity.recipient], [source(GIB), plain2], cipher), pipeline(cipher, decryptStream({ identities }), back)]);
    expect(back.bytes()).toBe(GIB);
    expect(back.digest()).toBe(plain2.digest());
  });
});

describe('integrity through the worker path', () => {
  const plaintext = randomBytes(9 * MIB + 12345);
  const file = encrypt(plaintext, { recipients });
  const payloadStart = file.length - (Math.ceil(plaintext.length / CHUNK) * 16 + plaintext.length);

  async function open(bytes: Buffer): Promise<{ out: Buffer; error?: unknown }> {
    const out: Buffer[] = [];
    try {
      await pipeline(
        Readable.from(
          (function* () {
            for (let i = 0; i < bytes.length; i += 300_001) yield bytes.subarray(i, i + 300_001);
          })(),
        ),
        decryptStream({ identities, workers: 2 }),
        new Writable({
          write(c, _e, cb) {
            out.push(c);
            cb();
          },
        }),
      );
      return { out: Buffer.concat(out) };
    } catch (error) {
      return { out: Buffer.concat(out), error };
    }
  }

  const payloadFailure = (r: { out: Buffer; error?: unknown }, message: RegExp) => {
    expect(r.error).toBeInstanceOf(AgeError);
    expect((r.error as AgeError).failure).toBe('payload');
    expect((r.error as AgeError).kind).toBe('integrity');
    expect((r.error as Error).message).toMatch(message);
    // Never wrong plaintext: what came out is a prefix of the real one.
    expect(plaintext.subarray(0, r.out.length).equals(r.out)).toBe(true);
  };

  it('opens the whole file, and matches the whole-buffer decryption', async () => {
    const r = await open(file);
    expect(r.error).toBeUndefined();
    expect(r.out.equals(plaintext)).toBe(true);
    expect(decrypt(file, { identities }).plaintext.equals(plaintext)).toBe(true);
  });

  it('a modified byte deep in the file: integrity error, only verified chunks released', async () => {
    const bad = Buffer.from(file);
    bad[payloadStart + 100 * FULL + 5]! ^= 0x40;
    const r = await open(bad);
    payloadFailure(r, /payload chunk 100 failed authentication/);
    expect(r.out.length).toBe(100 * CHUNK);
  });

  it('two chunks swapped: integrity error', async () => {
    const bad = Buffer.from(file);
    const a = payloadStart + 40 * FULL;
    const b = payloadStart + 41 * FULL;
    bad.set(file.subarray(b, b + FULL), a);
    bad.set(file.subarray(a, a + FULL), b);
    payloadFailure(await open(bad), /payload chunk 40 failed authentication/);
  });

  it('truncated at a chunk boundary, mid-chunk, or extended: integrity error', async () => {
    payloadFailure(await open(file.subarray(0, payloadStart + 80 * FULL)), /truncated payload: no final chunk/);
    payloadFailure(await open(file.subarray(0, payloadStart + 80 * FULL + 999)), /payload chunk 80 failed authentication/);
    payloadFailure(await open(Buffer.concat([file, Buffer.from('x')])), /trailing data after the final chunk|failed authentication/);
    payloadFailure(
      await open(Buffer.concat([file, file.subarray(payloadStart, payloadStart + FULL)])),
      /trailing data after the final chunk|failed authentication/,
    );
  });
});

describe('worker threads', () => {
  const threads = () => Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);

  it('start only past a few MiB, and are gone when the stream ends', async () => {
    const before = threads();
    let most = before;
    const watch = () =>
      new Writable({
        write(_c, _e, cb) {
          most = Math.max(most, threads());
          cb();
        },
      });
    await pipeline(source(3 * MIB), encryptStream({ recipients, workers: 2 }), watch());
    expect(most).toBe(before);
    await pipeline(source(32 * MIB), encryptStream({ recipients, workers: 2 }), watch());
    expect(most).toBeGreaterThanOrEqual(before + 2);
    // Terminated when the stream is done (the threads exit shortly after).
    for (let i = 0; i < 100 && threads() > before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(threads()).toBe(before);
  });
});

describe('backpressure', () => {
  it('1 GiB through encrypt and decrypt into a slow writer: the source is never far ahead, memory stays bounded', { timeout: 600_000 }, async () => {
    const src = source(GIB);
    let consumed = 0;
    let maxLead = 0;
    let maxRss = 0;
    let maxArrayBuffers = 0;
    const gcBefore = process.memoryUsage();
    let writes = 0;
    const slow = new Writable({
      highWaterMark: MIB,
      write(c: Buffer, _e, cb) {
        consumed += c.length;
        maxLead = Math.max(maxLead, src.produced() - consumed);
        // Slow: a pause every few writes, the way a congested disk or network answers.
        if (++writes % 8 === 0) {
          const m = process.memoryUsage();
          maxRss = Math.max(maxRss, m.rss);
          maxArrayBuffers = Math.max(maxArrayBuffers, m.arrayBuffers);
          setTimeout(cb, 2);
        } else setImmediate(cb);
      },
    });
    await pipeline(src, encryptStream({ recipients }), decryptStream({ identities }), slow);
    expect(consumed).toBe(GIB);
    // Bounded by the batches in flight in each stream and their buffers, not by the size of the input.
    expect(maxLead).toBeLessThan(40 * MIB);
    expect(maxArrayBuffers - gcBefore.arrayBuffers).toBeLessThan(256 * MIB);
    expect(maxRss - gcBefore.rss).toBeLessThan(320 * MIB);
  });
});

describe('errors and aborts', () => {
  const big = 64 * MIB;

  it('a source error ends the pipeline with its cause', async () => {
    const src = source(big);
    const failing = new PassThrough({
      transform(c: Buffer, _e, cb) {
        cb(src.produced() > 16 * MIB ? new Error('dump failed') : null, c);
      },
    });
    const t = Date.now();
    await expect(pipeline(src, failing, encryptStream({ recipients }), sink())).rejects.toThrow('dump failed');
    expect(Date.now() - t).toBeLessThan(20_000);
  });

  it('a sink error ends the pipeline with its cause', async () => {
    let n = 0;
    const failingSink = new Writable({
      write(_c, _e, cb) {
        n += _c.length;
        cb(n > 12 * MIB ? new Error('disk full') : null);
      },
    });
    await expect(pipeline(source(big), encryptStream({ recipients }), failingSink)).rejects.toThrow('disk full');
    const cipher = new PassThrough();
    await expect(
      Promise.all([pipeline(source(big), encryptStream({ recipients }), cipher), pipeline(cipher, decryptStream({ identities }), failingSink)]),
    ).rejects.toThrow();
  });

  it('destroying the stream mid-way ends the pipeline with the given cause', async () => {
    const enc = encryptStream({ recipients });
    const out = sink();
    let fired = false;
    const watch = new PassThrough({
      transform(c: Buffer, _e, cb) {
        if (!fired && out.bytes() > 10 * MIB) {
          fired = true;
          enc.destroy(new Error('operator cancelled'));
        }
        cb(null, c);
      },
    });
    await expect(pipeline(source(big), enc, watch, out)).rejects.toThrow('operator cancelled');
    expect(fired).toBe(true);
  });

  /** Runs a scenario against the built bundle (dist) in a child process that must exit by itself. */
  function child(scenario: string): Promise<{ code: number | null; out: string; ms: number }> {
    const script = join(dir, 'child.mjs');
    writeFileSync(
      script,
      `import { Readable, Writable, PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { encryptStream, decryptStream, X25519Identity } from ${JSON.stringify(join(ROOT, 'dist/lib/age.js'))};
const { identity } = X25519Identity.generate();
const block = Buffer.alloc(1 << 20, 7);
let produced = 0;
const src = () => new Readable({ read() { produced += block.length; this.push(produced > (256 << 20) ? null : Buffer.from(block)); } });
const drop = () => new Writable({ write(c, e, cb) { cb(); } });
const scenario = process.argv[2];
try {
  if (scenario === 'complete') {
    const c = new PassThrough();
    await Promise.all([pipeline(src(), encryptStream({ recipients: [identity.recipient], workers: 2 }), c), pipeline(c, decryptStream({ identities: [identity], workers: 2 }), drop())]);
    console.log('completed');
  } else if (scenario === 'destroy') {
    const enc = encryptStream({ recipients: [identity.recipient], workers: 2 });
    let seen = 0;
    await pipeline(src(), enc, new Writable({ write(c, e, cb) { seen += c.length; if (seen > (24 << 20)) enc.destroy(new Error('stopped midway')); cb(); } }));
  } else if (scenario === 'sink') {
    let seen = 0;
    await pipeline(src(), encryptStream({ recipients: [identity.recipient], workers: 2 }), new Writable({ write(c, e, cb) { seen += c.length; cb(seen > (24 << 20) ? new Error('sink broke') : null); } }));
  } else if (scenario === 'source') {
    const s = src();
    const enc = encryptStream({ recipients: [identity.recipient], workers: 2 });
    setTimeout(() => s.destroy(new Error('source broke')), 50);
    await pipeline(s, enc, new Writable({ write(c, e, cb) { setTimeout(cb, 1); } }));
  }
} catch (e) {
  console.log('error: ' + e.message);
}
`,
    );
    const t = Date.now();
    const p = spawn(process.execPath, [script, scenario], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    return new Promise((res) => {
      const kill = setTimeout(() => p.kill('SIGKILL'), 30_000);
      p.on('close', (code) => {
        clearTimeout(kill);
        res({ code, out: out.trim(), ms: Date.now() - t });
      });
    });
  }

  it('from the bundle, with workers: a completed run, a destroy, a sink error and a source error each end with the cause, and the process exits by itself', async () => {
    expect(await child('complete')).toMatchObject({ code: 0, out: 'completed' });
    expect(await child('destroy')).toMatchObject({ code: 0, out: 'error: stopped midway' });
    expect(await child('sink')).toMatchObject({ code: 0, out: 'error: sink broke' });
    expect(await child('source')).toMatchObject({ code: 0, out: 'error: source broke' });
  });
});
