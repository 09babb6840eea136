import { createHash, type Hash } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Sink, Source as RunSource } from '../../age/io.js';
import { release } from '../../age/release.js';
import { VaultError } from '../../errors/errors.js';
import { ObjectList } from '../../dest/object-list.js';
import { copyObjects, holdsObjects, listObjects, parseRemote, readObject, removeObjects, writeObject } from '../../dest/rclone.js';
import { registerCleanup } from '../../fs/cleanup.js';
import { makeDirs } from '../../fs/dirs.js';
import { randomHex } from '../../fs/random.js';
import { guardedAt, refusedAsGuarded } from '../../fs/replace.js';
import { map, object, string } from '../../vault/shape.js';
import type { BackupKind, Component, DrillCheckSpec, Env, KindCheck, Restorer, RestoreRequest } from '../kind.js';
import { defineKind } from './loaded.js';
import type { Consumer } from '../pipeline.js';
import { bucketTarget, pathTarget } from '../protect.js';
import { psqlRead } from '../scratch.js';
import { TarReader } from '../wal/tar.js';

/**
 * `bucket`: the objects of an object-storage bucket (or a prefix in one),
 * read through rclone (`REMOTE:BUCKET[/PREFIX]`), as one tar stream
 * (docs/FORMAT.md, "Bucket archive"): a head member, each object as
 * `objects/KEY` (its modification time kept), and last the listing, one
 * JSON line per object: key, size, modification time, SHA-256 (computed as
 * it is read) and the MD5 the store listed. Small objects are read in
 * batches through a private staging folder, large ones each by `rclone
 * cat` (`archive` below), so memory holds the listing, never the data. The full read checks every object's bytes against the listing;
 * restored into a bucket prefix (`rclone rcat` per object, a few at once)
 * or a folder; drilled into a scratch prefix, where a SQL query's keys are
 * looked for.
 */
export interface BucketOptions {
  /** `REMOTE:BUCKET[/PREFIX]`. */
  source: string;
  /** The component's name: bucket/NAME. */
  name: string;
  env: Env;
}

export const HEAD = 'vault-tool-bucket.json';
export const LISTING = 'vault-tool-bucket.jsonl';
const OBJECTS = 'objects/';
const FORMAT = 'vault-tool/bucket-archive';
/**
 * `rclone cat` processes started ahead of the one being read: at most
 * this many, for objects of at most AHEAD_BYTES together (each rclone
 * holds 40 MiB or more whatever it reads, and a large object's read
 * takes long enough that its start is nothing beside it). A larger object
 * is started when its turn comes.
 */
const AHEAD = 4;
const AHEAD_BYTES = 8 << 20;
/** Uploads in flight at once while restoring. */
const UPLOADS = 4;
const BLOCK = 512;

/** One line of the listing member. */
interface Line {
  key: string;
  size: number;
  mtime: string;
  sha256: string;
  md5?: string;
  /** The object changed or went away between the listing and its read: its bytes are not what the listing says (restores skip it). */
  changed?: 'changed' | 'gone';
}

function remoteOf(spec: string): string {
  if (!parseRemote(spec)) throw new VaultError('usage', `${JSON.stringify(spec)} is not REMOTE:BUCKET[/PREFIX] (an rclone remote)`);
  return spec.replace(/\/+$/, '');
}

// ---- the tar stream (POSIX pax: each member's path and mtime in a pax header, readable by GNU and BSD tar) ----

function octal(n: number, len: number): string {
  return `${n.toString(8).padStart(len - 1, '0')}\0`;
}

/** A ustar header block written at `at` of `h` (its 512 bytes zero already). */
function ustarAt(h: Buffer, at: number, name: string, size: number, mtime: number, type: '0' | 'x'): void {
  // The name field holds the first 99 bytes (the pax record holds the whole path).
  if (Buffer.byteLength(name) <= 99) h.write(name, at, 'utf8');
  else Buffer.from(name).copy(h, at, 0, 99);
  h.write(octal(0o644, 8), at + 100, 'latin1');
  h.write(octal(0, 8), at + 108, 'latin1');
  h.write(octal(0, 8), at + 116, 'latin1');
  // Sizes of 8 GiB and more go in the pax record; the field holds 0 then.
  h.write(octal(size < 8 * 2 ** 30 ? size : 0, 12), at + 124, 'latin1');
  h.write(octal(Math.max(0, Math.floor(mtime)), 12), at + 136, 'latin1');
  h.write('        ', at + 148, 'latin1');
  h.write(type, at + 156, 'latin1');
  h.write('ustar\0', at + 257, 'latin1');
  h.write('00', at + 263, 'latin1');
  let sum = 0;
  for (let i = at; i < at + BLOCK; i++) sum += h[i]!;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
}

function paxRecord(k: string, v: string): string {
  const body = ` ${k}=${v}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** Zeros: padding and the end marker are pieces of it (never written: pieces are only copied from). */
const ZEROS = Buffer.alloc(2 * BLOCK);
const padLength = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;
const pad = (n: number) => ZEROS.subarray(0, padLength(n));

/**
 * A member's headers, a pax header (path, size, mtime with its fraction)
 * then the ustar header, written into one buffer kept for every member:
 * what `write` returns holds until its next call.
 */
class Headers {
  private buf = Buffer.alloc(8 * BLOCK);

  write(path: string, size: number, mtime: string): Buffer {
    const t = Date.parse(mtime);
    const secs = Number.isNaN(t) ? 0 : t / 1000;
    const pax = paxRecord('path', path) + paxRecord('size', String(size)) + (Number.isNaN(t) ? '' : paxRecord('mtime', secs.toFixed(9).replace(/\.?0+$/, '')));
    const paxLength = Buffer.byteLength(pax);
    const total = BLOCK + paxLength + padLength(paxLength) + BLOCK;
    // A key longer than a few KiB (no object store takes one): a larger buffer from then on.
    if (this.buf.length < total) this.buf = Buffer.alloc(total);
    const h = this.buf.fill(0, 0, total);
    ustarAt(h, 0, 'PaxHeader', paxLength, secs, 'x');
    h.write(pax, BLOCK, 'utf8');
    ustarAt(h, total - BLOCK, path, size, secs, '0');
    return h.subarray(0, total);
  }
}

// ---- backing up ----

async function dump(o: BucketOptions, env: Env): Promise<Component> {
  const source = remoteOf(o.source);
  const io = { env };
  const listed = await listObjects(io, source);
  const bytes = listed.bytes;
  const listedAt = new Date().toISOString();
  return {
    component: `bucket/${o.name}`,
    kind: 'bucket',
    producer: { kind: 'stream', name: 'rclone', open: async (_signal, progress) => archive(io, source, listed, listedAt, progress) },
    tool: { name: 'rclone', version: '', args: ['cat', source] },
    source: { remote: source, objects: String(listed.length), bytes: String(bytes), listedAt, machine: hostname() },
    // The data, and three 512-byte blocks or so of headers per object: the size hint for a remote upload.
    estimate: bytes + listed.length * 2048 + 64 * 1024,
    // Sealed on the calling thread: it hashes every object twice (the archive, its check) and reads the small ones itself, so
    // workers took a few per cent off large objects only, and held 15-20 MiB (their slots and heaps; bench/README.md).
    workers: 0,
  };
}

/** Objects of at most this many bytes are read in batches, by one `rclone copy` per batch; larger ones each stream through `rclone cat`. */
export const SMALL = 1 << 20;
/** A batch holds at most this many objects… */
export const BATCH_OBJECTS = 1000;
/** …and this many bytes (as listed). */
export const BATCH_BYTES = 32 << 20;
/** Batches fetched ahead of the one being read: staging holds at most one more than this. */
const BATCHES_AHEAD = 2;

/**
 * Whether an object can be read in a batch: small, and its key a path that
 * rclone's local backend writes as it is (no `.`, `..` or empty parts, no
 * control characters or characters rclone's encodings stand in for, no part
 * longer than a file name may be). The others each go through `rclone cat`.
 */
function batchable(key: string, size: number): boolean {
  if (size > SMALL || keyPath(key) === null || Buffer.byteLength(key) > 1024) return false;
  if (/[\x00-\x1f\x7f\\\u201b\u2400-\u2421\uff00-\uffef]/.test(key)) return false;
  return key.split('/').every((p) => Buffer.byteLength(p) <= 200);
}

const STAGING = 'vault-tool-bucket-';

/** Staging folders of runs whose process is gone (killed: SIGKILL, power loss) removed: they hold objects in the clear. Best effort. */
function sweepStaging(): void {
  try {
    for (const name of readdirSync(tmpdir())) {
      const pid = new RegExp(`^${STAGING}(\\d+)-`).exec(name)?.[1];
      if (pid && Number(pid) !== process.pid && !alive(Number(pid)) && lstatSync(join(tmpdir(), name)).isDirectory())
        rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  } catch {
    /* best effort */
  }
}

/** Whether a process runs: a signal 0 reaches it (EPERM: it runs, as another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One batch: the listing's objects from..to (exclusive), copied into their own folder under the staging folder. */
interface Batch {
  from: number;
  to: number;
  dir: string;
  copy: ReturnType<typeof copyObjects>;
}

/** One object's bytes, from wherever they come: chunks, then how the read ended (`gone`: the store says it is not there). */
interface ObjectBytes {
  chunks: AsyncIterable<Buffer>;
  ended(): Promise<'ok' | 'gone'>;
  /** Each chunk is the reader's alone (a pipe's read, not a buffer written again for the next): freed once copied. */
  own?: boolean;
}

/**
 * A stream's chunks as it emits them (async iteration would join those
 * waiting in its buffer into a new one, leaving them to the collector),
 * the stream paused while 16 wait.
 */
async function* chunksOf(s: Readable): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let ended = false;
  let error: Error | undefined;
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (c: Buffer) => {
    queue.push(c);
    if (queue.length >= 16) s.pause();
    poke();
  };
  const onEnd = () => {
    ended = true;
    poke();
  };
  const onError = (e: Error) => {
    error ??= e;
    poke();
  };
  const onClose = () => {
    if (!ended) error ??= Object.assign(new Error('the read closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    poke();
  };
  s.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  try {
    for (;;) {
      const c = queue.shift();
      if (c) {
        if (s.isPaused() && queue.length < 4) s.resume();
        yield c;
      } else if (error) throw error;
      else if (ended) return;
      else await new Promise<void>((res) => (wake = res));
    }
  } finally {
    s.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
  }
}

/**
 * The archive, streamed. Small objects are read in batches, each by one
 * `rclone copy --files-from-raw` into its own folder of a private staging
 * folder (mode 0700, bounded: at most BATCHES_AHEAD batches, each at most
 * BATCH_OBJECTS objects and BATCH_BYTES bytes), read from there in listing
 * order and removed as they are; larger objects, and any a batch did not
 * bring (gone, grown, a key the local backend writes otherwise, a batch
 * that failed), each by its own `rclone cat` (a few started ahead). Every
 * object is hashed as it passes and checked against the listing either way.
 *
 * The archive is the run's source (`age/io.ts`): its pieces are copied
 * straight into the buffers the run reads into, so it makes no buffer per
 * chunk of output (each would be garbage that V8 frees only at its next
 * collection, which memory outside its heap brings on late: tens of MiB
 * held). `progress` is told of each read of an object's bytes, so a slow
 * large object is not taken for a stalled backup.
 */
function archive(io: { env: Env }, source: string, listed: ObjectList, listedAt: string, progress: () => void): RunSource {
  const cats = new Map<number, ReturnType<typeof readObject>>();
  const batches: Batch[] = [];
  let staging: string | undefined;
  let unregister: (() => void) | undefined;
  let seq = 0;
  let next = 0;
  const kickAll = () => {
    for (const r of cats.values()) r.kick();
  };
  const stage = (): string => {
    if (staging === undefined) {
      sweepStaging();
      staging = mkdtempSync(join(tmpdir(), `${STAGING}${process.pid}-`));
      const dir = staging;
      unregister = registerCleanup(() => rmSync(dir, { recursive: true, force: true }));
    }
    return staging;
  };
  const startCat = (i: number) => {
    // One byte more than listed: an object that grew since is seen to have changed.
    const r = readObject(io, `${source}/${listed.key(i)}`, listed.size(i) + 1);
    cats.set(i, r);
    return r;
  };
  /** The object being read (its `rclone cat` is not ahead of it). */
  let reading = -1;
  /**
   * Reads started ahead, in listing order: up to AHEAD objects each by
   * `rclone cat` (AHEAD_BYTES of them at most: a larger one waits for its
   * turn), up to BATCHES_AHEAD batches.
   */
  const fill = () => {
    while (next < listed.length) {
      if (batchable(listed.key(next), listed.size(next))) {
        if (batches.length >= BATCHES_AHEAD) return;
        let to = next;
        let bytes = 0;
        while (to < listed.length && to - next < BATCH_OBJECTS && bytes + listed.size(to) <= BATCH_BYTES && batchable(listed.key(to), listed.size(to)))
          bytes += listed.size(to++);
        const dir = join(stage(), `b${seq++}`);
        mkdirSync(dir, { mode: 0o700 });
        const keys: string[] = [];
        for (let j = next; j < to; j++) keys.push(listed.key(j));
        batches.push({ from: next, to, dir, copy: copyObjects(io, source, keys, dir, bytes + SMALL, kickAll) });
        next = to;
      } else {
        let ahead = 0;
        for (const j of cats.keys()) if (j !== reading) ahead += listed.size(j);
        if (next !== reading && (cats.size >= AHEAD || ahead + listed.size(next) > AHEAD_BYTES)) return;
        if (!cats.has(next)) startCat(next);
        next++;
      }
    }
  };
  // Staged objects are read into this one buffer (SMALL + 1 bytes at most), each copied on before the next is read.
  let scratch = Buffer.alloc(0);
  /** The staged copy of object i, read to one byte past its listed size and removed; undefined when the batch did not bring it. */
  const staged = (b: Batch, ok: boolean, i: number): Buffer | undefined => {
    if (!ok) return undefined;
    const path = join(b.dir, listed.key(i));
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return undefined;
    }
    try {
      if (!fstatSync(fd).isFile()) return undefined;
      if (scratch.length < listed.size(i) + 1) scratch = Buffer.allocUnsafeSlow(listed.size(i) + 1);
      const buf = scratch.subarray(0, listed.size(i) + 1);
      let got = 0;
      for (let n = 1; n > 0 && got < buf.length; got += n) n = readSync(fd, buf, got, buf.length - got, null);
      return buf.subarray(0, got);
    } finally {
      closeSync(fd);
      rmSync(path, { force: true });
    }
  };
  async function* one(data: Buffer): AsyncGenerator<Buffer> {
    yield data;
  }
  /**
   * The buffer the piece being copied was cut from, when nothing else holds
   * it (set by the generator with the piece): freed as soon as the piece is
   * copied, rather than at V8's next collection, which 64 KiB pipe reads
   * bring on only after 32 MiB of them.
   */
  let spent: Buffer | undefined;
  const headers = new Headers();
  /**
   * The archive's pieces in order: headers, each object's reads, padding,
   * the listing. A piece may be a buffer the generator writes again for
   * the next one (the headers, the staged objects' scratch buffer, the
   * listing's lines): the source below copies each piece whole before it
   * asks for the next, and nothing else is given one.
   */
  async function* gen(): AsyncGenerator<Buffer> {
    const head = Buffer.from(`${JSON.stringify({ format: FORMAT, version: 1, source, listedAt, objects: listed.length })}\n`);
    yield headers.write(HEAD, head.length, listedAt);
    yield head;
    yield pad(head.length);
    // Each object's SHA-256 (32 bytes, and a mark), its listing line made from them at the end: the listing is held once, not twice.
    const shas = Buffer.allocUnsafe(listed.length * 32);
    const marks = new Map<number, NonNullable<Line['changed']>>();
    const line = (i: number): string => {
      const o = listed.get(i);
      const changed = marks.get(i);
      const sha256 = shas.toString('hex', i * 32, i * 32 + 32);
      const l: Line = { key: o.key, size: o.size, mtime: o.modTime, sha256, ...(o.md5 ? { md5: o.md5 } : {}), ...(changed ? { changed } : {}) };
      return `${JSON.stringify(l)}\n`;
    };
    // The listing's size, counted as each object's line becomes known.
    let size = 0;
    let batch: Batch | undefined;
    let batchOk = false;
    for (let i = 0; i < listed.length; i++) {
      const o = listed.get(i);
      reading = i;
      fill();
      if (batch && i >= batch.to) {
        rmSync(batch.dir, { recursive: true, force: true });
        batch = undefined;
      }
      if (!batch && batches[0] && batches[0].from === i) {
        batch = batches.shift()!;
        batchOk = (await batch.copy.done) === 'ok';
        fill();
      }
      let src: ObjectBytes;
      const data = batch ? staged(batch, batchOk, i) : undefined;
      if (data) src = { chunks: one(data), ended: async () => 'ok' };
      else {
        const r = cats.get(i) ?? startCat(i);
        src = { chunks: chunksOf(r.stream), ended: () => r.ended, own: true };
      }
      yield headers.write(OBJECTS + o.key, o.size, o.modTime);
      const sha = createHash('sha256');
      const md5 = o.md5 ? createHash('md5') : undefined;
      let got = 0;
      let grew = false;
      for await (const c of src.chunks) {
        const want = o.size - got;
        const part = c.length > want ? c.subarray(0, want) : c;
        if (c.length > want) grew = true;
        if (!part.length) continue;
        got += part.length;
        // The reads started ahead wait their turn: progress here is theirs too.
        kickAll();
        progress();
        sha.update(part);
        md5?.update(part);
        // A read of `rclone cat` is this loop's alone (the stream that emitted it has let go of it): freed once copied.
        if (src.own) spent = c;
        yield part;
      }
      const how = await src.ended();
      cats.delete(i);
      let changed: Line['changed'];
      if (got < o.size) {
        // Gone or shrunk since the listing: its member is filled with zeros to the listed size, and marked.
        changed = how === 'gone' && got === 0 ? 'gone' : 'changed';
        const zeros = Buffer.alloc(Math.min(1 << 20, o.size - got));
        while (got < o.size) {
          const z = zeros.subarray(0, Math.min(zeros.length, o.size - got));
          sha.update(z);
          got += z.length;
          yield z;
        }
      } else if (grew) changed = 'changed';
      sha.digest().copy(shas, i * 32);
      const md5hex = md5?.digest('hex');
      if (!changed && o.md5 && md5hex !== o.md5) changed = 'changed';
      yield pad(o.size);
      if (changed) marks.set(i, changed);
      size += Buffer.byteLength(line(i));
    }
    if (batch) rmSync(batch.dir, { recursive: true, force: true });
    // The listing member, its size known already, then its lines a hundred at a time, each hundred written over the last.
    yield headers.write(LISTING, size, new Date().toISOString());
    let lines = Buffer.alloc(0);
    for (let i = 0; i < listed.length; i += 100) {
      let text = '';
      for (let j = i; j < Math.min(listed.length, i + 100); j++) text += line(j);
      const n = Buffer.byteLength(text);
      if (lines.length < n) lines = Buffer.allocUnsafe(Math.max(n, 64 << 10));
      lines.write(text, 0, 'utf8');
      yield lines.subarray(0, n);
    }
    yield pad(size);
    yield ZEROS;
  }
  // A backup that ends, or stops (an error downstream), leaves no rclone and nothing staged behind.
  let over = false;
  const close = () => {
    if (over) return;
    over = true;
    for (const r of cats.values()) r.kill();
    for (const b of batches) b.copy.kill();
    if (staging) rmSync(staging, { recursive: true, force: true });
    unregister?.();
  };
  const pieces = gen();
  /** The piece being copied out: the generator goes on only once it is copied whole. */
  let piece: Buffer | undefined;
  let owner: Buffer | undefined;
  let ended = false;
  return {
    async fill(buf, off, len) {
      let n = 0;
      while (n < len) {
        if (!piece?.length) {
          if (ended || over) break;
          const r = await pieces.next();
          if (r.done) {
            ended = true;
            close();
            break;
          }
          piece = r.value;
          owner = spent;
          spent = undefined;
          continue;
        }
        const k = Math.min(piece.length, len - n);
        piece.copy(buf, off + n, 0, k);
        piece = piece.subarray(k);
        n += k;
        if (!piece.length && owner) {
          release(owner);
          owner = undefined;
        }
      }
      if (over && !ended) throw new Error('the bucket archive was stopped');
      return n;
    },
    fail: () => {
      close();
      pieces.return(undefined).catch(() => undefined);
    },
    end: close,
  };
}

// ---- reading an archive back ----

/** What the full read found: every object's member checked against its listing line; the keys restores skip. */
interface Checked {
  objects: number;
  skipped: string[];
}

/** What a full read tells as it goes: each object's key, size and data as they pass (a restore writes them), each listing line once checked. */
interface OnArchive {
  start(key: string, size: number, mtime: number): void;
  data(chunk: Buffer): void;
  end(): void;
  /** Waited for after each chunk (a stream read only): backpressure from where the data goes. */
  drain?(): Promise<void>;
  /** Each line of the listing, once checked. */
  line?(l: Line): void;
}

/**
 * Reads an archive in full: the head, every object (its SHA-256, and its
 * MD5 where the store listed one, against its line of the listing), the
 * listing (one line per object, in order), the end. Pushed a piece at a
 * time, each done with once `push` returns (what it keeps, it copies);
 * `finish` checks the end and says what the read found.
 */
function archiveReader(on?: OnArchive): { push(chunk: Buffer): void; finish(): Checked } {
  let head: unknown;
  // The head member's bytes, decoded whole at its end (a character may straddle two pieces).
  const headBytes: Buffer[] = [];
  // Each object read (key, size, SHA-256, MD5), held compactly until its line of the listing, at the end, is checked against it.
  const seen = new ObjectList();
  /**
   * The bytes of the listing line cut by the end of the last piece (copied);
   * each line is decoded whole, never the whole piece as one string: a
   * character may straddle two pieces, and strings of a MiB that outlive a
   * collection or two make V8 grow its young generation.
   */
  let partial: Buffer | null = null;
  let lineNo = 0;
  let hash: { sha: Hash; md5: Hash } | undefined;
  let order = 0;
  let current = '';
  const skipped: string[] = [];
  const checkLine = (text: string) => {
    let l: Line;
    try {
      l = JSON.parse(text) as Line;
    } catch {
      throw new VaultError('verify-failed', `the listing's line ${lineNo + 1} is not JSON`);
    }
    if (lineNo >= seen.length) throw new VaultError('verify-failed', `the listing names ${JSON.stringify(l.key)}, which the archive does not hold`);
    const [size, sha, md5, key] = [seen.size(lineNo), seen.sha256(lineNo), seen.md5(lineNo), seen.key(lineNo)];
    if (l.key !== key) throw new VaultError('verify-failed', `object ${lineNo + 1} is ${JSON.stringify(key)}, the listing says ${JSON.stringify(l.key)}`);
    if (l.size !== size) throw new VaultError('verify-failed', `object ${JSON.stringify(key)} holds ${size} bytes, the listing says ${l.size}`);
    if (l.sha256 !== sha) throw new VaultError('verify-failed', `object ${JSON.stringify(key)}: its SHA-256 differs from the listing`);
    if (l.md5 && !l.changed && l.md5 !== md5)
      throw new VaultError('verify-failed', `object ${JSON.stringify(key)}: its MD5 differs from the one the store listed`);
    if (l.changed) skipped.push(l.key);
    on?.line?.(l);
    lineNo++;
  };
  const tar = new TarReader(
    (m) => {
      if (m.type !== 'file') throw new VaultError('verify-failed', `the archive holds ${m.path}, which is not a file: not a bucket archive`);
      if (order === 0) {
        if (m.path !== HEAD) throw new VaultError('verify-failed', `the archive does not start with ${HEAD}: not a bucket archive`);
        if (m.size > 1 << 16) throw new VaultError('verify-failed', `${HEAD} is too large`);
      } else if (m.path === LISTING) {
        current = LISTING;
      } else if (m.path.startsWith(OBJECTS) && current !== LISTING) {
        current = m.path.slice(OBJECTS.length);
        hash = { sha: createHash('sha256'), md5: createHash('md5') };
        on?.start(current, m.size, 0);
      } else throw new VaultError('verify-failed', `unexpected member ${JSON.stringify(m.path)} in a bucket archive`);
      order++;
      if (order === 2 && head === undefined) head = null;
    },
    (_m, chunk) => {
      if (order === 1) headBytes.push(Buffer.from(chunk));
      else if (current === LISTING) {
        let at = 0;
        for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, at)) {
          checkLine(partial ? Buffer.concat([partial, chunk.subarray(at, nl)]).toString('utf8') : chunk.toString('utf8', at, nl));
          partial = null;
          at = nl + 1;
        }
        if (at < chunk.length) partial = partial ? Buffer.concat([partial, chunk.subarray(at)]) : Buffer.from(chunk.subarray(at));
      } else {
        hash!.sha.update(chunk);
        hash!.md5.update(chunk);
        on?.data(chunk);
      }
    },
    (m) => {
      if (order === 1) {
        try {
          head = JSON.parse(Buffer.concat(headBytes).toString('utf8'));
        } catch {
          throw new VaultError('verify-failed', `${HEAD} is not JSON`);
        }
        if ((head as { format?: unknown }).format !== FORMAT) throw new VaultError('verify-failed', `${HEAD} is not of format ${FORMAT}`);
      } else if (current !== LISTING && hash) {
        seen.push({ key: current, size: m.size, modTime: '', md5: hash.md5.digest('hex'), sha256: hash.sha.digest('hex') });
        hash = undefined;
        on?.end();
      }
    },
  );
  const finish = (): Checked => {
    if (!tar.ended) throw new VaultError('verify-failed', 'the archive ends before its end marker: it was cut short');
    if (current !== LISTING) throw new VaultError('verify-failed', `the archive has no listing (${LISTING}): it was cut short`);
    if (partial) throw new VaultError('verify-failed', "the listing's last line is cut short");
    if (lineNo !== seen.length) throw new VaultError('verify-failed', `the archive holds ${seen.length} objects, its listing ${lineNo}`);
    const expect = (head as { objects?: unknown } | null)?.objects;
    if (expect !== seen.length) throw new VaultError('verify-failed', `${HEAD} says ${String(expect)} objects, the archive holds ${seen.length}`);
    return { objects: seen.length, skipped };
  };
  return { push: (c) => tar.push(c), finish };
}

/** An archive read in full from a stream (`archiveReader`), waiting for `on.drain` after each chunk. */
async function readArchive(r: Readable, on?: OnArchive): Promise<Checked> {
  const reader = archiveReader(on);
  for await (const c of r) {
    reader.push(c as Buffer);
    if (on?.drain) await on.drain();
  }
  return reader.finish();
}

/**
 * The full read as a consumer handed the run's own buffers (no copy of
 * the plaintext for it): each is read through before its write settles,
 * and the reader keeps copies only. Its verdict settles at the end, or
 * with the first failure.
 */
function readingSink(label: string, on?: OnArchive, after?: (c: Checked) => void): Consumer {
  return {
    kind: 'sink',
    label,
    start: () => {
      const reader = archiveReader(on);
      let settle!: { ok: () => void; fail: (e: unknown) => void };
      const done = new Promise<void>((ok, fail) => (settle = { ok, fail }));
      let over = false;
      const fail = (e: unknown) => {
        if (over) return;
        over = true;
        settle.fail(e);
      };
      const sink: Sink = {
        async write(buf) {
          if (over) throw new VaultError('interrupted', 'the read was stopped');
          try {
            reader.push(buf);
          } catch (e) {
            fail(e);
            throw e;
          }
        },
        async end() {
          if (over) throw new VaultError('interrupted', 'the read was stopped');
          try {
            // Read through to the end whoever asks for what it found (`after?.(…)` alone would skip the check).
            const checked = reader.finish();
            after?.(checked);
          } catch (e) {
            fail(e);
            throw e;
          }
          over = true;
          settle.ok();
        },
        fail,
      };
      return { sink, done, kill: () => fail(new VaultError('interrupted', 'the read was stopped')) };
    },
  };
}

// ---- restoring ----

/** A key as a path under a folder: relative, without `.` or `..` parts or empty ones; null when it cannot be one. */
function keyPath(key: string): string | null {
  const parts = key.split('/');
  return key.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\0')) ? null : key;
}

/**
 * The first pass of a restore: the full read, keeping the keys to skip
 * (changed while backed up); for a folder (`dir`), keys that cannot be
 * paths, and files there the tool guards (a vault, a key file, a share)
 * that an object would replace, even with force.
 */
function checkPass(skip: Set<string>, mtimes: Map<string, string>, dir?: string): { consumer: Consumer; after(): void } {
  let bad: string | undefined;
  const guarded: string[] = [];
  return {
    consumer: readingSink(
      'the objects against their listing',
      {
        start: (key) => {
          if (dir === undefined) return;
          if (keyPath(key) === null) bad ??= key;
          else {
            const what = guardedAt(join(dir, key));
            if (what) guarded.push(`${join(dir, key)} (${what})`);
          }
        },
        data: () => undefined,
        end: () => undefined,
        line: (l) => {
          if (l.mtime) mtimes.set(l.key, l.mtime);
        },
      },
      (c) => {
        for (const k of c.skipped) skip.add(k);
      },
    ),
    after() {
      if (bad) throw new VaultError('usage', `object ${JSON.stringify(bad)} cannot be a file name in a folder: restore into a bucket instead`);
      if (guarded.length) throw refusedAsGuarded(guarded);
    },
  };
}

/** Into a bucket prefix: each object uploaded under PREFIX/KEY (a few at once), its modification time kept; refused where objects are, without `force`. */
function intoBucket(req: RestoreRequest): Restorer {
  const to = remoteOf(req.to!);
  const force = Boolean(req.force);
  const skip = new Set<string>();
  const mtimes = new Map<string, string>();
  return {
    where: `bucket ${to}`,
    label: to,
    record: { force },
    guard: () => bucketTarget(to),
    async precheck(env) {
      if (!force && (await holdsObjects({ env }, to)))
        throw new VaultError('exists', `${to} holds objects: restoring would mix them with the backup's`, { code: 'restore-bucket-not-empty' });
    },
    check: () => checkPass(skip, mtimes),
    async land(env) {
      const io = { env };
      const written: string[] = [];
      const inFlight = new Set<Promise<void>>();
      let failed: unknown;
      let up: ReturnType<typeof writeObject> | undefined;
      let skipping = false;
      const watch = (p: Promise<void>) => {
        const q = p.then(
          () => {
            inFlight.delete(q);
          },
          (e) => {
            inFlight.delete(q);
            failed ??= e;
          },
        );
        inFlight.add(q);
      };
      const all = { kill: () => up?.kill() };
      return {
        staged: false,
        consumer: {
          kind: 'inline',
          label: to,
          consume: async (r) => {
            await readArchive(r, {
              start(key, size) {
                skipping = skip.has(key);
                if (skipping) return;
                if (failed) throw failed;
                up = writeObject(io, `${to}/${key}`, size, mtimes.get(key));
                written.push(key);
              },
              data(chunk) {
                if (!skipping) up!.stream.write(chunk);
              },
              end() {
                if (skipping || !up) return;
                up.stream.end();
                watch(up.done);
                up = undefined;
              },
              async drain() {
                if (failed) throw failed;
                const s = up?.stream as (NodeJS.WritableStream & { writableNeedDrain?: boolean }) | undefined;
                if (s?.writableNeedDrain) await new Promise<void>((res) => (s as NodeJS.WritableStream).once('drain', () => res()));
                while (inFlight.size >= UPLOADS) await Promise.race(inFlight);
                if (failed) throw failed;
              },
            });
            await Promise.all(inFlight);
            if (failed) throw failed;
          },
        },
        commit: async () => undefined,
        // What this restore uploaded goes again (into a prefix that held nothing; with force, what it replaced cannot come back).
        abort: async () => {
          all.kill();
          await Promise.allSettled(inFlight);
          if (!force) await removeObjects(io, to, written).catch(() => undefined);
        },
      };
    },
  };
}

/** Into a folder: each object as DIR/KEY, extracted into a staging folder beside it and moved into place; a folder that holds files is refused without `force`. */
function intoFolder(req: RestoreRequest): Restorer {
  const dir = req.dir!;
  const force = Boolean(req.force);
  const skip = new Set<string>();
  const mtimes = new Map<string, string>();
  return {
    where: dir,
    label: dir,
    record: { force },
    guard: () => pathTarget('folders', dir),
    async precheck() {
      if (!force && existsSync(dir) && readdirSync(dir).length)
        throw new VaultError('exists', `${dir} holds files: restoring would mix them with the backup's`, { code: 'restore-files-exist' });
    },
    check: () => checkPass(skip, mtimes, dir),
    async land() {
      const parent = dirname(dir);
      const made = makeDirs(parent);
      const staging = join(parent, `.${basename(dir)}.restore-${randomHex(4)}`);
      mkdirSync(staging, { mode: 0o700 });
      let fd: number | undefined;
      let path = '';
      let key = '';
      const clean = () => rmSync(staging, { recursive: true, force: true });
      return {
        staged: true,
        consumer: {
          kind: 'inline',
          label: dir,
          consume: async (r) => {
            await readArchive(r, {
              start(k) {
                if (skip.has(k)) return;
                key = k;
                path = join(staging, keyPath(k)!);
                mkdirSync(dirname(path), { recursive: true });
                fd = openSync(path, 'wx', 0o600);
              },
              data(chunk) {
                if (fd !== undefined) writeSync(fd, chunk);
              },
              end() {
                if (fd === undefined) return;
                closeSync(fd);
                fd = undefined;
                const t = Date.parse(mtimes.get(key) ?? '');
                if (!Number.isNaN(t)) utimesSync(path, t / 1000, t / 1000);
              },
            });
          },
        },
        async commit() {
          try {
            if (!existsSync(dir)) renameSync(staging, dir);
            else merge(staging, dir);
          } finally {
            clean();
          }
        },
        async abort() {
          if (fd !== undefined) closeSync(fd);
          clean();
          for (const d of [...made].reverse()) rmSync(d, { recursive: true, force: true });
        },
      };
    },
  };
}

/** Moves what a staging folder holds into `dir`, replacing files (the restore was asked to, with force), never one the tool guards. */
function merge(from: string, dir: string): void {
  for (const name of readdirSync(from)) {
    const a = join(from, name);
    const b = join(dir, name);
    const there = existsSync(b) ? lstatSync(b) : undefined;
    if (there?.isDirectory() && lstatSync(a).isDirectory()) merge(a, b);
    else {
      const guarded = there ? guardedAt(b) : null;
      if (guarded) throw refusedAsGuarded([`${b} (${guarded})`]);
      if (there?.isDirectory()) rmSync(b, { recursive: true, force: true });
      renameSync(a, b);
    }
  }
}

// ---- the drill's check ----

/**
 * `{ objectsFromSql: "select key from proofs where …", database: drill_app, prefix: s3:scratch/drill }`:
 * every key the query returns (one per row, read-only, in a scratch
 * database of the plan) is an object of the scratch prefix, and reads.
 */
const keysCheck: DrillCheckSpec = {
  key: 'objectsFromSql',
  kind: 'bucket-keys',
  tools: [{ command: 'psql', pkg: 'postgresql-client' }],
  shape: (prefix) =>
    map(
      object({ objectsFromSql: string(), database: string({ pattern: /^[a-z_][a-z0-9_]{0,62}$/, want: 'a scratch database of the plan' }), prefix }),
      (c): KindCheck => ({ kind: 'bucket-keys', prefix: c.prefix, database: c.database, sql: c.objectsFromSql }),
    ),
  reads: (c) => ({ database: c.database as string }),
  describe: (c) => `${c.prefix as string}: every key ${JSON.stringify(c.sql)} returns in ${c.database as string}`,
  async run(c, on) {
    const out = await psqlRead(`${c.sql as string};\n`, {}, { env: on.env, timeoutMs: on.timeoutMs }, c.database as string);
    const keys = out.split('\n').filter(Boolean);
    const listed = await listObjects({ env: on.env }, on.at);
    const have = new Set<string>();
    for (let i = 0; i < listed.length; i++) have.add(listed.key(i));
    const missing = keys.filter((k) => !have.has(k));
    if (missing.length)
      throw new Error(
        `${missing.length} of ${keys.length} keys are not objects of ${on.at}: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`,
      );
    return `${on.at}: all ${keys.length} keys the query returns are objects there`;
  },
};

export const bucket: BackupKind<BucketOptions> = defineKind({
  name: 'bucket',
  folder: 'bucket',
  label: 'bucket',
  ext: 'tar',
  dump,
  // A head member, a listing and the end marker: at least four blocks, whole blocks.
  shape: (_head, size) => (size < 4 * BLOCK || size % BLOCK !== 0 ? `its output (${size} bytes) is not a bucket archive` : null),
  verifier: () => readingSink('the objects against their listing'),
  restore: { needs: 'bucket', target: (req) => (req.to ? intoBucket(req) : intoFolder(req)) },
  drill: {
    scratch: 'prefix',
    tools: [{ command: 'rclone', pkg: 'rclone' }],
    checks: [keysCheck],
  },
});
