import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants, createWriteStream, openSync } from 'node:fs';
import { type Readable, Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VaultError } from '../errors/errors.js';
import { decryptStream, encryptStream } from '../age/bulk.js';
import type { X25519Identity } from '../age/x25519.js';
import type { PendingFile } from '../fs/pending.js';
import { externalTimeoutMs, timeoutText, Watchdog } from '../tool/bound.js';
import { makeFifo } from '../tool/fifo.js';
import { startTool, toolMessage } from '../tool/run.js';

/**
 * The one pipeline every component shares. Backing up: the dump tool's
 * stdout → SHA-256 and size of the plaintext → age encryption to the backup
 * recipient → SHA-256 and size of the ciphertext → a file written under a
 * temp name. Every stage counts: a tool that exits non-zero or is killed, an
 * output under the component's minimum or failing its format check, a write
 * error — and the temp file is removed. No plaintext touches disk.
 */
export type Producer =
  | { kind: 'process'; command: string; args: string[]; env: Record<string, string | undefined> }
  | { kind: 'stream'; name: string; open: () => Promise<Readable> };

/** A consumer of decrypted data: a process reading stdin (pg_restore, redis-check-rdb, tar), or code. */
export type Consumer =
  | { kind: 'process'; command: string; args: string[]; env: Record<string, string | undefined>; label: string; fifo?: boolean }
  | { kind: 'inline'; label: string; consume: (r: Readable) => Promise<void> }
  | { kind: 'discard'; label: string };

export interface Digest {
  size: number;
  sha256: string;
}

/**
 * Counts and hashes what passes through, keeps the first bytes (for format
 * checks), and can mirror every chunk into a second writable (a checker's
 * stdin), waiting for it to drain — or to go away: a checker that exits or
 * closes its input early never leaves the stream waiting (`mirrorLost` says
 * it stopped reading before the end).
 */
class Tap extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;
  head = Buffer.alloc(0);
  mirrorLost = false;
  /** Waiting for the mirror (a checker) to take what it was given. */
  waitingOnMirror = false;
  constructor(
    private readonly onBytes?: (n: number) => void,
    private readonly mirror?: Writable,
  ) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    if (this.head.length < 64) this.head = Buffer.concat([this.head, chunk.subarray(0, 64 - this.head.length)]);
    this.onBytes?.(this.size);
    const m = this.mirror;
    if (!m || this.mirrorLost || m.destroyed || m.writableEnded) {
      if (m) this.mirrorLost = true;
      cb(null, chunk);
      return;
    }
    const ok = m.write(chunk, (e) => {
      if (e) this.mirrorLost = true;
    });
    if (ok) {
      cb(null, chunk);
      return;
    }
    this.waitingOnMirror = true;
    const go = () => {
      this.waitingOnMirror = false;
      m.off('drain', go).off('close', lost).off('error', lost);
      this.onBytes?.(this.size);
      cb(null, chunk);
    };
    const lost = () => {
      this.mirrorLost = true;
      go();
    };
    m.on('drain', go).on('close', lost).on('error', lost);
  }
  override _flush(cb: TransformCallback): void {
    if (this.mirror && !this.mirror.destroyed) this.mirror.end();
    cb();
  }
  digest(): Digest {
    return { size: this.size, sha256: this.hash.digest('hex') };
  }
}

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
}

/**
 * Runs a producer through the pipeline into `file`; commits it only if
 * every stage succeeded and `check(head, size)` finds nothing wrong with the
 * plaintext; otherwise aborts it (the temp file is removed) and throws a
 * backup-failed error naming the stage, with the tool's stderr (bounded), or
 * the write's own error (a full disk, a failed upload).
 *
 * The first stage to fail tears down the others at once (the dump tool and
 * the checker are killed, the streams destroyed), so a failure never leaves
 * the pipeline waiting on a stage that will not move: the error reported is
 * the cause, not what the teardown did to the other stages.
 */
export async function produce(
  p: Producer,
  recipient: string,
  file: PendingFile,
  o: { check: (head: Buffer, size: number) => string | null; verifier?: Consumer; onProgress?: (bytes: number) => void; timeoutMs?: number },
): Promise<Produced> {
  const name = p.kind === 'process' ? p.command : p.name;
  let proc: Spawned | undefined;
  let checker: ReturnType<typeof startConsumer> | undefined;
  let source: Readable | undefined;
  let plain: Tap | undefined;
  let tornDown = false;
  // Every stage is bounded: no byte through the pipeline (and no stage ending) within the bound stops it all.
  const ms = o.timeoutMs ?? externalTimeoutMs(p.kind === 'process' ? p.env : o.verifier?.kind === 'process' ? o.verifier.env : undefined);
  let stalled: VaultError | undefined;
  let flowDone = false;
  let procDone = !(p.kind === 'process');
  let checkerDone = !o.verifier;
  const dog = new Watchdog(ms, () => {
    const bound = timeoutText(ms);
    if (plain?.waitingOnMirror || (flowDone && procDone && !checkerDone))
      stalled = new VaultError('backup-failed', `the check (${o.verifier!.label}) made no progress for ${bound}: it was stopped; nothing was kept`, {
        code: 'external-timeout',
        data: { timeout: bound },
      });
    else if (file.stream.writableNeedDrain || flowDone)
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
  const cipher = new Tap(() => dog.kick());
  const teardown = () => {
    if (tornDown) return;
    tornDown = true;
    proc?.child.kill('SIGKILL');
    checker?.kill();
    plain?.destroy(new Error('the backup stopped'));
    source?.destroy();
  };
  try {
    checker = o.verifier ? startConsumer(o.verifier) : undefined;
    plain = new Tap((n) => {
      dog.kick();
      o.onProgress?.(n);
    }, checker?.sink);
    if (p.kind === 'process') {
      proc = start(p.command, p.args, p.env, 'ignore', 'this backup');
      source = proc.child.stdout!;
    } else source = await p.open();
    // What each stage did, and whether it did it before anything was torn down (then it is a cause, not a consequence).
    let procExit: { code: number | null; signal: NodeJS.Signals | null; first: boolean } | undefined;
    let procError: unknown;
    let flowError: { e: unknown; first: boolean } | undefined;
    let checkError: { e: unknown; first: boolean } | undefined;
    const watched = proc?.done.then(
      (x) => {
        procDone = true;
        dog.kick();
        procExit = { ...x, first: !tornDown };
        // The dump tool failed: its output so far is useless; stop the rest (a process it left behind may hold its stdout open).
        if (x.signal || x.code !== 0) teardown();
      },
      (e) => {
        procError = e;
        teardown();
      },
    );
    const flow = pipeline(source, plain, encryptStream({ recipients: [recipient] }), cipher, file.stream).then(
      () => {
        flowDone = true;
        dog.kick();
      },
      (e) => {
        flowError = { e, first: !tornDown };
        teardown();
      },
    );
    const checked = checker?.done.then(
      () => {
        checkerDone = true;
        dog.kick();
        // A checker that passed but stopped reading before the end has not seen everything.
        if (plain!.mirrorLost && !tornDown) teardown();
      },
      (e) => {
        checkError = { e, first: !tornDown };
        teardown();
      },
    );
    await Promise.all([flow, watched, checked]);
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
      const problem = o.check(plain.head, plain.size);
      if (problem) throw new VaultError('backup-failed', `${name} exited 0 but ${problem}; nothing was kept`);
    }
    if (checkError) throw new VaultError('backup-failed', `the dump does not pass ${o.verifier!.label}: ${(checkError.e as Error).message}; nothing was kept`);
    if (plain.mirrorLost)
      throw new VaultError('backup-failed', `the dump does not pass ${o.verifier!.label}: it stopped reading before the end of the dump; nothing was kept`);
    if (flowError) throw await file.explain(flowError.e);
    const location = await file.commit();
    return { plaintext: plain.digest(), ciphertext: cipher.digest(), location, stderr: proc ? tail(proc.stderr()) : '' };
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
function startConsumer(c: Consumer): { sink: Writable; done: Promise<void>; kill: () => void } {
  if (c.kind === 'process') {
    const fifo = c.fifo ? makeFifo() : undefined;
    const proc = start(c.command, fifo ? c.args.map((a) => (a === '{input}' ? fifo.path : a)) : c.args, c.env, fifo ? 'ignore' : 'pipe', c.label, true);
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
export async function consume(source: Readable, identities: X25519Identity[], c: Consumer, opts: { timeoutMs?: number } = {}): Promise<Consumed> {
  // Bounded as every stage is: no byte read (and no end) within the bound stops the read, as unreachable.
  const ms = opts.timeoutMs ?? externalTimeoutMs(c.kind === 'process' ? c.env : undefined);
  let stalled: VaultError | undefined;
  let read = false;
  const dog = new Watchdog(ms, () => {
    const bound = timeoutText(ms);
    const checker = read || target.sink.writableNeedDrain;
    stalled = new VaultError(
      'io',
      checker
        ? `${c.label} made no progress for ${bound}: it was stopped, and could not judge the data`
        : `reading the backup made no progress for ${bound} (the repository stopped answering): it was stopped`,
      { code: 'external-timeout', data: { timeout: bound } },
    );
    target.kill();
    source.destroy(stalled);
  });
  const cipher = new Tap(() => dog.kick());
  const plain = new Tap(() => dog.kick());
  const target = startConsumer(c);
  const flowing = pipeline(source, cipher, decryptStream({ identities }), plain, target.sink).then(() => {
    read = true;
    dog.kick();
  });
  const [flow, verdict] = await Promise.allSettled([flowing, target.done]).finally(() => dog.stop());
  if (stalled) throw stalled;
  if (flow.status === 'rejected') {
    const e = flow.reason as NodeJS.ErrnoException;
    target.kill();
    source.destroy();
    // The consumer stopped reading (EPIPE): its own verdict says why; anything else (decryption, reading) is the cause.
    if (e instanceof VaultError || !(e.code === 'EPIPE' || e.code === 'ERR_STREAM_PREMATURE_CLOSE') || verdict.status === 'fulfilled') throw e;
  }
  if (verdict.status === 'rejected') throw verdict.reason;
  return { ciphertext: cipher.digest(), plaintext: plain.digest() };
}

export interface Judged extends Consumed {
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
 */
export async function judge(source: Readable, identities: X25519Identity[], c: Consumer): Promise<Judged> {
  const cipher = new Tap();
  let target: ReturnType<typeof startConsumer> | undefined;
  let startError: unknown;
  try {
    target = startConsumer(c);
  } catch (e) {
    startError = e;
  }
  const plain = new Tap(undefined, target?.sink);
  // The checker's verdict as soon as it settles: a failure stops feeding it (the read goes on without it).
  let refused: string | null = startError ? (startError as Error).message : null;
  const verdict = target?.done.then(
    () => undefined,
    (e) => {
      refused = (e as Error).message;
      target!.kill();
    },
  );
  const sink = new Writable({ write: (_c, _e, cb) => cb(), highWaterMark: 1 << 20 });
  try {
    await pipeline(source, cipher, decryptStream({ identities }), plain, sink);
  } catch (e) {
    target?.kill();
    await verdict;
    throw e;
  }
  await verdict;
  if (!refused && plain.mirrorLost) refused = `${c.label} stopped reading before the end of the data`;
  return { ciphertext: cipher.digest(), plaintext: plain.digest(), refused };
}
