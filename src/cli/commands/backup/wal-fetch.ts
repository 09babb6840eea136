import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { walFetch } from '../../../backup/wal/fetch.js';
import {
  type FetchSpool,
  markPending,
  openFetchSpool,
  runPrefetcher,
  setWant,
  notStarting,
  startingNow,
  startOf,
  takePrefetched,
} from '../../../backup/wal/prefetch.js';
import { parseWalName, segmentName } from '../../../backup/wal/names.js';
import { lockHolder } from '../../../backup/wal/spool.js';
import { VaultError } from '../../../errors/errors.js';
import { checkOutput } from '../../../fs/output.js';
import { durationSeconds, parseDuration } from '../../../vault/duration.js';
import type { Context } from '../../context.js';
import {
  clusterOf,
  clusterOption,
  identityOption,
  openRepo,
  readKeysOf,
  repoOption,
  type RepoOptions,
  startInBackground,
  vaultToolCommand,
} from './wal-options.js';

/** What wal-fetch adds to the usual exit code of a failure: PostgreSQL aborts recovery on a status above 125. */
export const FETCH_FAILED = 200;

/**
 * restore_command's exit status. PostgreSQL reads every status from 1 to
 * 125 as "this file is not in the archive" and ends recovery there (with a
 * target it then refuses to start; without one it promotes, early, without
 * a word); above 125 (or killed by a signal) it aborts recovery. So: 1 only
 * when the archive answered that it does not hold the file; every other
 * failure, command-line errors included, 200 + its usual code (201 I/O or
 * an unreachable repository, 202 usage, 203 wrong key, 204 integrity…);
 * 130 when interrupted.
 */
export function fetchExitStatus(code: number, error?: unknown): number {
  if (code === 0) return 0;
  if (error instanceof VaultError && error.code === 'wal-absent') return 1;
  return code > 125 ? code : FETCH_FAILED + code;
}

/**
 * restore_command: `vault-tool backup wal-fetch %f %p --cluster NAME`. A
 * file the archive does not hold exits 1 without a word (PostgreSQL asks
 * for files that may not exist, such as the next timeline's history); any
 * other failure says why in one line (the server's log) and exits above 125,
 * so that recovery stops rather than ends early.
 */
interface FetchOptions extends RepoOptions {
  cluster?: string;
  identity?: string;
  async?: boolean;
  spool?: string;
  drain?: boolean;
  queue?: string;
  idle?: string;
}

export default function backupWalFetch(cmd: Command, ctx: Context): void {
  ctx.exitStatus = fetchExitStatus;
  identityOption(clusterOption(repoOption(cmd)))
    .option('--async', 'take the file from a prefetcher that fetches (and checks) the next segments ahead of PostgreSQL (--spool)')
    .option('--spool <dir>', "the prefetcher's folder, on the data directory's file system, one per restore (env VAULT_TOOL_WAL_SPOOL)")
    .option('--drain', 'be the prefetcher (with --async): fetch the segments after FILE ahead of PostgreSQL until idle')
    .option('--queue <n>', 'the prefetcher: segments kept ready ahead (default 8)')
    .option('--idle <duration>', 'the prefetcher: leave after this long without a segment taken (default 60s)')
    .argument('<file>', "the archived file's name: restore_command's %f")
    .argument('<path>', "where to write it: restore_command's %p")
    .action(async (file: string, path: string, o: FetchOptions) => {
      try {
        if ((o.drain || o.spool) && !o.async) throw new VaultError('usage', '--drain and --spool go with --async');
        const target = ctx.abs(path);
        let spool: FetchSpool | undefined;
        if (o.async) {
          const dir = o.spool ?? ctx.io.env.VAULT_TOOL_WAL_SPOOL;
          if (!dir)
            throw new VaultError(
              'usage',
              "where do prefetched segments go? give --spool DIR (on the data directory's file system) or set VAULT_TOOL_WAL_SPOOL",
            );
          spool = openFetchSpool(ctx.abs(dir));
          if (o.drain) return await prefetch(ctx, cmd, spool, o);
          // Prefetched, checked in full: moved into place.
          checkOutput(target, 'data', { force: true });
          if (takePrefetched(spool, file, target)) return;
          if (looksLikeSegment(file)) setWant(spool, file);
          // Whatever is asked (the first ask is often a history file): a prefetcher from where the server is, or from the restore's first segment.
          const from = startOf(spool);
          // One started by restore_command's script in the last 10 s is left to start.
          if (from && !lockHolder(spool.root, 'prefetcher') && !startingNow(spool, 10_000)) startPrefetcher(ctx, cmd, spool, from, dirname(target), o);
        }
        const repo = openRepo(ctx, o);
        const cluster = clusterOf(ctx, o);
        const keys = await readKeysOf(ctx, cmd, o);
        // A read that fails (a network hiccup on a remote) is tried again before recovery is stopped for it.
        let r: Awaited<ReturnType<typeof walFetch>> | undefined;
        for (let attempt = 0; !r; attempt++) {
          try {
            r = await walFetch(repo, cluster, file, target, keys);
          } catch (e) {
            if (!(e instanceof VaultError && e.kind === 'io') || attempt >= 2) throw e;
            ctx.warn(`${file}: ${e.message}; trying again`);
            await new Promise((res) => setTimeout(res, 1000 * 2 ** attempt));
          }
        }
        if (r.status === 'absent') {
          if (r.note) ctx.warn(r.note);
          throw new VaultError('io', `${file} is not in the archive`, { code: 'wal-absent' });
        }
        if (ctx.globals(cmd).json) ctx.json({ name: r.name, bytes: r.bytes, keyId: r.manifest.keyId, signer: r.manifest.signer.id });
      } catch (e) {
        // The server's log shows this line beside "could not restore file": it names the file.
        if (e instanceof VaultError && e.code !== 'wal-absent' && !e.message.includes(file))
          throw new VaultError(e.kind, `${file}: ${e.message}`, {
            ...(e.code ? { code: e.code } : {}),
            ...(e.hint ? { hint: e.hint } : {}),
            ...(e.data ? { data: e.data } : {}),
          });
        throw e;
      }
    });
}

const looksLikeSegment = (name: string) => /^[0-9A-F]{24}$/.test(name);

/** Starts a prefetcher in the background (its messages in SPOOL/prefetcher.log), reading the archive as this command does. */
function startPrefetcher(ctx: Context, cmd: Command, spool: FetchSpool, from: { name: string; taken: boolean }, walDir: string, o: FetchOptions): void {
  const file = from.name;
  const identity = o.identity ?? ctx.io.env.VAULT_TOOL_BACKUP_IDENTITY;
  const paths = ctx.paths(cmd);
  const repo = openRepo(ctx, o);
  const args = [
    ...vaultToolCommand(ctx),
    ...(identity ? [] : ['--vault-file', paths.vaultFile, '--key-file', paths.keyFile]),
    'backup',
    'wal-fetch',
    file,
    walDir,
    '--async',
    '--drain',
    '--spool',
    spool.root,
    '--cluster',
    clusterOf(ctx, o),
    '-r',
    repo.dest.spec,
    ...(identity ? ['--identity', ctx.abs(identity)] : []),
    ...(o.queue ? ['--queue', o.queue] : []),
    ...(o.idle ? ['--idle', o.idle] : []),
  ];
  const child = startInBackground(ctx, args, join(spool.root, 'prefetcher.log'));
  // Once it runs (its pid written), restore_command waits for the next segments (pending/) instead of fetching them beside
  // it; it marks its own then. The names as of 16 MiB segments: another size's are replaced as soon as it reads the archive.
  if (child.pid) {
    const w = parseWalName(file, 16 << 20);
    const queue = o.queue === undefined ? 8 : Number(o.queue);
    if (w?.kind === 'segment' && Number.isInteger(queue))
      markPending(
        spool,
        Array.from({ length: Math.min(queue, 64) }, (_, i) => segmentName(w.timeline, w.segno + BigInt(from.taken ? i + 1 : i), 16 << 20)),
      );
  }
}

async function prefetch(ctx: Context, cmd: Command, spool: FetchSpool, o: FetchOptions): Promise<void> {
  const queue = o.queue === undefined ? 8 : Number(o.queue);
  if (!Number.isInteger(queue) || queue < 1 || queue > 64) throw new VaultError('usage', `--queue ${JSON.stringify(o.queue)}: a whole number from 1 to 64`);
  const idleMs = o.idle ? durationSeconds(parseDuration(o.idle, { what: '--idle' })) * 1000 : 60_000;
  let r: Awaited<ReturnType<typeof runPrefetcher>>;
  try {
    r = await runPrefetcher({
      spool,
      repo: openRepo(ctx, o),
      cluster: clusterOf(ctx, o),
      keys: await readKeysOf(ctx, cmd, o),
      queue,
      idleMs,
      onFailed: (name, e) => ctx.warn(`${name}: ${e.message}`),
    });
  } catch (e) {
    // It will not run (its keys, the repository): restore_command's script may start another.
    notStarting(spool);
    throw e;
  }
  if (r.running) ctx.info(`vault-tool: a prefetcher already runs for ${spool.root}: nothing to do`);
}
