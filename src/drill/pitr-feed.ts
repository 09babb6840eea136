import { closeSync, fchownSync, fstatSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VaultError } from '../errors/errors.js';
import type { Repo } from '../backup/repo.js';
import { readArchived } from '../backup/wal/fetch.js';
import type { ReadKeys } from '../backup/wal/identity.js';
import { shellWord } from '../backup/wal/restore.js';
import { FILE_AND_PATH, scriptCommand } from '../backup/wal/restore-script.js';

/**
 * The WAL a drill's throwaway server recovers from, handed over without a
 * key on disk: the drill reads each file the recovery needs from the
 * archive with the key it holds in memory, with every check wal-fetch
 * makes and those of `wal-verify` besides (`readArchived` with its
 * verification's options: the manifest signed by a trusted host; the stored
 * file's size and its whole SHA-256, and its age header and payload nonce
 * held to the manifest's `headerSha256` where recorded; every chunk
 * authenticated under the key the header fixes; the plaintext's size and
 * SHA-256; a segment's page headers against its name and the cluster): a
 * drill is a verification, and never passes a file a full check fails (a
 * restore's read holds the header and leaves the rest to the chunks'
 * authentication, which anyone with the key can re-seal). It puts the file in
 * a folder of the scratch target; the server's restore_command (`restore.sh`,
 * written here) copies it from there.
 *
 * The folder holds, besides the files:
 * - `.names`: every name the recovery may ask for, in the order they are
 *   handed over (the history files of the timelines followed, then the
 *   segments from the base backup's start to the end of the archive);
 * - `.asked`: the names the server asked for, appended by restore.sh;
 * - `.end`: nothing more will come (every name handed over, or the drill
 *   is done with the server);
 * - `.failed`: why a file could not be handed over.
 *
 * restore.sh answers a name in `.names` when its file is there, waits
 * while it is not yet, says "not in the archive" (exit 1) for a name not
 * in `.names` or once `.end` is there, and stops the recovery (exit 201,
 * which PostgreSQL takes as fatal, not as the end of the archive) when
 * the drill failed to hand a file over or is gone. At most `window`
 * segments wait ahead of the last one asked for, and segments the server
 * has moved past are removed, so the folder stays small whatever the
 * archive's length.
 */
export interface Feed {
  /** Settles once every name is handed over, or the feed stopped; rejects with the first failure. */
  done: Promise<void>;
  /** How many files were handed over. */
  readonly handed: number;
  /** The last name the server asked for. */
  asked(): string | undefined;
  /** Ends the feed: restore.sh answers "not in the archive" from now on. */
  stop(): void;
}

export interface FeedOptions {
  repo: Repo;
  cluster: string;
  keys: ReadKeys;
  /** The names to hand over, in order. */
  names: string[];
  /** The folder restore.sh reads (it exists, writable by the server's user). */
  dir: string;
  /** The server's user, when it is not this process's. */
  owner?: { uid: number; gid: number };
  /** Segments handed over ahead of the last one asked for. */
  window: number;
  /** This process: restore.sh stops the recovery when it is gone. */
  pid: number;
  /** Told how many files were handed over, after each one (the drill's progress). */
  onHanded?: (handed: number) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The restore_command script: its text (the folder and the drill's pid in it). */
export function restoreScript(dir: string, pid: number): string {
  const d = shellWord(dir);
  return [
    '#!/bin/sh',
    '# restore_command of a drill: hands PostgreSQL the WAL the drill checked, decrypted and put in this folder.',
    `d=${d}`,
    ...FILE_AND_PATH,
    'printf \'%s\\n\' "$f" >> "$d/.asked"',
    'while :; do',
    '  if [ -f "$d/$f" ]; then cp "$d/$f" "$p" && exit 0; echo "vault-tool drill: cannot copy $f" >&2; exit 201; fi',
    '  if [ -f "$d/.failed" ]; then echo "vault-tool drill: $(cat "$d/.failed")" >&2; exit 201; fi',
    '  grep -qxF -- "$f" "$d/.names" || exit 1',
    '  [ -f "$d/.end" ] && exit 1',
    `  [ -d /proc/${pid} ] || { echo "vault-tool drill: the drill (pid ${pid}) is gone" >&2; exit 202; }`,
    '  sleep 0.1',
    'done',
    '',
  ].join('\n');
}

/** The restore_command that runs restore.sh: the one a point-in-time restore writes for its own script. */
export const restoreCommand = scriptCommand;

/**
 * A file of the folder, whole or not at all. The folder is the server's
 * user's (it may write there): a name planted there (a link to a file of
 * root's) is removed, never written or chowned through; the file is made
 * new (O_EXCL), owned through its descriptor, then renamed over the name.
 */
function put(dir: string, name: string, data: Uint8Array | string, owner: FeedOptions['owner']): void {
  const tmp = join(dir, `.${name}.tmp`);
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeFileSync(fd, data);
    if (owner) fchownSync(fd, owner.uid, owner.gid);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
}

/** Writes `.names` and restore.sh's folder state, then hands the files over as the server asks. */
export function feedWal(o: FeedOptions): Feed {
  put(o.dir, '.names', `${o.names.join('\n')}\n`, o.owner);
  put(o.dir, '.asked', '', o.owner);
  let stopped = false;
  let handed = 0;
  let lastAsked: string | undefined;
  const index = new Map(o.names.map((n, i) => [n, i]));
  // .asked only grows: what was read is not read again (an archive of thousands of segments, asked one by one).
  let read = 0;
  let partial = '';
  let best = -1;
  const askedIndex = (): number => {
    let fd: number;
    try {
      fd = openSync(join(o.dir, '.asked'), 'r');
    } catch {
      return best;
    }
    try {
      const size = fstatSync(fd).size;
      if (size > read) {
        const buf = Buffer.alloc(size - read);
        const n = readSync(fd, buf, 0, buf.length, read);
        read += n;
        const lines = (partial + buf.subarray(0, n).toString('utf8')).split('\n');
        partial = lines.pop()!;
        // The furthest name asked so far: a name asked again (a checkpoint's segment, then its redo point) does not move it back.
        for (const l of lines.filter(Boolean)) {
          best = Math.max(best, index.get(l) ?? -1);
          lastAsked = l;
        }
      }
    } finally {
      closeSync(fd);
    }
    return best;
  };
  const segment = (n: string) => /^[0-9A-F]{24}$/.test(n);
  // Names before this one were removed (or are history files, which stay).
  let pruned = 0;
  const end = () => {
    try {
      put(o.dir, '.end', '', o.owner);
    } catch {
      /* the folder is gone: nothing waits */
    }
  };
  const done = (async () => {
    try {
      for (const [i, name] of o.names.entries()) {
        for (;;) {
          if (stopped) return;
          const asked = askedIndex();
          // Segments the server moved past go (a margin for a redo point read again): the folder stays small.
          for (; pruned < Math.min(asked - 4, i); pruned++) if (segment(o.names[pruned]!)) rmSync(join(o.dir, o.names[pruned]!), { force: true });
          if (i - asked <= o.window) break;
          await sleep(100);
        }
        // Verification's read (the default options): the whole stored file and the plaintext hashed, not the header alone.
        const r = await readArchived(o.repo, o.cluster, name, o.keys);
        if (r.status !== 'restored')
          throw new VaultError('verify-failed', `${name}: no longer in the archive (it was there when the drill was planned)`, { code: 'wal-gap' });
        put(o.dir, name, r.plaintext!, o.owner);
        handed++;
        o.onHanded?.(handed);
      }
    } catch (e) {
      try {
        put(o.dir, '.failed', `${(e as Error).message}\n`, o.owner);
      } catch {
        /* the folder is gone */
      }
      throw e;
    } finally {
      end();
    }
  })();
  done.catch(() => undefined);
  return {
    done,
    get handed() {
      return handed;
    },
    asked: () => {
      askedIndex();
      return lastAsked;
    },
    stop: () => {
      stopped = true;
      end();
    },
  };
}
