import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants, createWriteStream, openSync } from 'node:fs';
import { type Readable, Transform, type Writable } from 'node:stream';
import { VaultError } from '../errors/errors.js';
import { decryptBulk, encryptBulk, type BulkDigest, type BulkResult } from '../age/bulk-run.js';
import { fdSource, fileSink, streamSink, streamSource, type Sink, type Source } from '../age/io.js';
import { parseRecipient, type X25519Identity } from '../age/x25519.js';
import type { PendingFile } from '../fs/pending.js';
import { externalTimeoutMs, timeoutText, Watchdog } from '../tool/bound.js';
import { makeFifo } from '../tool/fifo.js';
import { type Running, startTool, toolMessage } from '../tool/run.js';
import type { Early } from './early.js';

/**
 * The one pipeline every component shares. Backing up: the dump tool's
 * stdout → SHA-256 and size of the plaintext → age encryption to the backup
 * recipient → SHA-256 and size of the ciphertext → a file written under a
 * temp name. Every stage counts: a tool that exits non-zero or is killed, an
 * output under the component's minimum or failing its format check, a write
 * error — and the temp file is removed. No plaintext touches disk.
 */
export type Producer =
  | {
      kind: 'process';
      command: string;
      args: string[];
      env: Record<string, string | undefined>;
      /**
       * The process started already (`startEarly`), while the rest of the
       * run was made ready: its output waits in the pipe, paused, until the
       * run takes it.
       */
      early?: Early;
    }
  /**
   * `open` is given the signal of the backup giving up (a stall, a failed
   * stage): what it started should stop then; and `progress`, to call on
   * progress of its own (a source fills a whole buffer before it returns).
   * It gives a stream, or a source that copies its output straight into the
   * run's buffers (`age/io.ts`: ended by the run, and on failure failed).
   */
  | { kind: 'stream'; name: string; open: (signal: AbortSignal, progress: () => void) => Promise<Readable | Source> };

/** A consumer of decrypted data: a process reading stdin (pg_restore, redis-check-rdb, tar), or code. */
export type Consumer =
  | {
      kind: 'process';
      command: string;
      args: string[];
      env: Record<string, string | undefined>;
      label: string;
      fifo?: boolean;
      /** The checker started already, beside an early producer (`startEarly`): it waits for its input on stdin. */
      early?: Running;
    }
  | { kind: 'inline'; label: string; consume: (r: Readable) => Promise<void> }
  /**
   * Code handed the run's own buffers (no stream between): `start` gives a
   * sink whose writes are done with each buffer once they settle (anything
   * kept is copied), whose `end` says the data is whole, and `done` the
   * verdict, settled once the sink is ended, failed or killed.
   */
  | { kind: 'sink'; label: string; start: () => Started }
  | { kind: 'discard'; label: string };

/** A consumer under way: the plaintext is written into `sink`; `done` settles with its verdict. */
export interface Started {
  sink: Sink;
  done: Promise<void>;
  kill: () => void;
}

export interface Digest {
  size: number;
  sha256: string;
  /** A stored file's: the SHA-256 of its age header and payload nonce (a manifest's `ciphertext.headerSha256`). */
  headerSha256?: string;
}

/** A run's digest (both are always asked for; the header's where it was). */
const digestOf = (d: BulkDigest): Digest => ({ size: d.size, sha256: d.sha256!, ...(d.headerSha256 ? { headerSha256: d.headerSha256 } : {}) });

/** What a stage said about its failure: its ERROR/FATAL lines, else its last lines (bounded). */
const tail = (s: string) => toolMessage(s);

interface Spawned {
  child: ChildProcess;
  stderr: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A stage's process, run as every external program is (`tool/run.ts`), in vault-tool's own process group. */
function start(
  command: string,
  args: string[],
  env: Record<string, string | undefined>,
  stdin: 'ignore' | 'pipe',
  what: string,
  checker = stdin === 'pipe',
): Spawned {
  // A checker reading stdin reports on stdout too (redis-check-rdb does): keep what it says there with stderr.
  const run = startTool(command, args, { env, stdin, group: false, stdoutSays: checker, purpose: what });
  return { child: run.child, stderr: () => run.said(), done: run.exited };
}

export interface Produced {
  plaintext: Digest;
  ciphertext: Digest;
  location: string;
  stderr: string;
  /**
   * The stored file's bytes were hashed as they were written at their
   * offsets in a local file (checked whole and synced at the commit, under
   * its name the very inode written): reading it back through the same
   * kernel would read those bytes again. False: written through a stream
   * (an upload), to be read back.
   */
  positioned: boolean;
  /** The dump's first bytes (at most HEAD). */
  head: Buffer;
}

/** How much of the dump's start is kept for the kind to read (a custom-format dump's header: the database, both versions). */
export const HEAD = 1024;

/** A sink whose writes are watched: whether one is waiting, and a kick when one is done. */
interface Watched extends Sink {
  readonly waiting: boolean;
  /** Tolerant sinks only: it failed (its reader went away) and takes nothing more. */
  readonly lost: boolean;
}

/**
 * `inner` with its writes watched (`kick` when each is done). A tolerant
 * one (a checker's input) never fails the run: once a write fails (the
 * checker exited or closed its input), it is `lost` and takes nothing more,
 * and its end is best effort; the checker's own verdict then says why.
 */
function watch(inner: Sink, kick: () => void, tolerant = false, onFail?: (e: Error) => void): Watched {
  let waiting = false;
  let lost = false;
  return {
    get waiting() {
      return waiting;
    },
    get lost() {
      return lost;
    },
    async write(buf) {
      if (lost) return;
      waiting = true;
      try {
        await inner.write(buf);
      } catch (e) {
        if (!tolerant) throw e;
        lost = true;
      } finally {
        waiting = false;
        kick();
      }
    },
    async end() {
      if (lost) return;
      if (!tolerant) return inner.end();
      await inner.end().catch(() => undefined);
    },
    // The run failed: the caller hears of it first (the cause), then the sink's reader (who would otherwise report it as its own).
    fail: (e) => {
      onFail?.(e);
      inner.fail(e);
    },
  };
}

/** Takes what it is given and does nothing with it (a checker that could not start). */
const nowhere: Sink = { write: async () => undefined, end: async () => undefined, fail: () => undefined };

/**
 * Runs a producer through the pipeline into `file`; commits it only if
 * every stage succeeded and `check(head, size)` finds nothing wrong with the
 * plaintext; otherwise aborts it (the temp file is removed) and throws a
 * backup-failed error naming the stage, with the tool's stderr (bounded), or
 * the write's own error (a full disk, a failed upload).
 *
 * One bulk run does the work (`age/bulk-run.ts`): the dump is read into the
 * run's fixed slots, hashed, sealed by the workers, and each batch's
 * ciphertext is hashed and written to the file (by descriptor at its offset
 * for a local one) while its plaintext goes to the checker from the same
 * slot; a slot is reused once both writes are done, so a slow checker or
 * disk holds back the dump tool, and memory is fixed whatever the size.
 *
 * The first stage to fail tears down the others at once (the dump tool and
 * the checker are killed, the run aborted), so a failure never leaves the
 * pipeline waiting on a stage that will not move: the error reported is
 * the cause, not what the teardown did to the other stages.
 */
export async function produce(
  p: Producer,
  recipient: string,
  file: PendingFile,
  o: {
    check: (head: Buffer, size: number) => string | null;
    verifier?: Consumer;
    /** Bytes of the dump read so far. */
    onProgress?: (bytes: number) => void;
    timeoutMs?: number;
    /** The environment the bound (VAULT_TOOL_TIMEOUT) is read from, when the producer is not a process. */
    env?: Record<string, string | undefined>;
    /** Worker threads sealing the dump (default: one per core). */
    workers?: number;
    /**
     * Once every stage has passed and before the file is committed: what
     * else must hold for it to be kept (facts asked beside the dump); a
     * rejection aborts the file as any failed stage does.
     */
    settle?: (head: Buffer) => Promise<void>;
  },
): Promise<Produced> {
  const name = p.kind === 'process' ? p.command : p.name;
  let proc: Spawned | undefined;
  let checker: ReturnType<typeof startConsumer> | undefined;
  let tornDown = false;
  // Every stage is bounded: no byte through the pipeline (and no stage ending) within the bound stops it all.
  const ms = o.timeoutMs ?? externalTimeoutMs(p.kind === 'process' ? p.env : (o.env ?? (o.verifier?.kind === 'process' ? o.verifier.env : undefined)));
  let stalled: VaultError | undefined;
  let flowDone = false;
  let procDone = !(p.kind === 'process');
  let checkerDone = !o.verifier;
  // What each stage did, and whether it did it before anything was torn down (then it is a cause, not a consequence).
  let procExit: { code: number | null; signal: NodeJS.Signals | null; first: boolean } | undefined;
  let procError: unknown;
  let flowError: { e: unknown; first: boolean } | undefined;
  let checkError: { e: unknown; first: boolean } | undefined;
  let out: Watched | undefined;
  let tee: Watched | undefined;
  const stop = new AbortController();
  const dog = new Watchdog(ms, () => {
    const bound = timeoutText(ms);
    if (tee?.waiting || (flowDone && procDone && !checkerDone))
      stalled = new VaultError('backup-failed', `the check (${o.verifier!.label}) made no progress for ${bound}: it was stopped; nothing was kept`, {
        code: 'external-timeout',
        data: { timeout: bound },
      });
    else if (out?.waiting || flowDone)
      stalled = new VaultError(
        'io',
        `writing the backup made no progress for ${bound} (the disk or the remote stopped answering): it was stopped; nothing was kept`,
        {
          code: 'external-timeout',
          data: { timeout: bound },
        },
      );
    else
      stalled = new VaultError('backup-failed', `${name} made no progress for ${bound} (no output): it was stopped; nothing was kept`, {
        code: 'external-timeout',
        data: { timeout: bound },
      });
    teardown();
  });
  const kick = () => dog.kick();
  const teardown = () => {
    if (tornDown) return;
    tornDown = true;
    stop.abort(new Error('the backup stopped'));
    proc?.child.kill('SIGKILL');
    checker?.kill();
  };
  // The dump's first bytes (for the shape check, and what the kind reads from its header) and its size so far.
  let head = Buffer.alloc(0);
  let read = 0;
  const onData = (n: number, chunk: Buffer) => {
    read += n;
    if (head.length < HEAD) head = Buffer.concat([head, chunk.subarray(0, HEAD - head.length)]);
    kick();
    o.onProgress?.(read);
  };
  try {
    checker = o.verifier ? startConsumer(o.verifier) : undefined;
    // The run's failure is recorded (and everything torn down) before the checker, fed that failure, can take it for its own.
    const failed = (e: unknown) => {
      flowError ??= { e, first: !tornDown };
      teardown();
    };
    tee = o.verifier ? watch(checker ? checker.sink : nowhere, kick, true, failed) : undefined;
    const fd = file.fd;
    const fileOut = fd !== undefined ? fileSink(fd) : undefined;
    out = watch(fileOut ?? streamSink(file.stream), kick, false, failed);
    // A process's output is taken into the run in the tick it starts (nothing it writes is missed).
    let source: Source | undefined;
    if (p.kind === 'process') {
      proc = p.early
        ? { child: p.early.run.child, stderr: () => p.early!.run.said(), done: p.early.run.exited }
        : start(p.command, p.args, p.env, 'ignore', 'this backup');
      source = streamSource(p.early?.out ?? proc.child.stdout!, onData);
    }
    const watched = proc?.done.then(
      (x) => {
        procDone = true;
        kick();
        procExit = { ...x, first: !tornDown };
        // The dump tool failed: its output so far is useless; stop the rest (a process it left behind may hold its stdout open).
        if (x.signal || x.code !== 0) teardown();
      },
      (e) => {
        procError = e;
        teardown();
      },
    );
    const flow = (async () => {
      // An in-process producer (the cluster client) may take long to open: the bound and a teardown apply to that wait too.
      if (!source) {
        const opened = p.kind === 'stream' ? p.open(stop.signal, kick) : Promise.reject(new Error('no producer'));
        const stopped = new Promise<never>((_, rej) => {
          const fail = () => rej(stop.signal.reason);
          if (stop.signal.aborted) fail();
          else stop.signal.addEventListener('abort', fail, { once: true });
        });
        // Opened after all: nobody will read it.
        opened.then(
          (r) => stop.signal.aborted && (isSource(r) ? r.end?.() : r.destroy()),
          () => undefined,
        );
        const r = await Promise.race([opened, stopped]);
        source = isSource(r) ? told(r, onData) : streamSource(r, onData);
      }
      return encryptBulk(source, out!, {
        recipients: [parseRecipient(recipient)],
        sha256: { plaintext: true, ciphertext: true, header: true },
        ...(o.workers !== undefined ? { workers: o.workers } : {}),
        ...(tee ? { tee } : {}),
        signal: stop.signal,
      });
    })().then(
      (r) => {
        flowDone = true;
        kick();
        return r;
      },
      (e) => {
        failed(e);
        return undefined;
      },
    );
    const checked = checker?.done.then(
      () => {
        checkerDone = true;
        kick();
        // A checker that passed but stopped reading before the end has not seen everything.
        if (tee!.lost && !tornDown) teardown();
      },
      (e) => {
        checkError = { e, first: !tornDown };
        teardown();
      },
    );
    const [result] = await Promise.all([flow, watched, checked]);
    dog.stop();
    // A stage stopped for making no progress: that is the cause, whatever the teardown did to the others.
    if (stalled) throw stalled;
    if (procError) throw procError;
    const stderr = () => (proc && tail(proc.stderr()) ? `: ${tail(proc.stderr())}` : '');
    if (procExit?.first && (procExit.signal || procExit.code !== 0)) {
      if (procExit.signal) throw new VaultError('backup-failed', `${name} was killed by ${procExit.signal}${stderr()}; nothing was kept`);
      throw new VaultError('backup-failed', `${name} failed (exit ${procExit.code})${stderr()}; nothing was kept`);
    }
    if (flowError?.first) throw await file.explain(flowError.e);
    if (!flowError) {
      const problem = o.check(head, result!.plaintext.size);
      if (problem) throw new VaultError('backup-failed', `${name} exited 0 but ${problem}; nothing was kept`);
    }
    if (checkError) throw new VaultError('backup-failed', `the dump does not pass ${o.verifier!.label}: ${(checkError.e as Error).message}; nothing was kept`);
    if (tee?.lost)
      throw new VaultError('backup-failed', `the dump does not pass ${o.verifier!.label}: it stopped reading before the end of the dump; nothing was kept`);
    if (flowError || !result) throw await file.explain(flowError?.e ?? new Error('the backup stopped'));
    await o.settle?.(head);
    const location = await file.commit(fileOut ? { size: fileOut.written } : {});
    return {
      plaintext: digestOf(result.plaintext),
      ciphertext: digestOf(result.ciphertext),
      location,
      stderr: proc ? tail(proc.stderr()) : '',
      positioned: fileOut !== undefined && fileOut.written === result.ciphertext.size,
      head,
    };
  } catch (e) {
    dog.stop();
    teardown();
    await file.abort();
    if (e instanceof VaultError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new VaultError(
      'backup-failed',
      `the backup through ${name} failed: ${err.code ?? err.message}${proc && tail(proc.stderr()) ? ` (${name}: ${tail(proc.stderr())})` : ''}; nothing was kept`,
    );
  }
}

/** A consumer started on its own: write the plaintext into `sink`; `done` settles with its verdict. */
function startConsumer(c: Consumer): Started {
  if (c.kind === 'sink') {
    const s = c.start();
    s.done.catch(() => undefined);
    return s;
  }
  const w = startWritable(c);
  return { ...w, sink: streamSink(w.sink) };
}

function startWritable(c: Exclude<Consumer, { kind: 'sink' }>): { sink: Writable; done: Promise<void>; kill: () => void } {
  if (c.kind === 'process') {
    const fifo = c.fifo ? makeFifo() : undefined;
    const proc =
      c.early && !fifo
        ? { child: c.early.child, stderr: () => c.early!.said(), done: c.early.exited }
        : start(c.command, fifo ? c.args.map((a) => (a === '{input}' ? fifo.path : a)) : c.args, c.env, fifo ? 'ignore' : 'pipe', c.label, true);
    const sink = fifo ? createWriteStream(fifo.path) : proc.child.stdin!;
    sink.on('error', () => undefined);
    // If the checker dies before opening the pipe, our open would wait for ever: open it once for reading to release it.
    const release = () => {
      if (!fifo) return;
      try {
        closeSync(openSync(fifo.path, constants.O_RDONLY | constants.O_NONBLOCK));
      } catch {
        /* already gone */
      }
    };
    const done = proc.done.then(({ code, signal }) => {
      if (signal || code !== 0)
        throw new VaultError(
          'verify-failed',
          `${c.label} failed (${signal ? `killed by ${signal}` : `exit ${code}`})${tail(proc.stderr()) ? `: ${tail(proc.stderr())}` : ''}`,
        );
    });
    done
      .catch(() => undefined)
      .finally(() => {
        release();
        fifo?.remove();
      });
    return { sink, done, kill: () => proc.child.kill('SIGKILL') };
  }
  const pass = new Transform({ transform: (chunk, _e, cb) => cb(null, chunk), highWaterMark: 1 << 20 });
  // Killed before the consumer listens (it may await something first): the error is still its to see, never an unhandled 'error' event.
  pass.on('error', () => undefined);
  const done =
    c.kind === 'inline'
      ? c.consume(pass)
      : new Promise<void>((res, rej) =>
          pass
            .on('data', () => undefined)
            .on('end', res)
            .on('error', rej)
            .on('close', () => rej(new VaultError('interrupted', 'the read was stopped'))),
        );
  done.catch(() => undefined);
  // Killed: the consumer sees an error (never an end it would take for the whole dump), so its verdict settles.
  return { sink: pass, done, kill: () => pass.destroy(new VaultError('interrupted', 'the read was stopped')) };
}

const isSource = (x: Readable | Source): x is Source => typeof (x as Source).fill === 'function';

/** `src`, with `onData` told of what each read brought (as `streamSource` tells of each chunk). */
const told = (src: Source, onData: (n: number, chunk: Buffer) => void): Source => ({
  ...src,
  fill: (buf, off, len) =>
    src.fill(buf, off, len).then((n) => {
      if (n > 0) onData(n, buf.subarray(off, off + n));
      return n;
    }),
});

/** `src`, with `kick` after every read (and `onBytes` told how many bytes it brought). */
const kicked = (src: Source, kick: () => void, onBytes?: (n: number) => void): Source => ({
  ...src,
  fill: (buf, off, len) =>
    src.fill(buf, off, len).then((n) => {
      kick();
      if (n > 0) onBytes?.(n);
      return n;
    }),
});

export interface Consumed {
  ciphertext: Digest;
  plaintext: Digest;
}

/**
 * Decrypts `source` into a consumer, hashing both sides. The consumer's
 * exit status counts as much as the decryption: a checker that fails, or
 * stops reading early, fails the read; a truncated or altered file fails in
 * decryption before any unauthenticated byte reaches it.
 */
export async function consume(
  source: Readable | number,
  identities: X25519Identity[],
  c: Consumer,
  opts: {
    timeoutMs?: number;
    /**
     * false: the plaintext is counted, not hashed (its `sha256` is then
     * empty), for a caller that holds the ciphertext's SHA-256 to its signed
     * manifest: authenticated decryption of those very bytes gives one
     * plaintext only, so a second hash of it would only repeat that check.
     */
    plaintextSha256?: boolean;
    /**
     * false: the stored file is counted, not hashed (its `sha256` is then
     * empty), for a caller that holds its header and payload nonce to a
     * signed digest instead (`checkHead`): authenticated decryption under the
     * file key that header commits to vouches for the rest.
     */
    ciphertextSha256?: boolean;
    /** Given the file's header and payload nonce, from the bytes decrypted, before the file key is unwrapped; a throw fails the read before any output. */
    checkHead?: (head: Uint8Array) => void;
    /** Bytes of the stored file read so far (a descriptor source), for progress. */
    onBytes?: (n: number) => void;
  } = {},
): Promise<Consumed> {
  // Bounded as every stage is: no byte read (and no end) within the bound stops the read, as unreachable.
  const ms = opts.timeoutMs ?? externalTimeoutMs(c.kind === 'process' ? c.env : undefined);
  let stalled: VaultError | undefined;
  let read = false;
  const stop = new AbortController();
  // Started first: a consumer that cannot start leaves no watchdog behind.
  const target = startConsumer(c);
  const dog = new Watchdog(ms, () => {
    const bound = timeoutText(ms);
    const checker = read || sink.waiting;
    stalled = new VaultError(
      'io',
      checker
        ? `${c.label} made no progress for ${bound}: it was stopped, and could not judge the data`
        : `reading the backup made no progress for ${bound} (the repository stopped answering): it was stopped`,
      { code: 'external-timeout', data: { timeout: bound } },
    );
    target.kill();
    stop.abort(stalled);
  });
  const kick = () => dog.kick();
  const sink = watch(target.sink, kick);
  // A stored file's descriptor is read straight into the run's slots (the caller's to close).
  const flowing = decryptBulk(typeof source === 'number' ? kicked(await fdSource(source), kick, opts.onBytes) : streamSource(source, kick), sink, {
    identities,
    sha256: { plaintext: opts.plaintextSha256 ?? true, ciphertext: opts.ciphertextSha256 ?? true },
    ...(opts.checkHead ? { checkHead: opts.checkHead } : {}),
    signal: stop.signal,
  }).then((r) => {
    read = true;
    kick();
    return r;
  });
  const [flow, verdict] = await Promise.allSettled([flowing, target.done]).finally(() => dog.stop());
  if (stalled) throw stalled;
  if (flow.status === 'rejected') {
    const e = flow.reason as NodeJS.ErrnoException;
    target.kill();
    if (typeof source !== 'number') source.destroy();
    // The consumer stopped reading (EPIPE): its own verdict says why; anything else (decryption, reading) is the cause.
    if (e instanceof VaultError || !(e.code === 'EPIPE' || e.code === 'ERR_STREAM_PREMATURE_CLOSE') || verdict.status === 'fulfilled') throw e;
  }
  if (verdict.status === 'rejected') throw verdict.reason;
  const r = (flow as PromiseFulfilledResult<BulkResult>).value;
  return {
    ciphertext: { size: r.ciphertext.size, sha256: r.ciphertext.sha256 ?? '' },
    plaintext: { size: r.plaintext.size, sha256: r.plaintext.sha256 ?? '' },
  };
}

export interface Judged extends Consumed {
  /** Both sides hashed, and the ciphertext's `headerSha256` (its age header and payload nonce) with them. */
  ciphertext: Digest & { headerSha256: string };
  /** Why the consumer did not pass the data (it failed, was killed, is missing, or stopped reading before the end); null: it passed all of it. */
  refused: string | null;
}

/**
 * Decrypts `source` in full, hashing both sides, with a consumer (a
 * checker) reading the plaintext beside the hash rather than in its way: a
 * checker that fails, is killed, is missing or stops reading early does not
 * stop the read, so the hashes still cover every byte and the caller can
 * tell data that is bad (decryption fails: thrown; a hash differs) from a
 * checker that cannot judge data whose hashes are intact (`refused`).
 * `source` is a stored file's descriptor or a source over it (read
 * straight into the run's slots; the caller's to close) or a stream (a
 * remote's).
 */
export async function judge(source: Readable | number | Source, identities: X25519Identity[], c: Consumer): Promise<Judged> {
  let target: ReturnType<typeof startConsumer> | undefined;
  let startError: unknown;
  try {
    target = startConsumer(c);
  } catch (e) {
    startError = e;
  }
  // The checker's verdict as soon as it settles: a failure stops feeding it (the read goes on without it).
  let refused: string | null = startError ? (startError as Error).message : null;
  const verdict = target?.done.then(
    () => undefined,
    (e) => {
      refused = (e as Error).message;
      target!.kill();
    },
  );
  const sink = watch(target ? target.sink : nowhere, () => undefined, true);
  let r: Awaited<ReturnType<typeof decryptBulk>>;
  let headerSha256 = '';
  try {
    r = await decryptBulk(source, sink, {
      identities,
      sha256: { plaintext: true, ciphertext: true },
      checkHead: (head) => {
        headerSha256 = createHash('sha256').update(head).digest('hex');
      },
    });
  } catch (e) {
    target?.kill();
    await verdict;
    throw e;
  }
  await verdict;
  if (!refused && sink.lost) refused = `${c.label} stopped reading before the end of the data`;
  return { ciphertext: { ...digestOf(r.ciphertext), headerSha256 }, plaintext: digestOf(r.plaintext), refused };
}
