import { type BigIntStats, lstatSync, readFileSync, rmSync, watch } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '../../fs/atomic.js';
import { makeDirs } from '../../fs/dirs.js';
import type { LockInfo } from '../../fs/lock.js';

/**
 * Asynchronous archiving, as pgBackRest's archive-async: one long-lived
 * pusher pushes every file PostgreSQL has marked ready
 * (`pg_wal/archive_status/NAME.ready`), ahead of the archiver, without a
 * process start per segment; archive_command only looks for the pusher's
 * acknowledgement and returns.
 *
 * The guarantee is PostgreSQL's own: archive_command succeeds only for a
 * file that is in the repository. An acknowledgement is written only after
 * the file and its manifest are committed there (written and synced), and
 * it names the very file that was read (`stat -c %d:%i:%s:%.9Y:%.9Z`:
 * device, inode, size, modified, changed), so it counts only for that file, never
 * for another of the same name (another cluster, a data directory made
 * again). No WAL is copied into the spool: until its push is acknowledged a
 * segment stays in pg_wal, where PostgreSQL keeps it, counts it in
 * pg_stat_archiver and retries it. Acknowledgements are hints: lost (a
 * crash, a pusher started again) the push runs again and finds the file
 * archived; a pusher that died, hangs or fails leaves archive_command to
 * push the file itself. The pusher is pusher.ts; this file is what
 * archive_command needs, and loads nothing else.
 *
 *   SPOOL/pusher.lock    the running pusher (pid, host, since)
 *   SPOOL/pusher.pid     its pid alone, for archive_command's shell (`kill -0`)
 *   SPOOL/ok/NAME        the acknowledgement: the identity of the file pushed
 *   SPOOL/error/NAME     why the pusher could not push it (archive_command then pushes it itself)
 */
export interface Spool {
  root: string;
  ok: string;
  error: string;
}

export function openSpool(root: string): Spool {
  const s = { root, ok: join(root, 'ok'), error: join(root, 'error') };
  makeDirs(s.ok);
  makeDirs(s.error);
  return s;
}

const read = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

const seconds = (ns: bigint) => `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;

/**
 * A file's identity as coreutils' `stat -c %d:%i:%s:%.9Y:%.9Z` prints it:
 * device, inode, size, modified and changed (to the nanosecond the file
 * system keeps). Any write, rename or new file changes it.
 */
export function identityOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${seconds(st.mtimeNs)}:${seconds(st.ctimeNs)}`;
}

/** The identity of the file at `path`, as the acknowledgement names it; null when it cannot be read. */
export function identityAt(path: string): string | null {
  try {
    return identityOf(lstatSync(path, { bigint: true }));
  } catch {
    return null;
  }
}

/** Takes the pusher's acknowledgement of `path` (removing it): true only when it names this very file. */
export function takeAck(spool: Spool, name: string, path: string): boolean {
  const ack = read(join(spool.ok, name));
  if (ack === null || ack.trim() !== identityAt(path)) return false;
  rmSync(join(spool.ok, name), { force: true });
  return true;
}

/** Why the pusher could not push `name`, if it said so (the message is taken: the next attempt waits for a new answer). */
export function takeFailure(spool: Spool, name: string): string | null {
  const m = read(join(spool.error, name));
  if (m !== null) rmSync(join(spool.error, name), { force: true });
  return m;
}

/** The pusher running for this spool on this host, if any. */
export function runningPusher(spool: Spool): LockInfo | null {
  return lockHolder(spool.root, 'pusher');
}

/** The live process holding `<root>/<name>.lock` on this host, if any. */
export function lockHolder(root: string, name: string): LockInfo | null {
  const text = read(join(root, `${name}.lock`));
  if (!text) return null;
  try {
    const l = JSON.parse(text) as LockInfo;
    return l.host === hostname() && pidAlive(l.pid) ? l : null;
  } catch {
    return null;
  }
}

/**
 * Waits for the pusher's answer about `name`: its acknowledgement (taken),
 * its failure, or nothing within `timeoutMs` or once no pusher runs (after
 * `startMs`, the time a pusher just started may take to be seen). Woken by
 * the spool's folders changing (inotify), looking again every 100 ms
 * whatever happens.
 */
export async function waitForPusher(
  spool: Spool,
  name: string,
  path: string,
  timeoutMs: number,
  startMs = 0,
): Promise<'ok' | 'failed' | 'no-pusher' | 'timeout'> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let wake: (() => void) | undefined;
  const watchers = [spool.ok, spool.error].flatMap((d) => {
    try {
      return [watch(d, () => wake?.())];
    } catch {
      return [];
    }
  });
  try {
    for (let i = 0; ; i++) {
      if (takeAck(spool, name, path)) return 'ok';
      if (read(join(spool.error, name)) !== null) return 'failed';
      // Checked now and then (a pid lookup), not at every look.
      if (i % 5 === 0 && Date.now() - started >= startMs && !runningPusher(spool)) return takeAck(spool, name, path) ? 'ok' : 'no-pusher';
      if (Date.now() >= deadline) return 'timeout';
      await new Promise<void>((res) => {
        const t = setTimeout(res, 100);
        wake = () => {
          clearTimeout(t);
          res();
        };
      });
      wake = undefined;
    }
  } finally {
    for (const w of watchers) w.close();
  }
}
