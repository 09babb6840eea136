import { chmodSync, closeSync, fchownSync, lchownSync, openSync, readFileSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeDir } from '../fs/dirs.js';
import { listRepo, type Listed, type Repo } from '../backup/repo.js';
import { verifyBackup } from '../backup/run.js';
import { outermostMissing, psqlRead, scratchFolder } from '../backup/scratch.js';
import { readArchiveInfo } from '../backup/wal/archive.js';
import { keysFromVault } from '../backup/wal/identity.js';
import { historyName, parseLsn } from '../backup/wal/names.js';
import { describePlan, executePitr, planPitr, type PitrPlan } from '../backup/wal/restore.js';
import { BASE_KIND } from '../backup/wal/store.js';
import { pushedAt } from '../backup/wal/view.js';
import { parseDestination } from '../dest/index.js';
import { envForProcess } from '../tool/user-env.js';
import { asUser, freePort, pgBindir, serverEnv, serverState, startArgs, userIds, serverUserFor, type UserIds } from '../tool/postgres.js';
import { runTool, toolMessage } from '../tool/run.js';
import { feedWal, restoreCommand, restoreScript } from './pitr-feed.js';
import type { PitrRestore } from './plan.js';
import { have } from './step-backups.js';
import { type DrillState, fail, type Step } from './steps.js';
import type { ServerEntry } from './targets.js';

type Env = Record<string, string | undefined>;

/** Segments handed to the server ahead of the one it reads. */
const WINDOW = 16;

/**
 * The base backup a point-in-time restore starts from: the one named, or
 * the newest verified one made before the target (before now, for the end
 * of the archive).
 */
function chooseBase(all: Listed[], r: PitrRestore): Listed {
  const component = `${BASE_KIND}/${r.cluster}`;
  const mine = all.filter((b) => b.component === component);
  if (r.file) {
    const b = mine.find((x) => x.file === r.file);
    if (!b) throw fail(`no base backup ${component}/${r.file} in the repository`, 'check the file name with `backup list`');
    return b;
  }
  const good = mine
    .filter((b) => b.manifest && !b.problem && b.manifest.verification?.ok)
    .sort((a, b) => b.manifest!.finishedAt.localeCompare(a.manifest!.finishedAt));
  const before = r.targetTime ? good.filter((b) => Date.parse(b.manifest!.finishedAt) <= r.targetTime!.getTime()) : good;
  if (!before.length)
    throw fail(
      `no verified base backup of ${r.cluster} in the repository${r.targetTime ? ` made before ${r.targetTime.toISOString()}` : ''}${mine.length ? ` (${mine.length} in all)` : ''}`,
      r.targetTime
        ? 'choose a later target, or name a base backup (file:)'
        : 'take a base backup of the cluster and verify it (docs/RUNBOOK.md, "Point-in-time recovery")',
    );
  return before[0]!;
}

/** libpq's environment for the throwaway server: nothing of the drill's own server (a host address, a service, a database) gets through. */
function scratchEnv(env: Env, dir: string, port: number, user: string): Env {
  const out: Env = { ...env, ...serverEnv(dir, port, user) };
  for (const k of ['PGHOSTADDR', 'PGSERVICE', 'PGSERVICEFILE', 'PGDATABASE', 'PGTARGETSESSIONATTRS', 'PGPASSWORD', 'PGPASSFILE']) delete out[k];
  return out;
}

type Stat = { uid: number; gid: number; mode: number };

/**
 * Whether `owner` may pass through a folder, as the kernel decides: the
 * owner's bit for its owner, else the group's bit for a member of its group
 * (the primary group or any supplementary one: runuser gives the server
 * them all), else the others' bit.
 */
export const mayEnter = (st: Stat, owner: UserIds) =>
  Boolean(st.uid === owner.uid ? st.mode & 0o100 : owner.groups.includes(st.gid) ? st.mode & 0o010 : st.mode & 0o001);

/** Why the server's user cannot reach `dir` (a folder on the way that it may not enter), or null. */
export function unreachable(dir: string, owner: UserIds): string | null {
  for (let p = dirname(dir); ; p = dirname(p)) {
    let st: Stat | undefined;
    try {
      st = statSync(p);
    } catch {
      /* made by the drill, for the server's user */
    }
    if (st && !mayEnter(st, owner)) return `${p} (mode ${(st.mode & 0o777).toString(8)}, owner ${st.uid})`;
    if (p === dirname(p)) return null;
  }
}

/** Free space where `dir` will be made, in bytes (undefined where the file system does not say). */
function freeSpace(dir: string): number | undefined {
  for (let p = dir; ; p = dirname(p)) {
    try {
      const s = statfsSync(p);
      return s.bavail * s.bsize;
    } catch {
      if (p === dirname(p)) return undefined;
    }
  }
}

const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;

/** The files recovery reads, in order: the history files of the timelines it follows, then the segments from the base backup's start. */
function walNames(plan: PitrPlan): string[] {
  return [...plan.continuity.chain.filter((l) => l.timeline > 1).map((l) => historyName(l.timeline)), ...plan.continuity.segments];
}

/** The LSN a segment starts at. */
const segmentStart = (name: string, segSize: number) => BigInt(`0x${name.slice(8, 16)}`) * 0x100000000n + BigInt(`0x${name.slice(16)}`) * BigInt(segSize);

/**
 * A point-in-time restore, rehearsed: the base backup into a data
 * directory in a scratch folder (journaled before it is made), the WAL to
 * the target handed over as the server asks (checked and decrypted with
 * the key the drill holds: no key on disk, `pitr-feed.ts`), a throwaway
 * PostgreSQL started on it (a free port, its socket in the scratch folder,
 * no TCP listener, archiving off, as `postgres` when root), recovery to the
 * target, then promoted; the plan's checks read it, and teardown stops the
 * server and removes the folder. The recovery counts in the RTO.
 */
export function pitrStep(r: PitrRestore): Step {
  return {
    name: `point-in-time restore of ${r.cluster}`,
    async plan(s: DrillState) {
      const { input } = s;
      const doc = s.doc;
      const backups = input.plan.backups;
      if (!doc || !backups) throw fail('the vault is not open');
      const repo: Repo = { dest: parseDestination(backups.repo, '/', { env: input.env }) };
      s.listed ??= await listRepo(repo);
      const b = chooseBase(s.listed, r);
      const check = await verifyBackup(repo, b, doc, { readData: false, env: input.env, now: input.now() });
      if (!check.ok)
        throw fail(
          `${b.component}/${b.file}: ${check.message}`,
          check.keyHeld ? 'use another base backup (file:) or find out why this one fails' : 'the vault must hold the backup key of this base backup',
        );
      const m = b.manifest!;
      const t = s.tools;
      const keys = keysFromVault(doc);
      for (const [cmd, pkg] of [
        ['pg_config', 'postgresql'],
        ['psql', 'postgresql-client'],
        ['tar', 'tar'],
      ] as const)
        await have(cmd, t, pkg);
      const bin = await pgBindir(t.env, t.timeoutMs).catch((e: Error) => {
        throw fail(e.message, 'install the PostgreSQL server (Debian: postgresql)');
      });
      const version = await runTool(join(bin, 'postgres'), ['--version'], { env: t.env, timeoutMs: t.timeoutMs }).catch((e: Error) => {
        throw fail(`the PostgreSQL server is not installed in ${bin}: ${e.message}`, 'install the PostgreSQL server (Debian: postgresql)');
      });
      const major = /\(PostgreSQL\)\s+(\d+)/.exec(version)?.[1];
      if (m.source.postgres && major !== m.source.postgres)
        throw fail(
          `${b.file} is of PostgreSQL ${m.source.postgres}, and the server here (${bin}) is PostgreSQL ${major ?? '?'}: a data directory opens only with its own major version`,
          `install PostgreSQL ${m.source.postgres} (its pg_config first on PATH)`,
        );
      const user = serverUserFor(process.getuid?.());
      let owner: UserIds | undefined;
      if (user) {
        await have('runuser', t, 'util-linux');
        owner = await userIds(user, t.env, t.timeoutMs).catch((e: Error) => {
          throw fail(e.message, `create the ${user} user (Debian: installing postgresql does)`);
        });
        const blocked = unreachable(r.dir, owner);
        if (blocked)
          throw fail(
            `the server runs as ${user}, who cannot reach ${r.dir}: ${blocked} is closed to it`,
            `put the scratch folder where ${user} can enter every folder on the way (backups.pitr[].dir), e.g. under /var/tmp`,
          );
      }
      const leftover = s.leftover.some((x) => x.kind === 'folder' && scratchFolder.covers(x, r.dir));
      const problem = await scratchFolder.problem(r.dir, t, leftover);
      if (problem) throw fail(problem.message, 'name a folder that does not exist yet (backups.pitr[].dir): the drill creates it and removes it afterwards');
      const data = join(r.dir, 'data');
      const script = join(r.dir, 'restore.sh');
      let plan: PitrPlan;
      try {
        plan = await planPitr(repo, m, keys, {
          dataDir: data,
          target: { ...(r.targetTime ? { time: r.targetTime } : {}), action: 'promote' },
          restoreCommand: restoreCommand(script),
          ...(user ? { owner: user } : {}),
          noArchive: true,
          // A verification: the base checked as `backup verify` checks it (the whole stored file hashed, the plaintext, every file).
          verify: true,
        });
      } catch (e) {
        throw fail((e as Error).message, 'a real recovery would stop here too: verify the archive (backup wal-verify), and take a new base backup after a gap');
      }
      const c = plan.continuity;
      if (!r.targetTime && c.missing)
        throw fail(
          `WAL segment ${c.missing} is missing from the archive: a recovery to its end would stop before it (the archive goes on to ${c.newest})`,
          'take a new base backup now, so that a recovery can start after the gap, and find out why the segment is missing (pg_stat_archiver, the server log)',
        );
      const names = walNames(plan);
      const info = await readArchiveInfo(repo, r.cluster);
      const segSize = info!.segmentSize;
      const last = c.segments[c.segments.length - 1]!;
      // The recovery point of a restore to the end of the archive: when its last segment was archived.
      const lastAt = r.targetTime ? undefined : (await pushedAt(repo, r.cluster, [last])).get(last)?.finishedAt;
      const need = m.plaintext.size + (WINDOW + 4) * segSize;
      const free = freeSpace(r.dir);
      if (free !== undefined && free < need)
        throw fail(
          `${gib(free)} free where ${r.dir} would be, and the restore needs about ${gib(need)} (the base backup, ${gib(m.plaintext.size)}, and the WAL handed over at a time)`,
          'put the scratch folder on a file system with room (backups.pitr[].dir)',
        );
      const d = describePlan(plan);
      const to = r.targetTime ? r.targetTime.toISOString() : 'the end of the archive';
      return {
        message: `${m.file} (made ${m.finishedAt}), key ${m.keyId} held; WAL ${d.from} … ${r.targetTime ? d.through : d.newest} on timeline ${d.chain}, to ${to}; a PostgreSQL ${major} server${user ? ` as ${user}` : ''} in ${r.dir}${plan.warnings.length ? `; note: ${plan.warnings.join('; ')}` : ''}`,
        run: async () => {
          const j = s.journal!;
          const top = outermostMissing(r.dir);
          await scratchFolder.create(j, r.dir, t);
          if (owner && top)
            for (let p = r.dir; ; p = dirname(p)) {
              lchownSync(p, owner.uid, owner.gid);
              if (p === top) break;
            }
          // A folder an earlier step of this drill made on the way (0700, root's) is opened for the server's user to pass through.
          if (owner)
            for (let p = dirname(top ?? r.dir); p !== dirname(p); p = dirname(p)) {
              if (!j.data.targets.some((x) => x.kind === 'folder' && scratchFolder.covers(x, p))) break;
              const st = statSync(p);
              if (!mayEnter(st, owner)) chmodSync(p, (st.mode & 0o777) | 0o001);
            }
          input.onProgress?.({ item: `point-in-time restore of ${r.cluster}`, phase: 'base backup into the data directory' });
          await executePitr(repo, plan, keys, input.env, input.now());
          const walDir = join(r.dir, 'wal');
          makeDir(walDir, 0o700);
          const files: [string, string][] = [
            [script, restoreScript(walDir, process.pid)],
            [join(r.dir, 'postgresql.conf'), '# The configuration of a drill server: its settings are on its command line (vault-tool drill).\n'],
            [join(r.dir, 'pg_hba.conf'), '# Its socket only, in a folder of its own: the drill connects as the user it names.\nlocal all all trust\n'],
            [join(r.dir, 'pg_ident.conf'), ''],
          ];
          // Made new (never through a name planted in the folder), owned through their descriptors.
          for (const [f, text] of files) {
            const fd = openSync(f, 'wx', 0o600);
            try {
              writeFileSync(fd, text);
              if (owner) fchownSync(fd, owner.uid, owner.gid);
            } finally {
              closeSync(fd);
            }
          }
          if (owner) lchownSync(walDir, owner.uid, owner.gid);
          chmodSync(r.dir, 0o700);
          const port = await freePort();
          const entry = j.add<ServerEntry>({ kind: 'postgres-server', data, bin, ...(user ? { user } : {}), port, state: 'creating' });
          const item = `point-in-time restore of ${r.cluster}`;
          const feed = feedWal({
            repo,
            cluster: r.cluster,
            keys,
            names,
            dir: walDir,
            ...(owner ? { owner } : {}),
            window: WINDOW,
            pid: process.pid,
            ...(input.onProgress
              ? { onHanded: (n: number) => input.onProgress!({ item, phase: 'WAL handed to the recovering server', count: n, of: names.length }) }
              : {}),
          });
          const log = join(r.dir, 'server.log');
          const started = Date.now();
          const waitMs = input.plan.timeouts.restoreMs;
          const [cmd, args] = asUser(
            user,
            join(bin, 'pg_ctl'),
            startArgs({
              data,
              port,
              socketDir: r.dir,
              log,
              // Over every configuration file the base backup carries (postgresql.auto.conf included): nothing of production's.
              settings: {
                data_directory: data,
                config_file: join(r.dir, 'postgresql.conf'),
                hba_file: join(r.dir, 'pg_hba.conf'),
                ident_file: join(r.dir, 'pg_ident.conf'),
                archive_mode: 'off',
                hot_standby: 'off',
                ssl: 'off',
                logging_collector: 'off',
                fsync: 'off',
                cluster_name: 'vault-tool-drill',
              },
              waitSeconds: waitMs / 1000,
            }),
          );
          try {
            // The server (postgres, through runuser, when root) gets PATH, the locale and TZ: none of the drill's secrets.
            await runTool(cmd, args, { env: envForProcess(input.env), timeoutMs: waitMs + 60_000, label: `PostgreSQL's recovery in ${r.dir}` });
            j.created(entry);
            await recovered(data, started + waitMs);
          } catch (e) {
            // Stopped first: a feed still waiting for the server to ask would never settle.
            feed.stop();
            const reason = await feed.done.then(
              () => undefined,
              (x: Error) => x.message,
            );
            throw fail(
              `the recovery did not finish: ${reason ?? serverSays(log) ?? (e as Error).message}`,
              reason
                ? 'a real recovery would stop here too: verify the archive, reading every file (backup wal-verify), to find every bad one'
                : `read the server's log (${log}): keep the drill's targets to read it after the run`,
            );
          }
          feed.stop();
          const late = await feed.done.then(
            () => undefined,
            (x: Error) => x.message,
          );
          const env = scratchEnv(input.env, r.dir, port, r.user);
          const st = { env, timeoutMs: t.timeoutMs };
          const [inRecovery, lsn, lastXact] = (
            await psqlRead("select pg_is_in_recovery(), pg_last_wal_replay_lsn(), coalesce(pg_last_xact_replay_timestamp()::text, '');\n", {}, st).catch(
              (e: Error) => {
                throw fail(`the restored server does not answer: ${e.message}`, `check that role ${r.user} exists in the cluster (backups.pitr[].user)`);
              },
            )
          ).split('|');
          if (inRecovery !== 'f') throw fail('the restored server is still in recovery: it was not promoted');
          if (!r.targetTime && parseLsn(lsn!) < segmentStart(last, segSize))
            throw fail(`recovery stopped at ${lsn}, before the last segment of the archive (${last}): the points in time after it were not recovered`);
          if (r.targetTime && lastXact && Date.parse(lastXact.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')) > r.targetTime.getTime())
            throw fail(`the last transaction recovered committed at ${lastXact}, after the target ${r.targetTime.toISOString()}`);
          s.pitrInto.set(r.cluster, { env, manifest: m });
          const point = r.targetTime ?? new Date(lastAt ?? m.finishedAt);
          const age = Math.round((input.now().getTime() - point.getTime()) / 1000);
          s.restored.push({
            component: m.component,
            file: m.file,
            madeAt: m.finishedAt,
            ageSeconds: age,
            into: `a PostgreSQL server on ${data} (port ${port})`,
          });
          const secs = ((Date.now() - started) / 1000).toFixed(1);
          return `${m.file} and ${feed.handed} WAL file(s) into ${data}; recovered to ${to} (replayed to ${lsn}${lastXact ? `, last transaction ${lastXact}` : ''}) in ${secs} s and promoted; server on port ${port}${late ? `; past the target, a WAL file did not read: ${late}` : ''}`;
        },
      };
    },
  };
}

/**
 * Waits until the server on `data` ends its recovery and accepts
 * connections. pg_ctl -w returns as soon as recovery has started when
 * hot_standby is off (postmaster.pid says `standby`): the recovery of a
 * long archive goes on after it. Throws when the server stops (recovery
 * failed: its log says why) or at the deadline.
 */
async function recovered(data: string, deadline: number): Promise<void> {
  for (;;) {
    const state = serverState(data);
    if (state === 'ready') return;
    if (state === null || state === 'stopping') throw new Error('the server stopped during the recovery');
    if (Date.now() > deadline) throw new Error('the recovery did not end within the restore timeout (timeouts.restore)');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** What the server's log says of its failure (its FATAL/ERROR lines), if anything. */
function serverSays(log: string): string | undefined {
  try {
    return toolMessage(readFileSync(log, 'utf8')) || undefined;
  } catch {
    return undefined;
  }
}
