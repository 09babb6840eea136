import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { openSpool, runningPusher, takeAck, takeFailure, waitForPusher, type Spool } from '../../../backup/wal/spool.js';
import { VaultError } from '../../../errors/errors.js';
import { durationSeconds, parseDuration } from '../../../vault/duration.js';
import type { Context } from '../../context.js';
import { clusterOf, clusterOption, machine, openRepo, recipientOf, repoOption, signingKeyPath, startInBackground, vaultToolCommand } from './wal-options.js';

interface PushOptions {
  repo?: string;
  recipient?: string;
  signingKey?: string;
  cluster?: string;
  async?: boolean;
  spool?: string;
  drain?: boolean;
  jobs?: string;
  idle?: string;
  asyncWait?: string;
}

const ms = (v: string, what: string) => durationSeconds(parseDuration(v, { what })) * 1000;

/**
 * archive_command: `vault-tool backup wal-push %p --cluster NAME`. Quiet on
 * success (PostgreSQL's log gets a line only when something needs a look);
 * any failure exits non-zero, so PostgreSQL keeps the file and retries.
 *
 * With `--async --spool DIR`, a long-lived pusher (this command with
 * `--drain`, started in the background when none runs) pushes what
 * PostgreSQL marks ready, ahead of it; archive_command then only takes the
 * pusher's acknowledgement, or pushes the file itself when there is none
 * (backup/wal/async.ts). The heavy parts (keys, encryption, the vault) load
 * only when a push runs here.
 */
export default function backupWalPush(cmd: Command, ctx: Context): void {
  repoOption(clusterOption(cmd))
    .option('--recipient <age1…>', "encrypt to this backup recipient (env VAULT_TOOL_BACKUP_RECIPIENT); default: the vault's backup key, made on first use")
    .option('--signing-key <file>', "this host's manifest signing key (default: signing.key in the state folder; made on first use)")
    .option('--async', 'archive through a long-lived pusher (--spool): archive_command takes its acknowledgement')
    .option('--spool <dir>', "the pusher's folder of acknowledgements, one per archive (env VAULT_TOOL_WAL_SPOOL)")
    .option('--drain', 'be the pusher (with --async): PATH is the pg_wal folder; push every file PostgreSQL marks ready until idle')
    .option('--jobs <n>', 'the pusher: files pushed at once (default 2)')
    .option('--idle <duration>', 'the pusher: exit after this long with nothing to push (default 60s)')
    .option('--async-wait <duration>', "archive_command: wait this long for the pusher's answer before pushing the file itself (default 60s)")
    .argument('<path>', "the file to archive: archive_command's %p (with --drain: the pg_wal folder)")
    .action(async (path: string, o: PushOptions) => {
      if ((o.drain || o.spool) && !o.async) throw new VaultError('usage', '--drain and --spool go with --async');
      if (!o.async) return pushHere(ctx, cmd, ctx.abs(path), o);
      const dir = o.spool ?? ctx.io.env.VAULT_TOOL_WAL_SPOOL;
      if (!dir) throw new VaultError('usage', 'where are the acknowledgements? give --spool DIR (one folder per archive) or set VAULT_TOOL_WAL_SPOOL');
      const spool = openSpool(ctx.abs(dir));
      if (o.drain) return drain(ctx, cmd, spool, ctx.abs(path), o);
      const file = ctx.abs(path);
      const name = basename(file);
      // Pushed and committed by the pusher already: the common case costs a look at one small file.
      if (takeAck(spool, name, file)) return;
      if (takeFailure(spool, name) === null) {
        const started = !runningPusher(spool);
        if (started) await startPusher(ctx, cmd, spool, dirname(file), o);
        const wait = o.asyncWait ? ms(o.asyncWait, '--async-wait') : 60_000;
        // A pusher just started takes a moment to be seen (node's start, under load): it is not taken for dead meanwhile.
        if ((await waitForPusher(spool, name, file, wait, started ? Math.min(wait, 15_000) : 0)) === 'ok') return;
      }
      // No acknowledgement (no pusher, a failure, no answer in time): pushed here, with this command's own errors.
      takeFailure(spool, name);
      await pushHere(ctx, cmd, file, o);
    });
}

/** The repository, cluster, recipient and signing key of a push, loaded when one runs here. */
async function pushContext(ctx: Context, cmd: Command, o: PushOptions) {
  const { loadSigningKey } = await import('../../../backup/keys.js');
  const repo = openRepo(ctx, o);
  const cluster = clusterOf(ctx, o);
  const recipient = await recipientOf(ctx, cmd, o);
  const signing = loadSigningKey(signingKeyPath(ctx, o));
  return { repo, cluster, recipient, signing, signingPath: signingKeyPath(ctx, o), machine: machine(), now: () => ctx.now() };
}

async function pushHere(ctx: Context, cmd: Command, file: string, o: PushOptions): Promise<void> {
  const t = performance.now();
  const p = await pushContext(ctx, cmd, o);
  const keys = Math.round((performance.now() - t) * 10) / 10;
  const { walPush } = await import('../../../backup/wal/push.js');
  const r = await walPush(p, file);
  if (ctx.globals(cmd).json) return ctx.json({ ...r, timings: { keys, ...r.timings } });
  if (r.status === 'already-archived') ctx.info(`vault-tool: ${r.name} was already archived with the same content in ${r.location}: nothing to do`);
  if (r.status === 'completed') ctx.info(`vault-tool: ${r.name}: completed the archiving a stopped push had begun (${r.location})`);
}

/** Starts a pusher in the background (its messages in SPOOL/pusher.log), with this command's archive and keys. */
async function startPusher(ctx: Context, cmd: Command, spool: Spool, walDir: string, o: PushOptions): Promise<void> {
  const p = await pushContext(ctx, cmd, o);
  const args = [
    ...vaultToolCommand(ctx),
    'backup',
    'wal-push',
    walDir,
    '--async',
    '--drain',
    '--spool',
    spool.root,
    '--cluster',
    p.cluster,
    '-r',
    p.repo.dest.spec,
    '--recipient',
    p.recipient.recipient,
    '--signing-key',
    p.signingPath,
    ...(o.jobs ? ['--jobs', o.jobs] : []),
    ...(o.idle ? ['--idle', o.idle] : []),
  ];
  startInBackground(ctx, args, join(spool.root, 'pusher.log'));
}

async function drain(ctx: Context, cmd: Command, spool: Spool, walDir: string, o: PushOptions): Promise<void> {
  const jobs = o.jobs === undefined ? 2 : Number(o.jobs);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 16) throw new VaultError('usage', `--jobs ${JSON.stringify(o.jobs)}: a whole number from 1 to 16`);
  const idleMs = o.idle ? ms(o.idle, '--idle') : 60_000;
  const p = await pushContext(ctx, cmd, o);
  const { runPusher } = await import('../../../backup/wal/pusher.js');
  const json = ctx.globals(cmd).json;
  const r = await runPusher({
    spool,
    walDir,
    push: p,
    jobs,
    idleMs,
    onPushed: (x) => (json ? ctx.event({ type: 'pushed', ...x }) : undefined),
    onFailed: (name, e) => ctx.warn(`${name}: ${e.message}`),
  });
  if (r.running) return ctx.info(`vault-tool: a pusher already runs for ${spool.root}: nothing to do`);
  if (json) ctx.event({ type: 'idle', pushed: r.pushed, failed: r.failed });
}
