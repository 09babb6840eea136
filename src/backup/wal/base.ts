import { execFile, spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { type Readable, Transform } from 'node:stream';
import { promisify } from 'node:util';
import { VaultError } from '../../errors/errors.js';
import { externalTimeoutMs } from '../../tool/bound.js';
import type { Component } from '../kind.js';
import type { Repo } from '../repo.js';
import { readArchiveInfo } from './archive.js';
import { BaseReader, type BaseInfo } from './base-check.js';
import { committed, readCatalog, readManifests, walManifestRefusal } from './catalog.js';
import { parseLsn, segmentName, segnoOf } from './names.js';
import { BASE_KIND, checkCluster } from './store.js';
import type { TrustedSigner } from '../keys.js';
import { pgClient } from '../../tool/pg-client.js';
import { stopAtExit } from '../../tool/run.js';

const run = promisify(execFile);
type Env = Record<string, string | undefined>;

/**
 * A base backup: `pg_basebackup -D - -Ft -X none` (the data directory as
 * one tar stream on stdout, `backup_manifest` as its last member, with
 * SHA-256 checksums), through the usual pipeline into `postgres-base/NAME`.
 * The WAL is not in it (`-X none`): the archive holds it. So the backup
 * succeeds only once every segment from its start to its stop LSN is
 * committed in the cluster's archive (postgres-wal/NAME); otherwise it
 * fails naming the first segment missing, and nothing is kept.
 *
 * The manifest records the timeline, the start and stop LSN, the system
 * identifier and the first and last segment, read from the stream itself
 * (backup_label, backup_manifest's WAL-Ranges, global/pg_control).
 */
export interface BaseOptions {
  cluster: string;
  repo: Repo;
  /** How long to wait for the archive to hold the backup's WAL (PostgreSQL waits for archive_command first). */
  walTimeoutMs: number;
  fastCheckpoint?: boolean;
  /**
   * The signers whose WAL manifests prove a segment archived (this host's
   * key, and the vault's trusted signers where the vault is), asked once the
   * WAL is there. Without it, a segment's manifest is taken on its name.
   */
  trusted?: () => Promise<TrustedSigner[]>;
  /** For tests and progress: the clock and a sleep. */
  sleep?: (ms: number) => Promise<void>;
}

export const BASE_ARGS = ['-D', '-', '-F', 'tar', '-X', 'none', '--manifest-checksums=SHA256', '--no-password'];

async function toolVersion(env: Env): Promise<string> {
  const cmd = pgClient('pg_basebackup', env);
  try {
    return (await run(cmd, ['--version'], { env: env as NodeJS.ProcessEnv, timeout: externalTimeoutMs(env), killSignal: 'SIGKILL' })).stdout.trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new VaultError('not-found', 'pg_basebackup is not installed', { code: 'tool-missing', data: { tool: 'pg_basebackup' } });
    throw new VaultError('backup-failed', `pg_basebackup could not say its version: ${(e as Error).message.split('\n')[0]}`);
  }
}

/**
 * Waits until every segment of [start, stop] of `timelines` is committed in
 * the archive; names the first one missing otherwise. With `trusted`, each
 * one's manifest must also be signed by one of those signers and name this
 * cluster and segment: a manifest planted in the repository (which would
 * also stop the segment's real push) never lets a base backup count on WAL
 * that is not archived; such a segment fails the backup at once, named.
 */
export async function waitForWal(
  repo: Repo,
  cluster: string,
  info: BaseInfo,
  o: { timeoutMs: number; sleep: (ms: number) => Promise<void>; now: () => number; trusted?: () => Promise<TrustedSigner[]> },
): Promise<{ first: string; last: string }> {
  const archive = await readArchiveInfo(repo, cluster);
  if (!archive)
    throw new VaultError('backup-failed', `the repository holds no WAL archive of cluster ${cluster}: no segment was ever pushed; nothing was kept`, {
      code: 'wal-no-archive',
    });
  if (archive.systemId !== info.systemId)
    throw new VaultError(
      'backup-failed',
      `the WAL archive of cluster ${cluster} holds the cluster with system identifier ${archive.systemId}; this server is ${info.systemId}: nothing was kept`,
      { code: 'wal-other-cluster' },
    );
  const seg = archive.segmentSize;
  const from = segnoOf(parseLsn(info.startLsn), seg);
  const to = segnoOf(parseLsn(info.stopLsn), seg);
  const names: string[] = [];
  for (let s = from; s <= to; s++) names.push(segmentName(info.timeline, s, seg));
  const deadline = o.now() + o.timeoutMs;
  for (;;) {
    const cat = await readCatalog(repo, cluster, seg);
    const missing = names.find((n) => !committed(cat.entries.get(n)));
    // Each committed under a manifest a trusted host signed; one the repository did not give is asked again until the timeout.
    const unread = missing ? undefined : o.trusted ? await heldByTrusted(repo, cluster, names, await o.trusted()) : null;
    if (unread === null) return { first: names[0]!, last: names[names.length - 1]! };
    if (unread && o.now() >= deadline)
      throw new VaultError(
        'io',
        `WAL segment ${unread.segment}, which this base backup needs, is not proven archived after ${Math.round(o.timeoutMs / 1000)} s: ${unread.message}; nothing was kept`,
        { code: 'wal-base-unread', data: { segment: unread.segment, cluster } },
      );
    if (missing && o.now() >= deadline)
      throw new VaultError(
        'backup-failed',
        `WAL segment ${missing}, which this base backup needs, is not in the archive of cluster ${cluster} after ${Math.round(o.timeoutMs / 1000)} s: is archive_command pushing there (pg_stat_archiver)?; nothing was kept`,
        { code: 'wal-not-archived', data: { segment: missing } },
      );
    await o.sleep(Math.min(1000, Math.max(0, deadline - o.now())));
  }
}

/**
 * Each of `names` archived under a manifest `trusted` vouches for, naming this cluster and segment: the first that is not fails;
 * the first whose manifest the repository did not give (not judged) is returned, to be asked again; null when all are held.
 */
async function heldByTrusted(repo: Repo, cluster: string, names: string[], trusted: TrustedSigner[]): Promise<{ segment: string; message: string } | null> {
  const manifests = await readManifests(repo, cluster, names);
  let unread: { segment: string; message: string } | null = null;
  for (const n of names) {
    const m = manifests.get(n);
    const r = walManifestRefusal(m, trusted, { name: n, cluster });
    if (r?.why === 'unread') unread ??= { segment: n, message: r.message };
    else if (r) {
      const why =
        r.why === 'untrusted' && m && !(m instanceof Error)
          ? `its manifest is signed by host key ${m.signer.id}, which this host does not trust (its own signing key, and the vault's trusted signers where the vault is)`
          : r.why === 'altered'
            ? "its manifest's signature does not verify: it was altered"
            : r.why === 'unreadable' && m instanceof Error
              ? `its manifest cannot be read (${m.message})`
              : r.message;
      throw new VaultError('integrity', `WAL segment ${n}, which this base backup needs, is not proven archived: ${why}; nothing was kept`, {
        code: 'wal-base-unproven',
        data: { segment: n, cluster },
      });
    }
  }
  return unread;
}

/** The base backup as a component of the usual pipeline. */
export async function postgresBaseComponent(env: Env, o: BaseOptions): Promise<Component> {
  const cluster = checkCluster(o.cluster);
  const version = await toolVersion(env);
  const args = [...BASE_ARGS, ...(o.fastCheckpoint ? ['--checkpoint=fast'] : []), '--label', `vault-tool ${cluster}`];
  const source: Record<string, string> = {
    cluster,
    host: env.PGHOST ?? 'local socket',
    port: env.PGPORT ?? '5432',
    ...(env.PGUSER ? { user: env.PGUSER } : {}),
    machine: hostname(),
  };
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const open = async (): Promise<Readable> => {
    const p = spawn(pgClient('pg_basebackup', env), args, { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    stopAtExit(p);
    let err = '';
    let waiting: NodeJS.Timeout | undefined;
    let timedOut = false;
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (c: string) => {
      err = (err + c).slice(-4096);
      // With -X none the server waits until archive_command has archived the backup's WAL, warning every minute: give up after the timeout.
      if (!waiting && /still waiting for all required WAL segments to be archived/.test(err))
        waiting = setTimeout(() => {
          timedOut = true;
          p.kill('SIGTERM');
        }, o.walTimeoutMs);
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res, rej) => {
      p.on('error', (e) =>
        rej(
          (e as NodeJS.ErrnoException).code === 'ENOENT'
            ? new VaultError('not-found', 'pg_basebackup is not installed', { code: 'tool-missing', data: { tool: 'pg_basebackup' } })
            : e,
        ),
      );
      p.on('close', (code, signal) => res({ code, signal }));
    });
    exited.catch(() => undefined);
    const reader = new BaseReader(false);
    const tail = () =>
      err
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !/^NOTICE:/.test(l))
        .slice(-3)
        .join('; ');
    // The tar passes through as it comes; at its end, pg_basebackup's exit status and the archive decide whether it ends or fails.
    const out = new Transform({
      highWaterMark: 1 << 20,
      transform(chunk: Buffer, _e, cb) {
        try {
          reader.push(chunk);
        } catch (e) {
          return cb(e as Error);
        }
        cb(null, chunk);
      },
      flush(cb) {
        (async () => {
          const x = await exited;
          clearTimeout(waiting);
          if (timedOut)
            throw new VaultError(
              'backup-failed',
              `the server still waits for archive_command to archive the WAL of this backup (from ${reader.startWal() ?? 'its start'}) after ${Math.round(o.walTimeoutMs / 1000) + 60} s: check pg_stat_archiver and the server log; nothing was kept`,
              { code: 'wal-not-archived' },
            );
          if (x.signal) throw new VaultError('backup-failed', `pg_basebackup was killed by ${x.signal}${tail() ? `: ${tail()}` : ''}; nothing was kept`);
          if (x.code !== 0) throw new VaultError('backup-failed', `pg_basebackup failed (exit ${x.code})${tail() ? `: ${tail()}` : ''}; nothing was kept`);
          const info = reader.finish();
          const wal = await waitForWal(o.repo, cluster, info, {
            timeoutMs: o.walTimeoutMs,
            sleep,
            now: Date.now,
            ...(o.trusted ? { trusted: o.trusted } : {}),
          });
          Object.assign(source, {
            systemId: info.systemId,
            postgres: info.postgres,
            timeline: String(info.timeline),
            startLsn: info.startLsn,
            stopLsn: info.stopLsn,
            startWal: wal.first,
            stopWal: wal.last,
            ...(info.label['START TIME'] ? { startTime: info.label['START TIME'] } : {}),
          });
        })().then(
          () => cb(),
          (e) => cb(e as Error),
        );
      },
    });
    out.on('close', () => {
      clearTimeout(waiting);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    });
    p.stdout.pipe(out);
    p.stdout.on('error', (e) => out.destroy(e));
    return out;
  };
  return {
    component: `${BASE_KIND}/${cluster}`,
    kind: 'postgres-base',
    producer: { kind: 'stream', name: 'pg_basebackup', open },
    tool: { name: 'pg_basebackup', version, args },
    source,
  };
}
