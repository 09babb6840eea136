import { readdirSync, readFileSync, renameSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { VaultError } from '../../errors/errors.js';
import { registerCleanup } from '../../fs/cleanup.js';
import { makeDirs } from '../../fs/dirs.js';
import { acquireLock } from '../../fs/lock.js';
import type { Repo } from '../repo.js';
import { readArchiveInfo } from './archive.js';
import { readArchived } from './fetch.js';
import type { ReadKeys } from './identity.js';
import { parseWalName, segmentName } from './names.js';

/**
 * Asynchronous restores, as pgBackRest's archive-get async: while
 * PostgreSQL replays one segment, a prefetcher fetches the next ones
 * (every check of `wal-fetch`: a trusted manifest, the stored SHA-256,
 * decryption, size and SHA-256, page headers) into the spool, and
 * restore_command only moves the file PostgreSQL asks for into place:
 *
 *   SPOOL/in/NAME          a segment fetched and checked, whole (written under a temp name, then renamed)
 *   SPOOL/want             the name restore_command last had to fetch itself: where PostgreSQL is
 *   SPOOL/prefetcher.lock  the running prefetcher (pid, host, since), SPOOL/prefetcher.pid its pid
 *
 * The prefetcher keeps `queue` segments ahead of the newest one PostgreSQL
 * took (one it fetched and no longer finds in `in/`, or `want`) on the same
 * timeline; a segment the archive does not hold, or one that fails a check,
 * is never put in `in/`: restore_command then fetches it itself, with its
 * own answer (absent: recovery ends; a failure: recovery stops). A file in
 * `in/` is only ever what a full fetch produced; the spool is 0700, the
 * server's, like pg_wal. The prefetcher leaves after `idleMs` without a
 * segment taken, and takes its files with it.
 */
export interface FetchSpool {
  root: string;
  in: string;
}

export function openFetchSpool(root: string): FetchSpool {
  const s = { root, in: join(root, 'in') };
  makeDirs(s.in);
  return s;
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
  const wipe = () => {
    for (const n of readdirSync(o.spool.in)) rmSync(join(o.spool.in, n), { force: true });
  };
  const dropPid = registerCleanup(() => {
    rmSync(pidFile, { force: true });
    wipe();
  });
  let watcher: FSWatcher | undefined;
  try {
    wipe();
    const info = await readArchiveInfo(o.repo, o.cluster);
    if (!info) return { fetched: 0, running: false };
    const size = info.segmentSize;
    let wake: (() => void) | undefined;
    try {
      watcher = watch(o.spool.in, () => wake?.());
    } catch {
      /* looked at every 200 ms instead */
    }
    /** The newest segment PostgreSQL took: its timeline and number. */
    let at: { timeline: number; segno: bigint } | null = null;
    let lastWant: string | null = null;
    const fetched = new Set<string>();
    /** Names not to try again before a time: absent (the archive may grow), or failed. */
    const later = new Map<string, number>();
    let count = 0;
    let lastTaken = Date.now();
    for (;;) {
      const want = readWant(o.spool);
      const present = new Set(readdirSync(o.spool.in).filter((n) => !n.startsWith('.')));
      if (want && want !== lastWant) {
        lastWant = want;
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
        const w = parseWalName(n, size);
        if (w?.kind === 'segment' && (!at || w.timeline !== at.timeline || w.segno > at.segno)) at = { timeline: w.timeline, segno: w.segno };
        lastTaken = Date.now();
      }
      if (at) {
        // Files behind PostgreSQL, or of another timeline: never to be asked for.
        for (const n of present) {
          const w = parseWalName(n, size);
          if (w?.kind !== 'segment' || w.timeline !== at.timeline || w.segno <= at.segno) {
            rmSync(join(o.spool.in, n), { force: true });
            fetched.delete(n);
          }
        }
        const now = Date.now();
        let next: string | null = null;
        for (let i = 1n; i <= BigInt(o.queue); i++) {
          const n = segmentName(at.timeline, at.segno + i, size);
          if (fetched.has(n)) continue;
          if ((later.get(n) ?? 0) > now) break;
          next = n;
          break;
        }
        if (next) {
          try {
            const r = await readArchived(o.repo, o.cluster, next, o.keys);
            if (r.status === 'restored') {
              const tmp = join(o.spool.in, `.${next}.${process.pid}.tmp`);
              writeFileSync(tmp, r.plaintext!, { mode: 0o600 });
              renameSync(tmp, join(o.spool.in, next));
              fetched.add(next);
              later.delete(next);
              count++;
              o.onFetched?.(next);
            } else later.set(next, Date.now() + 2_000);
          } catch (e) {
            later.set(next, Date.now() + 30_000);
            o.onFailed?.(next, e as Error);
          }
          continue;
        }
      }
      if (Date.now() - lastTaken >= o.idleMs) return { fetched: count, running: false };
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
    watcher?.close();
    rmSync(pidFile, { force: true });
    wipe();
    dropPid();
    release();
  }
}

/**
 * restore_command's own look (when the shell's did not find it): the
 * prefetched file moved to `target` (a rename: the spool is on the data
 * directory's file system), or false.
 */
export function takePrefetched(spool: FetchSpool, name: string, target: string): boolean {
  try {
    renameSync(join(spool.in, name), target);
    return true;
  } catch {
    return false;
  }
}
