import { closeSync, constants, fstat, fstatSync, openSync, read, readlinkSync, write, WriteStream } from 'node:fs';
import type * as Net from 'node:net';
import type { Readable, Writable } from 'node:stream';

/**
 * The two ends of a bulk run: an open descriptor (a file, a pipe, a
 * terminal: read and written straight into the run's own buffers, on
 * libuv's thread pool), a Node stream (copied in; copied out unless it is a
 * file or a socket, which are done with a buffer once its write calls
 * back), or a Source / Sink of the caller's (one that counts, watches or
 * tolerates, around one of these).
 */
export type BulkInput = number | Readable | Source;
export type BulkOutput = number | Writable | Sink;

export interface Source {
  /** Reads into buf[off, off + len) until it is full or the input ends: fewer bytes only at the end. */
  fill(buf: Buffer, off: number, len: number): Promise<number>;
  /** The size, when known in advance (a regular file). */
  size?: number;
  /** The run failed: a stream is destroyed with the cause (a descriptor is the caller's to close). */
  fail(e: Error): void;
  /** The run is over: what the source opened of its own is closed. */
  end?(): void;
}

export interface Sink {
  /** Writes all of buf; the run reuses buf once this settles (so the sink must be done with it by then). */
  write(buf: Buffer): Promise<void>;
  /** Everything was written: a stream is ended and its finish awaited (a descriptor is the caller's to close). */
  end(): Promise<void>;
  fail(e: Error): void;
}

/** A descriptor opened without O_NONBLOCK's blessing (a pipe shared with a Node stream) answers EAGAIN: wait a little and try again. */
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const again = (e: unknown) => (e as NodeJS.ErrnoException).code === 'EAGAIN';

function readOnce(fd: number, buf: Buffer, off: number, len: number): Promise<number> {
  return new Promise((res, rej) => read(fd, buf, off, len, null, (e, n) => (e ? rej(e) : res(n))));
}

function writeOnce(fd: number, buf: Buffer, off: number, len: number): Promise<number> {
  return new Promise((res, rej) => write(fd, buf, off, len, null, (e, n) => (e ? rej(e) : res(n))));
}

export async function fdSource(fd: number): Promise<Source> {
  const st = await new Promise<import('node:fs').Stats | null>((res) => fstat(fd, (e, s) => res(e ? null : s)));
  if (st?.isFIFO()) {
    const pipe = pipeSource(fd);
    if (pipe) return pipe;
  }
  return {
    ...(st?.isFile() ? { size: st.size } : {}),
    async fill(buf, off, len) {
      let n = 0;
      let wait = 1;
      while (n < len) {
        let r: number;
        try {
          r = await readOnce(fd, buf, off + n, len - n);
        } catch (e) {
          if (!again(e)) throw e;
          await pause(wait);
          wait = Math.min(wait * 2, 16);
          continue;
        }
        if (r === 0) break;
        n += r;
        wait = 1;
      }
      return n;
    },
    fail: () => undefined,
  };
}

export function fdSink(fd: number): Sink {
  return {
    async write(buf) {
      let n = 0;
      let wait = 1;
      while (n < buf.length) {
        try {
          n += await writeOnce(fd, buf, n, buf.length - n);
          wait = 1;
        } catch (e) {
          if (!again(e)) throw e;
          await pause(wait);
          wait = Math.min(wait * 2, 16);
        }
      }
    },
    end: async () => undefined,
    fail: () => undefined,
  };
}

/**
 * A regular file written at explicit offsets from `start`, each write's
 * count checked: once the run is over, the file's bytes [start, start +
 * written) are exactly the buffers given, in order (whatever else moves the
 * descriptor's offset), and `written` says how many there were.
 */
export function fileSink(fd: number, start = 0): Sink & { readonly written: number } {
  let pos = start;
  return {
    get written() {
      return pos - start;
    },
    async write(buf) {
      let n = 0;
      while (n < buf.length) {
        const k = await new Promise<number>((res, rej) => write(fd, buf, n, buf.length - n, pos, (e, w) => (e ? rej(e) : res(w))));
        if (k <= 0) throw Object.assign(new Error('a write wrote nothing'), { code: 'EIO' });
        n += k;
        pos += k;
      }
    },
    end: async () => undefined,
    fail: () => undefined,
  };
}

/** Bytes one read from a pipe may bring (the kernel's pipe buffer is 64 KiB unless enlarged). */
const PIPE_READ = 256 << 10;

/**
 * An anonymous pipe (a shell's `|`), read as the event loop sees data arrive (as process.stdin is), not
 * by a blocking read on the thread pool: a pipe gives at most its 64 KiB
 * buffer per read, and a round trip to the pool for every 64 KiB would cost
 * more than the read. libuv makes the descriptor it reads non-blocking and
 * closes it at the end, so it reads its own: the pipe opened again through
 * /proc/self/fd (a new open file description; the caller's is left as it
 * was). null where that is not possible (no /proc): the caller reads on the
 * thread pool instead.
 */
function pipeSource(fd: number): Source | null {
  let own: number;
  try {
    // Anonymous pipes only: a named one opened after its writer left never reports the end to epoll, only to read().
    if (!readlinkSync(`/proc/self/fd/${fd}`).startsWith('pipe:')) return null;
    own = openSync(`/proc/self/fd/${fd}`, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    if (!fstatSync(own).isFIFO()) throw new Error('not a pipe');
  } catch {
    closeSync(own);
    return null;
  }
  const net = process.getBuiltinModule('node:net') as typeof Net;
  const landing = Buffer.allocUnsafe(PIPE_READ);
  /** Bytes read into `landing` and not yet handed out, from `at`. */
  let left = 0;
  let at = 0;
  let ended = false;
  let error: Error | null = null;
  let want: { buf: Buffer; off: number; len: number; n: number; done: (n: number) => void; fail: (e: Error) => void } | null = null;
  /** Hands out what `landing` holds; true once the pending fill is satisfied. */
  const serve = (): boolean => {
    const w = want!;
    const k = Math.min(left, w.len - w.n);
    landing.copy(w.buf, w.off + w.n, at, at + k);
    w.n += k;
    at += k;
    left -= k;
    if (w.n < w.len) return false;
    want = null;
    w.done(w.n);
    return true;
  };
  const settle = () => {
    const w = want;
    if (!w) return;
    want = null;
    if (error) w.fail(error);
    else w.done(w.n);
  };
  // onread (libuv reads into one buffer of ours, reused) is in Node's Socket options since 12, not in @types/node's.
  const opts: Net.SocketConstructorOpts & { onread: { buffer: Buffer; callback: (n: number) => boolean } } = {
    fd: own,
    readable: true,
    writable: false,
    onread: {
      buffer: landing,
      callback: (n: number) => {
        at = 0;
        left = n;
        // Paused while nobody waits for bytes or some are left over: `landing` is reused by the next read.
        if (!want) return false;
        serve();
        return left === 0 && want !== null;
      },
    },
  };
  const sock = new net.Socket(opts);
  sock.on('end', () => {
    ended = true;
    settle();
  });
  sock.on('error', (e) => {
    error ??= e;
    settle();
  });
  sock.on('close', () => {
    if (!ended) error ??= Object.assign(new Error('the input pipe closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    settle();
  });
  return {
    fill(buf, off, len) {
      if (error) return Promise.reject(error);
      return new Promise((done, fail) => {
        want = { buf, off, len, n: 0, done, fail };
        if (left && serve()) return;
        if (ended) return settle();
        sock.resume();
      });
    },
    fail: () => sock.destroy(),
    end: () => sock.destroy(),
  };
}

/** Bytes a stream source may buffer ahead of the run before it is paused. */
const STREAM_AHEAD = 1 << 20;

/** A Node stream as a run's source; `onData` is told each piece as it arrives (before it is taken into the run). */
export function streamSource(r: Readable, onData?: (n: number, chunk: Buffer) => void): Source {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let error: Error | null = null;
  let wake: (() => void) | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  r.on('data', (c: Buffer | string) => {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    onData?.(b.length, b);
    queue.push(b);
    queued += b.length;
    if (queued >= STREAM_AHEAD) r.pause();
    poke();
  });
  r.on('end', () => {
    ended = true;
    poke();
  });
  r.on('error', (e) => {
    error ??= e;
    poke();
  });
  r.on('close', () => {
    if (!ended) error ??= Object.assign(new Error('the input stream closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    poke();
  });
  return {
    async fill(buf, off, len) {
      let n = 0;
      while (n < len) {
        if (error) throw error;
        const c = queue[0];
        if (!c) {
          if (ended) break;
          if (r.isPaused()) r.resume();
          await new Promise<void>((res) => (wake = res));
          continue;
        }
        const k = Math.min(c.length, len - n);
        c.copy(buf, off + n, 0, k);
        n += k;
        queued -= k;
        if (k === c.length) queue.shift();
        else queue[0] = c.subarray(k);
      }
      if (queued < STREAM_AHEAD && r.isPaused() && !ended) r.resume();
      return n;
    },
    fail: (e) => r.destroy(e),
  };
}

export function streamSink(w: Writable): Sink {
  let error: Error | null = null;
  let finished = false;
  let wake: (() => void) | null = null;
  const poke = () => {
    const f = wake;
    wake = null;
    f?.();
  };
  w.on('error', (e) => {
    error ??= e;
    poke();
  });
  w.on('close', () => {
    if (!finished) error ??= Object.assign(new Error('the output stream closed before the end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    poke();
  });
  w.on('drain', poke);
  w.on('finish', () => {
    finished = true;
    poke();
  });
  const settle = async (ok: () => boolean) => {
    while (!ok()) {
      if (error) throw error;
      await new Promise<void>((res) => (wake = res));
    }
    if (error) throw error;
  };
  // A file or a socket is done with a buffer once its write calls back; any other stream may hold what it is given for as long as it likes.
  const net = process.getBuiltinModule('node:net') as typeof Net;
  const owns = w instanceof WriteStream || w instanceof net.Socket;
  return {
    async write(buf) {
      if (error) throw error;
      if (!owns) {
        if (!w.write(Buffer.from(buf))) await settle(() => !w.writableNeedDrain);
        return;
      }
      let written = false;
      w.write(buf, (e) => {
        if (e) error ??= e;
        written = true;
        poke();
      });
      await settle(() => written);
    },
    async end() {
      if (error) throw error;
      w.end();
      await settle(() => finished);
    },
    fail: (e) => w.destroy(e),
  };
}

const isSource = (x: BulkInput): x is Source => typeof x === 'object' && typeof (x as Source).fill === 'function';
const isSink = (x: BulkOutput): x is Sink => typeof x === 'object' && typeof (x as Sink).fail === 'function';

export async function sourceOf(input: BulkInput): Promise<Source> {
  return typeof input === 'number' ? fdSource(input) : isSource(input) ? input : streamSource(input);
}

export function sinkOf(output: BulkOutput): Sink {
  return typeof output === 'number' ? fdSink(output) : isSink(output) ? output : streamSink(output);
}
