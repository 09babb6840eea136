import { createHash, randomBytes, type Hash } from 'node:crypto';
import { AgeError } from '../errors/errors.js';
import { buildHeader, newFileKey, unwrapFileKey, type DecryptOptions, type EncryptOptions } from './file-key.js';
import { parseHeader } from './header.js';
import { sinkOf, sourceOf, type BulkInput, type BulkOutput, type Sink, type Source } from './io.js';
import { Pump, type Batch, type StreamOptions } from './pump.js';
import { NONCE_SIZE, openFailure, payloadKey } from './stream.js';

export interface BulkOptions extends StreamOptions {
  /**
   * Compute the SHA-256 of the plaintext, of the ciphertext (the whole age
   * file), or both, alongside; `header`: of the file's start up to its
   * payload, the header through its MAC line and the payload nonce
   * (`ciphertext.headerSha256`, docs/FORMAT.md).
   */
  sha256?: { plaintext?: boolean; ciphertext?: boolean; header?: boolean };
  /** Aborting stops the run with the signal's reason. */
  signal?: AbortSignal;
}

export interface EncryptBulkOptions extends BulkOptions {
  /**
   * A second output for the plaintext (a checker reading what is
   * encrypted): each batch is written to it from the same buffer it was
   * read into, beside the ciphertext's write, and the buffer is reused only
   * once both are done; it is ended with the output, and a failure of
   * either ends the run.
   */
  tee?: BulkOutput;
}

export interface BulkDigest {
  size: number;
  /** Hex, when asked for. */
  sha256?: string;
  /** The ciphertext's only: the SHA-256 (hex) of the header and payload nonce, when asked for. */
  headerSha256?: string;
}

export interface BulkResult {
  plaintext: BulkDigest;
  ciphertext: BulkDigest;
}

/** Counts and optionally hashes one side of a run. */
class Side {
  size = 0;
  private readonly hash: Hash | null;
  constructor(on: boolean | undefined) {
    this.hash = on ? createHash('sha256') : null;
  }
  add(b: Uint8Array): void {
    this.size += b.byteLength;
    this.hash?.update(b);
  }
  digest(): BulkDigest {
    return this.hash ? { size: this.size, sha256: this.hash.digest('hex') } : { size: this.size };
  }
}

/**
 * One run: the reader fills slots from the source and submits them, the
 * writer takes results in order and writes them to the sink, each waiting
 * on the pump when it must (no free slot; the next result not ready). The
 * first failure anywhere ends the run: the workers are stopped, stream ends
 * destroyed with the cause, and the output never finished (a descriptor's
 * caller discards what was written).
 */
async function run(
  pump: Pump,
  src: Source,
  sinks: Sink[],
  signal: AbortSignal | undefined,
  reader: (wait: () => Promise<void>) => Promise<void>,
  writer: (wait: () => Promise<void>) => Promise<void>,
): Promise<void> {
  let failure: Error | null = null;
  const waiters: (() => void)[] = [];
  pump.onChange = () => {
    for (const w of waiters.splice(0)) w();
  };
  /** Until the pump changes; throws once the run has failed. */
  const wait = async () => {
    if (!failure && !pump.failure) await new Promise<void>((r) => waiters.push(r));
    if (failure) throw failure;
    if (pump.failure) throw pump.failure;
  };
  let onAbort: () => void = () => undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (e: unknown) => {
        if (failure) return;
        failure = e instanceof Error ? e : new Error(String(e));
        pump.onChange();
        reject(failure);
      };
      onAbort = () => fail(signal?.reason ?? new Error('the operation was aborted'));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      reader(wait).catch(fail);
      writer(wait).then(resolve, fail);
    });
  } catch (e) {
    src.fail(e as Error);
    for (const sink of sinks) sink.fail(e as Error);
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    src.end?.();
    await pump.close();
  }
}

/** A free slot, waiting while every slot is busy. */
async function take(pump: Pump, wait: () => Promise<void>): Promise<Batch> {
  for (;;) {
    const b = pump.take();
    if (b) return b;
    await wait();
  }
}

/** The next result in order, waiting until it is ready. */
async function next(pump: Pump, wait: () => Promise<void>): Promise<Batch> {
  for (;;) {
    if (pump.failure) throw pump.failure;
    const b = pump.head();
    if (b) return b;
    await wait();
  }
}

/**
 * Encrypts everything `input` gives into `output` as one age file, with the
 * sealing done by worker threads in a fixed set of buffers (see Pump): the
 * fast path for files and pipes, given as open descriptors, which are read
 * and written straight into those buffers. Node streams work too (copied in
 * and out). Descriptors stay open: they are the caller's.
 */
export async function encryptBulk(input: BulkInput, output: BulkOutput, opts: Omit<EncryptOptions, 'armor'> & EncryptBulkOptions): Promise<BulkResult> {
  const fileKey = newFileKey();
  const nonce = randomBytes(NONCE_SIZE);
  // Before any byte is read: a bad recipient is the caller's mistake, not the input's.
  const head = Buffer.concat([buildHeader(fileKey, opts), nonce]);
  const src = await sourceOf(input);
  const sink = sinkOf(output);
  const tee = opts.tee === undefined ? null : sinkOf(opts.tee);
  const plain = new Side(opts.sha256?.plaintext);
  const cipher = new Side(opts.sha256?.ciphertext);
  const headerSha256 = opts.sha256?.header ? createHash('sha256').update(head).digest('hex') : undefined;
  const pump = new Pump(true, opts, src.size);
  pump.start(payloadKey(fileKey, nonce));
  const submit = (b: Batch, final: boolean) => {
    // Hashed before the batch goes to a worker (its memory goes with it); the worker seals the one before meanwhile.
    plain.add(b.input.subarray(0, b.len));
    pump.submit(b, final);
  };
  await run(
    pump,
    src,
    tee ? [sink, tee] : [sink],
    opts.signal,
    async (wait) => {
      // A full batch is held until more input shows its last chunk is not the final one.
      let held: Batch | null = null;
      for (;;) {
        const b = await take(pump, wait);
        const n = await src.fill(b.input, 0, pump.inCap);
        if (held && n > 0) {
          submit(held, false);
          held = null;
        }
        b.len = n;
        if (n === pump.inCap) {
          held = b;
          continue;
        }
        if (held) {
          pump.giveBack(b);
          submit(held, true);
        } else submit(b, true);
        return;
      }
    },
    async (wait) => {
      const w = sink.write(head);
      cipher.add(head);
      await w;
      for (;;) {
        const b = await next(pump, wait);
        const out = b.output.subarray(0, b.outLen);
        const written = sink.write(out);
        // The plaintext, still in the batch's input (sealing writes only its output), to the second output at the same time.
        const teed = tee && b.len ? tee.write(b.input.subarray(0, b.len)) : null;
        cipher.add(out);
        await (teed ? Promise.all([written, teed]) : written);
        const final = b.final;
        pump.done(b);
        if (final) break;
      }
      await (tee ? Promise.all([sink.end(), tee.end()]) : sink.end());
    },
  );
  return { plaintext: plain.digest(), ciphertext: headerSha256 ? { ...cipher.digest(), headerSha256 } : cipher.digest() };
}

export interface DecryptBulkOptions extends BulkOptions {
  /**
   * Called with the file's start up to its payload (the header through its
   * MAC line and the payload nonce), from the very bytes the run decrypts,
   * before the file key is unwrapped: a throw ends the run before any
   * output (a caller holding those bytes to a digest it trusts).
   */
  checkHead?: (head: Uint8Array) => void;
}

/**
 * Decrypts the age file `input` gives into `output`, the opening done by
 * worker threads; a chunk's plaintext reaches `output` only after its tag
 * verifies, and a truncated, reordered, modified or extended payload ends
 * the run with AgeError('payload') after the chunks that verified before
 * it. Header failures (no identity matches, a bad MAC) end it before any
 * output. Descriptors stay open: they are the caller's.
 */
export async function decryptBulk(input: BulkInput, output: BulkOutput, opts: DecryptOptions & DecryptBulkOptions): Promise<BulkResult> {
  const src = await sourceOf(input);
  const sink = sinkOf(output);
  const plain = new Side(opts.sha256?.plaintext);
  const cipher = new Side(opts.sha256?.ciphertext);
  const pump = new Pump(false, opts, src.size);
  await run(
    pump,
    src,
    [sink],
    opts.signal,
    async (wait) => {
      // The header, then the payload, in the first slot: the header is at most 1 MiB, a slot a little more.
      let b = (await take(pump, wait)) as Batch;
      let have = await src.fill(b.input, 0, pump.inCap);
      let end = have < pump.inCap;
      const h = parseHeader(b.input.subarray(0, have), end);
      if (!h) throw new AgeError('header', 'header too long');
      const start = h.length + NONCE_SIZE;
      if (have < start) throw new AgeError('header', 'missing payload nonce');
      opts.checkHead?.(b.input.subarray(0, start));
      pump.start(payloadKey(unwrapFileKey(h, opts), b.input.subarray(h.length, start)));
      cipher.add(b.input.subarray(0, start));
      b.input.copyWithin(0, start, have);
      have -= start;
      for (;;) {
        if (!end) {
          const n = await src.fill(b.input, have, pump.inCap - have);
          have += n;
          end = have < pump.inCap;
        }
        b.len = have;
        cipher.add(b.input.subarray(0, have));
        pump.submit(b, end);
        if (end) return;
        b = await take(pump, wait);
        have = 0;
      }
    },
    async (wait) => {
      let done = false;
      for (;;) {
        const b = await next(pump, wait);
        const r = b.opened!;
        const final = b.final;
        // Batches read past the final chunk: only an empty one (the end of the input) may follow it.
        if (done) {
          if (b.len) throw new AgeError('payload', 'trailing data after the final chunk');
        } else {
          if (r.len) {
            const out = b.output.subarray(0, r.len);
            const written = sink.write(out);
            plain.add(out);
            await written;
          }
          const failure = openFailure(r);
          if (failure) throw failure;
          done = r.last;
        }
        pump.done(b);
        if (final) break;
      }
      await sink.end();
    },
  );
  return { plaintext: plain.digest(), ciphertext: cipher.digest() };
}
