import { readdirSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { VaultError } from '../../errors/errors.js';
import { registerCleanup } from '../../fs/cleanup.js';
import { acquireLock } from '../../fs/lock.js';
import { looksLikeWalName } from './names.js';
import { walPush, type PushContext, type PushResult, type PushScratch } from './push.js';
import type { Spool } from './spool.js';
import { segmentsDest, sweepKilledWrites } from './store.js';

export interface PusherOptions {
  spool: Spool;
  /** PostgreSQL's pg_wal folder: its archive_status lists the files ready to archive. */
  walDir: string;
  push: PushContext;
  /** Files pushed at once (a remote's round trips overlap; a folder gains little). */
  jobs: number;
  /** Exit after this long with nothing to push. */
  idleMs: number;
  onPushed?: (r: PushResult) => void;
  onFailed?: (name: string, e: Error) => void;
}

/** The names PostgreSQL has marked ready, in the order its archiver takes them: timeline histories first, then by name. */
export function readyFiles(walDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(walDir, 'archive_status'));
  } catch (e) {
    throw new VaultError('io', `cannot list ${join(walDir, 'archive_status')}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return names
    .filter((n) => n.endsWith('.ready'))
    .map((n) => n.slice(0, -'.ready'.length))
    .filter(looksLikeWalName)
    .sort((a, b) => Number(b.endsWith('.history')) - Number(a.endsWith('.history')) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The pusher: holds the spool's lock (a second one exits at once), starts
 * from an empty spool (acknowledgements of another run are dropped), then
 * pushes each ready file with `walPush` (every check of a push, the same
 * commit protocol) and acknowledges it; a failure is written for
 * archive_command and tried again later, at growing intervals. Returns when
 * nothing was ready for `idleMs`, or at once when another pusher runs.
 */
export async function runPusher(o: PusherOptions): Promise<{ pushed: number; failed: number; running: boolean }> {
  let release: () => void;
  try {
    release = await acquireLock(join(o.spool.root, 'pusher'), 0);
  } catch (e) {
    if (e instanceof VaultError && e.kind === 'locked') return { pushed: 0, failed: 0, running: true };
    throw e;
  }
  let watcher: FSWatcher | undefined;
  // The pid alone, for archive_command's shell (`kill -0`): it waits for an acknowledgement only while this process lives.
  const pidFile = join(o.spool.root, 'pusher.pid');
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  const dropPid = registerCleanup(() => rmSync(pidFile, { force: true }));
  try {
    for (const dir of [o.spool.ok, o.spool.error]) for (const n of readdirSync(dir)) rmSync(join(dir, n), { force: true });
    const d = segmentsDest(o.push.repo, o.push.cluster);
    sweepKilledWrites(d);
    o.push.cache ??= {};
    let wake: (() => void) | undefined;
    try {
      watcher = watch(join(o.walDir, 'archive_status'), () => wake?.());
    } catch {
      /* looked at every 200 ms instead */
    }
    // Each job's buffers, made once and reused for every file it pushes: the pusher's memory is its jobs', whatever it has pushed.
    const scratch: PushScratch[] = Array.from({ length: Math.max(1, o.jobs) }, () => ({}));
    const pushed = new Set<string>();
    const retry = new Map<string, { at: number; delay: number }>();
    let count = 0;
    let failures = 0;
    let lastWork = Date.now();
    for (;;) {
      const ready = readyFiles(o.walDir);
      const readySet = new Set(ready);
      // Acknowledgements of files PostgreSQL no longer lists (archived: taken, or pushed by archive_command itself).
      for (const n of readdirSync(o.spool.ok)) if (!readySet.has(n)) rmSync(join(o.spool.ok, n), { force: true });
      for (const n of pushed) if (!readySet.has(n)) pushed.delete(n);
      for (const n of retry.keys()) if (!readySet.has(n)) retry.delete(n);
      const now = Date.now();
      const todo = ready.filter((n) => !pushed.has(n) && (retry.get(n)?.at ?? 0) <= now);
      if (todo.length) {
        lastWork = now;
        let next = 0;
        const worker = async (own: PushScratch) => {
          while (next < todo.length) {
            const name = todo[next++]!;
            try {
              const r = await walPush(o.push, join(o.walDir, name), own);
              pushed.add(name);
              count++;
              retry.delete(name);
              rmSync(join(o.spool.error, name), { force: true });
              // After the commit: an acknowledgement never runs ahead of the repository.
              writeFileSync(join(o.spool.ok, name), `${r.identity}\n`, { mode: 0o600 });
              o.onPushed?.(r);
            } catch (e) {
              failures++;
              const delay = Math.min(60_000, (retry.get(name)?.delay ?? 5_000) * 2);
              retry.set(name, { at: Date.now() + delay, delay });
              writeFileSync(join(o.spool.error, name), `${(e as Error).message}\n`, { mode: 0o600 });
              o.onFailed?.(name, e as Error);
            }
          }
        };
        await Promise.all(scratch.slice(0, Math.min(scratch.length, todo.length)).map(worker));
        continue;
      }
      if (Date.now() - lastWork >= o.idleMs) return { pushed: count, failed: failures, running: false };
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
    dropPid();
    release();
  }
}
