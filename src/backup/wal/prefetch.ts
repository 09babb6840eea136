import { lchownSync, readdirSync, readFileSync, renameSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';
import { VaultError } from '../../errors/errors.js';
import { registerCleanup } from '../../fs/cleanup.js';
import { exists, makeDir, makeDirs } from '../../fs/dirs.js';
import { acquireLock } from '../../fs/lock.js';
import type { Repo } from '../repo.js';
import { readArchiveInfo } from './archive.js';
import { fetchToFile } from './fetch.js';
import { type OpenPool, openPool } from './open-pool.js';
import type { ReadKeys } from './identity.js';
import { looksLikeWalName, parseWalName, segmentName } from './names.js';
import { identityAt } from './spool.js';
import { lowerSessionPriority, WORKER_NICE } from '../../age/workers.js';

/**
 * Asynchronous restores, as pgBackRest's archive-get async: while
 * PostgreSQL replays one segment, a prefetcher fetches the next ones
 * (every check of `wal-fetch`: a trusted manifest, the stored SHA-256,
 * decryption, size, page headers) into the spool, and restore_command (the
 * spool's `restore.sh`, restore-script.ts) only moves the file PostgreSQL
 * asks for into place, without starting vault-tool:
 *
 *   SPOOL/in/NAME          a segment fetched and checked, whole (written in SPOOL/tmp, renamed once every check passed)
 *   SPOOL/ok/NAME          the identity of in/NAME as the prefetcher left it (`stat -c %d:%i:%s:%.9Y:%.9Z`):
 *                          written after in/NAME is in place; a file whose identity differs (written, replaced,
 *                          put there by anything else) is never handed over
 *   SPOOL/pending/NAME     a segment the prefetcher is about to fetch, in order: restore_command waits for it
 *                          (while the prefetcher lives) rather than fetch it a second time
 *   SPOOL/ask/NAME         a file restore_command asks the running prefetcher for (one it had not marked pending):
 *                          answered at once from the archive, fetched and checked into in/ and ok/ as above, or
 *   SPOOL/absent/NAME      the archive's answer that it does not hold NAME, read as wal-fetch's exit 1 (an ask
 *                          answered otherwise, or not at all, is wal-fetch's to answer)
 *   SPOOL/want             the name restore_command last had to fetch itself: where PostgreSQL is
 *   SPOOL/first            the first segment the recovery reads (written by the restore): where a prefetcher
 *                          starts before restore_command has fetched anything
 *   SPOOL/last             the segment the restore expects the recovery to reach its target in (written by
 *                          the restore): the prefetcher fetches no further than the one after it on its
 *                          timeline (PostgreSQL may read a little ahead) until the server takes a later one
 *                          (the target further on: archiving lagged at the target time), then as without it
 *   SPOOL/prefetcher.lock  the running prefetcher (pid, host, since), SPOOL/prefetcher.pid its pid
 *   SPOOL/starting         a prefetcher started and not yet running (removed when it runs, or leaves)
 *
 * The prefetcher keeps `queue` segments ahead of the newest one PostgreSQL
 * took (one it fetched and no longer finds in `in/`, or `want`) on the same
 * timeline; a segment the archive does not hold, or one that fails a check,
 * is never put in `in/` and loses its `pending/` mark: restore_command then
 * fetches it itself, with its own answer (absent: recovery ends; a failure:
 * recovery stops). A file in `in/` is only ever what a full fetch produced;
 * the spool is 0700, the server's, like pg_wal. The prefetcher leaves after
 * `idleMs` without a segment taken, and takes its files with it.
 */
export interface FetchSpool {
  root: string;
  in: string;
  ok: string;
  pending: string;
  ask: string;
  absent: string;
  tmp: string;
}

/**
 * The spool's folders, made 0700 where missing. The spool itself is made
 * only inside a folder that is there (the data directory): a prefetcher
 * that starts after its restore's data directory was removed (a failed
 * restore, one removed at once) never makes it again.
 */
export function openFetchSpool(root: string): FetchSpool {
  if (!exists(dirname(root)))
    throw new VaultError('not-found', `${root}: the folder it goes in (${dirname(root)}) is not there; a spool is made only inside an existing folder`);
  makeDir(root, 0o700, true);
  const s = {
    root,
    in: join(root, 'in'),
    ok: join(root, 'ok'),
    pending: join(root, 'pending'),
    ask: join(root, 'ask'),
    absent: join(root, 'absent'),
    tmp: join(root, 'tmp'),
  };
  for (const d of [s.in, s.ok, s.pending, s.ask, s.absent, s.tmp]) makeDirs(d);
  return s;
}

/** The first segment a restore's recovery reads, recorded for the prefetcher (SPOOL/first). */
export function setFirst(spool: FetchSpool, name: string): void {
  writeFileSync(join(spool.root, 'first'), `${name}\n`, { mode: 0o600 });
}

/** The segment the restore expects the recovery to reach its target in, recorded for the prefetcher (SPOOL/last): its bound. */
export function setLast(spool: FetchSpool, name: string): void {
  writeFileSync(join(spool.root, 'last'), `${name}\n`, { mode: 0o600 });
}

/** Where the prefetcher stops on a timeline (SPOOL/last's segment and the one after it), or null: no bound recorded. */
function boundOf(spool: FetchSpool, size: number): { timeline: number; segno: bigint } | null {
  let name: string;
  try {
    name = readFileSync(join(spool.root, 'last'), 'utf8').trim();
  } catch {
    return null;
  }
  const w = parseWalName(name, size);
  return w?.kind === 'segment' ? { timeline: w.timeline, segno: w.segno + 1n } : null;
}

/** Where a prefetcher starts: the segment restore_command last fetched itself, or else the restore's first (SPOOL/first). */
export function startOf(spool: FetchSpool): { name: string; taken: boolean } | null {
  const want = readWant(spool);
  if (want) return { name: want, taken: true };
  try {
    const first = readFileSync(join(spool.root, 'first'), 'utf8').trim();
    return first ? { name: first, taken: false } : null;
  } catch {
    return null;
  }
}

/** Marks the segments a prefetcher is about to fetch (restore_command waits for them while it runs). */
export function markPending(spool: FetchSpool, names: string[]): void {
  for (const n of names) writeFileSync(join(spool.pending, n), '', { mode: 0o600 });
}

/** Whether a prefetcher was started within the last `ms` and does not run yet (SPOOL/starting); else marks one started now. */
export function startingNow(spool: FetchSpool, ms: number): boolean {
  const f = join(spool.root, 'starting');
  try {
    if (Date.now() - statSync(f).mtimeMs < ms) return true;
  } catch {
    /* none */
  }
  writeFileSync(f, '', { mode: 0o600 });
  return false;
}

/** A prefetcher that was starting will not run. */
export function notStarting(spool: FetchSpool): void {
  rmSync(join(spool.root, 'starting'), { force: true });
}

/** Records where PostgreSQL is: the segment restore_command is fetching itself. */
export function setWant(spool: FetchSpool, name: string): void {
  writeFileSync(join(spool.root, 'want'), `${name}\n`, { mode: 0o600 });
}

const readWant = (spool: FetchSpool): string | null => {
  try {
    return readFileSync(join(spool.root, 'want'), 'utf8').trim() || null;
  } catch {
    return null;
  }
};

export interface PrefetchOptions {
  spool: FetchSpool;
  repo: Repo;
  cluster: string;
  keys: ReadKeys;
  /** Segments kept ready ahead of PostgreSQL. */
  queue: number;
  /** Segments read at once, each on a worker thread (default 2). */
  jobs?: number;
  idleMs: number;
  onFetched?: (name: string) => void;
  onFailed?: (name: string, e: Error) => void;
}

/** The prefetcher; returns when idle, or at once when one already runs for the spool. */
export async function runPrefetcher(o: PrefetchOptions): Promise<{ fetched: number; running: boolean }> {
  let release: () => void;
  try {
    release = await acquireLock(join(o.spool.root, 'prefetcher'), 0);
  } catch (e) {
    if (e instanceof VaultError && e.kind === 'locked') return { fetched: 0, running: true };
    throw e;
  }
  const pidFile = join(o.spool.root, 'prefetcher.pid');
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  // In a session of its own (restore.sh starts it with setsid): below the server it works for, whose replay is what the
  // recovery waits on, as the stream workers are below the thread that moves the bytes (it runs ahead, a queue of segments).
  lowerSessionPriority({ readFileSync, writeFileSync }, WORKER_NICE);
  // Started: restore_command's script may start another once this one is gone.
  rmSync(join(o.spool.root, 'starting'), { force: true });
  /**
   * Whether the server has taken anything yet. A prefetcher the restore started leaves, once idle, the segments the restore
   * placed (and their records) for a server started later; one the server used takes all its files with it.
   */
  let used = false;
  /** The files placed before this one ran (by the restore, or a prefetcher before it) and still there. */
  const kept = new Set<string>();
  const wipe = () => {
    for (const d of [o.spool.pending, o.spool.ok, o.spool.in, o.spool.ask, o.spool.absent, o.spool.tmp])
      for (const n of readdirSync(d)) if (used || !kept.has(n) || (d !== o.spool.in && d !== o.spool.ok)) rmSync(join(d, n), { force: true });
  };
  const dropPid = registerCleanup(() => {
    rmSync(pidFile, { force: true });
    wipe();
  });
  let watcher: FSWatcher | undefined;
  let asks: FSWatcher | undefined;
  let pool: OpenPool | undefined;
  let stopAll: () => Promise<void> = async () => undefined;
  try {
    // Files checked and recorded before (by the restore, or a prefetcher before this one) stay, as fetched; anything else goes
    // (pending/ marks stay until this one's own replace them).
    for (const n of readdirSync(o.spool.in)) {
      const id = identityAt(join(o.spool.in, n));
      if (id !== null && id === readRecord(join(o.spool.ok, n))) kept.add(n);
      else rmSync(join(o.spool.in, n), { force: true });
    }
    for (const n of readdirSync(o.spool.ok)) if (!kept.has(n)) rmSync(join(o.spool.ok, n), { force: true });
    for (const d of [o.spool.absent, o.spool.tmp]) for (const n of readdirSync(d)) rmSync(join(d, n), { force: true });
    const info = await readArchiveInfo(o.repo, o.cluster);
    if (!info) return { fetched: 0, running: false };
    const size = info.segmentSize;
    let bound = boundOf(o.spool, size);
    let wake: (() => void) | undefined;
    try {
      watcher = watch(o.spool.in, () => wake?.());
      asks = watch(o.spool.ask, () => wake?.());
    } catch {
      /* looked at every 200 ms instead */
    }
    /** The newest segment PostgreSQL took: its timeline and number. */
    let at: { timeline: number; segno: bigint } | null = null;
    let lastWant: string | null = null;
    const fetched = new Set<string>(kept);
    /** Names not to try again before a time: absent (the archive may grow), or failed. */
    const later = new Map<string, number>();
    let count = 0;
    let lastTaken = Date.now();
    const jobs = Math.max(1, o.jobs ?? 2);
    pool = openPool(jobs);
    const inflight = new Map<string, Promise<void>>();
    /** The pending/ marks (those the process that started this one made, then this one's). */
    const marks = new Set(readdirSync(o.spool.pending));
    /** A file fetched and checked in full, moved into in/, then its identity recorded in ok/. */
    const place = (name: string, tmp: string) => {
      const placed = join(o.spool.in, name);
      renameSync(tmp, placed);
      // Its identity once in place (a rename changes ctime): restore_command hands over only the file so named.
      const id = identityAt(placed);
      if (id) writeFileAtomicQuick(join(o.spool.ok, name), `${id}\n`);
      fetched.add(name);
      later.delete(name);
      count++;
      o.onFetched?.(name);
    };
    const fetchOne = async (next: string): Promise<void> => {
      const tmp = join(o.spool.tmp, `${next}.${process.pid}`);
      try {
        const r = await fetchToFile(o.repo, o.cluster, next, o.keys, pool!, tmp);
        if (r.status === 'restored') place(next, tmp);
        else later.set(next, Date.now() + 2_000);
      } catch (e) {
        rmSync(tmp, { force: true });
        later.set(next, Date.now() + 30_000);
        o.onFailed?.(next, e as Error);
      } finally {
        rmSync(join(o.spool.pending, next), { force: true });
        marks.delete(next);
      }
    };
    stopAll = async () => {
      await Promise.allSettled([...inflight.values()]);
      while (answering.size) await new Promise((r) => setTimeout(r, 20));
    };
    // Before restore_command has fetched anything itself: from the restore's first segment.
    const start = startOf(o.spool);
    if (start && !start.taken) {
      const w = parseWalName(start.name, size);
      if (w?.kind === 'segment' && w.segno > 0n) at = { timeline: w.timeline, segno: w.segno - 1n };
    }
    /** Questions being answered (SPOOL/ask). */
    const answering = new Set<string>();
    const answer = async (name: string): Promise<void> => {
      const tmp = join(o.spool.tmp, `${name}.${process.pid}`);
      try {
        const w = parseWalName(name, size);
        if (w?.kind === 'segment') {
          // PostgreSQL is here: the prefetcher follows (as with want).
          at = { timeline: w.timeline, segno: w.segno - 1n };
          lastTaken = Date.now();
        }
        const r = await fetchToFile(o.repo, o.cluster, name, o.keys, pool!, tmp);
        if (r.status === 'restored') place(name, tmp);
        else {
          later.set(name, Date.now() + 2_000);
          if (r.note) o.onFailed?.(name, new Error(r.note));
          writeFileAtomicQuick(join(o.spool.absent, name), '');
        }
      } catch (e) {
        // No answer: restore_command runs wal-fetch, whose answer (and message) PostgreSQL gets.
        rmSync(tmp, { force: true });
        o.onFailed?.(name, e as Error);
      } finally {
        rmSync(join(o.spool.ask, name), { force: true });
        answering.delete(name);
      }
    };
    for (;;) {
      for (const n of readdirSync(o.spool.ask)) {
        if (answering.has(n) || !looksLikeWalName(n)) continue;
        // In in/ already (restore_command takes it from there), or being fetched (answered when placed).
        if (fetched.has(n)) rmSync(join(o.spool.ask, n), { force: true });
        if (fetched.has(n) || inflight.has(n)) continue;
        answering.add(n);
        lastTaken = Date.now();
        const p = answer(n).finally(() => {
          inflight.delete(n);
          wake?.();
        });
        used = true;
        if (parseWalName(n, size)?.kind === 'segment') inflight.set(n, p);
      }
      const want = readWant(o.spool);
      const present = new Set(readdirSync(o.spool.in).filter((n) => !n.startsWith('.')));
      if (want && want !== lastWant) {
        lastWant = want;
        used = true;
        const w = parseWalName(want, size);
        if (w?.kind === 'segment') {
          at = { timeline: w.timeline, segno: w.segno };
          lastTaken = Date.now();
        }
      }
      // Taken by restore_command: fetched here, gone from in/.
      for (const n of fetched) {
        if (present.has(n)) continue;
        fetched.delete(n);
        kept.delete(n);
        used = true;
        rmSync(join(o.spool.ok, n), { force: true });
        const w = parseWalName(n, size);
        if (w?.kind === 'segment' && (!at || w.timeline !== at.timeline || w.segno > at.segno)) at = { timeline: w.timeline, segno: w.segno };
        lastTaken = Date.now();
      }
      if (at) {
        // Files behind PostgreSQL, or of another timeline: never to be asked for.
        for (const n of present) {
          const w = parseWalName(n, size);
          if (w?.kind === 'segment' && (w.timeline !== at.timeline || w.segno <= at.segno)) {
            rmSync(join(o.spool.in, n), { force: true });
            rmSync(join(o.spool.ok, n), { force: true });
            fetched.delete(n);
          }
        }
        // The segments to fetch, in order, up to `queue` ahead; not past one the archive did not have or that failed.
        const now = Date.now();
        const window: string[] = [];
        // Past the bound the server took a segment: the target lies further than the restore could tell (archiving lagged
        // behind the writes at the target time), and the read-ahead goes on as without it.
        if (bound && bound.timeline === at.timeline && at.segno > bound.segno) bound = null;
        for (let i = 1n; i <= BigInt(o.queue); i++) {
          if (bound && bound.timeline === at.timeline && at.segno + i > bound.segno) break;
          const n = segmentName(at.timeline, at.segno + i, size);
          if (fetched.has(n)) continue;
          if ((later.get(n) ?? 0) > now) break;
          window.push(n);
        }
        // restore_command waits for a pending segment while this process lives, and fetches any other itself.
        const marked = new Set(window);
        for (const n of marks)
          if (!marked.has(n)) {
            rmSync(join(o.spool.pending, n), { force: true });
            marks.delete(n);
          }
        const unmarked = window.filter((n) => !marks.has(n));
        markPending(o.spool, unmarked);
        for (const n of unmarked) marks.add(n);
        // Up to `jobs` read at once, each on a worker (open-pool.ts); restore_command waits for the one it wants.
        for (const next of window) {
          if (inflight.size >= jobs) break;
          if (inflight.has(next)) continue;
          inflight.set(
            next,
            fetchOne(next).finally(() => {
              inflight.delete(next);
              wake?.();
            }),
          );
        }
      }
      if (Date.now() - lastTaken >= o.idleMs && !inflight.size && !answering.size) return { fetched: count, running: false };
      await new Promise<void>((res) => {
        const timer = setTimeout(res, 200);
        wake = () => {
          clearTimeout(timer);
          res();
        };
      });
      wake = undefined;
    }
  } finally {
    await stopAll();
    await pool?.close();
    watcher?.close();
    asks?.close();
    rmSync(pidFile, { force: true });
    rmSync(join(o.spool.root, 'starting'), { force: true });
    wipe();
    dropPid();
    release();
  }
}

/** Records the identity of files put in in/ (after every check) in ok/, with the owner of in/ (restore_command's user). */
export function recordPlaced(spool: FetchSpool, names: string[]): void {
  const owner = statSync(spool.in);
  for (const n of names) {
    const id = identityAt(join(spool.in, n));
    if (!id) continue;
    const ok = join(spool.ok, n);
    writeFileAtomicQuick(ok, `${id}\n`);
    lchownSync(ok, owner.uid, owner.gid);
  }
}

/** A small file written under a temp name, then renamed: whole or absent. */
function writeFileAtomicQuick(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** An ok/ record (the identity it names), or null. */
function readRecord(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * restore_command's own look (when the shell's did not find it): the
 * prefetched file moved to `target` (a rename: the spool is on the data
 * directory's file system), or false. Only a file whose identity is the one
 * the prefetcher recorded is taken; any other in its place is removed.
 */
export function takePrefetched(spool: FetchSpool, name: string, target: string): boolean {
  const placed = join(spool.in, name);
  let ok: string | null;
  try {
    ok = readFileSync(join(spool.ok, name), 'utf8').trim();
  } catch {
    ok = null;
  }
  const id = identityAt(placed);
  if (id === null) return false;
  if (ok !== id) {
    rmSync(placed, { force: true });
    return false;
  }
  try {
    renameSync(placed, target);
  } catch {
    return false;
  }
  rmSync(join(spool.ok, name), { force: true });
  return true;
}
