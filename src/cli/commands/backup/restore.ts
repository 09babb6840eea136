import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { pickBackups } from '../../../backup/audit.js';
import type { RestoreRequest } from '../../../backup/kind.js';
import { kindNamed } from '../../../backup/kinds/index.js';
import { listRepo } from '../../../backup/repo.js';
import { executeRestore, planRestore, restorableKey, restoreTarget, usableManifest } from '../../../backup/restore.js';
import { vaultForBackups } from '../../../backup/run.js';
import type { Context } from '../../context.js';
import { checkBreakGlass, guardDataRestore, guardOptions, type GuardOptions } from '../../guard.js';
import { openRepo, repoOption, type RepoOptions } from './options.js';
import { restoreBase, type BaseRestoreOptions } from './restore-base.js';

/** What a kind restored by another command says instead (by how it goes back, not by its name). */
const ELSEWHERE = {
  cluster:
    'a Kubernetes backup goes back through the cluster client and its guard rails: k8s restore --from-backup COMPONENT/FILE (or --out FILE, then kubectl apply -f FILE)',
  pitr: 'a base backup goes into a data directory with the WAL to a recovery target: --to-dir DATADIR [--target-time T]',
  archive: "WAL goes back through PostgreSQL's restore_command (backup wal-fetch), once a base backup is restored",
} as const;

interface RestoreOptions extends RepoOptions, Omit<BaseRestoreOptions, 'toDir' | 'owner'>, Omit<GuardOptions, 'confirm'> {
  policy?: string;
  confirmTarget?: string;
  dbname?: string;
  to?: string;
  create?: boolean;
  toDir?: string;
  owner?: string | boolean;
  out?: string;
  force?: boolean;
  sameOwner?: boolean;
  dryRun?: boolean;
}

export default function backupRestore(cmd: Command, ctx: Context): void {
  guardOptions(repoOption(cmd))
    .argument('<file>', 'the backup, as COMPONENT/FILE (backup list names them)')
    .option('-d, --dbname <name>', 'postgres: restore into this database (pg_restore --clean --if-exists, in one transaction)')
    .option('--create', 'postgres: create the database first (a scratch database)')
    .option('--no-owner', 'postgres: do not restore ownership (the roles may not exist there)')
    .option('--to-dir <dir>', 'redis: write dump.rdb here; files: extract here (never over existing files without --force); bucket: the objects as files here')
    .option('--to <remote>', 'bucket: upload the objects under REMOTE:BUCKET/PREFIX (refused where objects are, without --force)')
    .option('-o, --out <file>', 'any backup: write the decrypted data to this file (mode 0600), after the full check')
    .option('--force', 'replace what is there: existing files, or the tables of an existing database')
    .option('--same-owner', "files: keep the archive's owners and modes, setuid bits included (by default files belong to you, under your umask)")
    .option('--target-time <time>', 'postgres-base: recover to this time (ISO 8601 with a zone), then stop')
    .option('--target-lsn <lsn>', 'postgres-base: recover to this LSN (X/Y), then stop')
    .option('--target-name <name>', 'postgres-base: recover to this restore point (pg_create_restore_point), then stop')
    .option('--target-action <action>', "postgres-base: at the target, promote, pause (PostgreSQL's default) or shutdown")
    .option('--target-exclusive', 'postgres-base: stop just before the target, not just after it')
    .option('--owner <user>', 'postgres-base: the data directory is owned by this user (as root: the one PostgreSQL runs as)')
    .option('--identity <file>', 'postgres-base: the backup identity file (backup key export-identity) the restored server reads the WAL with')
    .option('--no-archive', 'postgres-base: archive_mode = off in the restored cluster (a scratch restore must not archive into the repository)')
    .option('--dry-run', 'check the backup, its key and the target, and print the plan; write nothing')
    .action(async (file: string, o: RestoreOptions) => {
      checkBreakGlass(o);
      const repo = openRepo(ctx, o);
      const [b] = pickBackups(await listRepo(repo), [file]);
      const m = usableManifest(b!, file);
      if (m.kind === 'postgres-base') return restoreBase(ctx, cmd, repo, m, o);
      const doc = await vaultForBackups(ctx.paths(cmd), ctx.storeOptions(cmd));
      const key = restorableKey(doc, m, file);
      const kind = kindNamed(m.kind);
      const force = Boolean(o.force);
      let req: RestoreRequest & { out?: string };
      if (o.out) req = { out: ctx.abs(o.out), force };
      else if (!kind.restore)
        throw new VaultError('usage', kind.restoredElsewhere ? ELSEWHERE[kind.restoredElsewhere] : `a ${m.kind} backup is restored with --out FILE`);
      else if (kind.restore.needs === 'database' && !o.dbname)
        throw new VaultError('usage', 'into which database? give --dbname NAME (with --create for a new one)');
      else if (kind.restore.needs === 'dir' && !o.toDir)
        throw new VaultError('usage', `where to? give --to-dir DIR${kind.restore.note ? ` (${kind.restore.note})` : ''}`);
      else if (kind.restore.needs === 'bucket' && Boolean(o.to) === Boolean(o.toDir))
        throw new VaultError(
          'usage',
          o.to ? 'give --to REMOTE:BUCKET/PREFIX or --to-dir DIR, not both' : 'where to? give --to REMOTE:BUCKET/PREFIX, or --to-dir DIR',
        );
      else if (o.to && kind.restore.needs !== 'bucket') throw new VaultError('usage', `--to is for bucket backups; ${file} is a ${m.kind} backup`);
      else
        req = {
          ...(o.dbname ? { database: o.dbname } : {}),
          ...(o.toDir ? { dir: ctx.abs(o.toDir) } : {}),
          ...(o.to ? { to: o.to } : {}),
          create: Boolean(o.create),
          noOwner: o.owner === false,
          force,
          sameOwner: Boolean(o.sameOwner),
        };
      // What was restored, into where, by whom: recorded whether it completed or not (names and places, never data).
      const record = (complete: boolean, into: string, error?: string) =>
        ctx.recordAccess(cmd, 'backup.restore', {
          backup: `${m.component}/${m.file}`,
          id: m.id,
          kind: m.kind,
          madeAt: m.finishedAt,
          keyId: m.keyId,
          plaintextSha256: m.plaintext.sha256,
          repo: repo.dest.spec,
          into,
          ...target.record,
          ...(guard?.protected ? { guard: { ...guard, ...(o.reason ? { reason: o.reason } : {}) } } : {}),
          complete,
          ...(error ? { error } : {}),
        });
      const target = restoreTarget(kind, req, file);
      let into: string;
      let guard: Awaited<ReturnType<typeof guardDataRestore>>;
      try {
        const plan = await planRestore(m, key, target, ctx.io.env);
        if (o.dryRun) {
          if (ctx.globals(cmd).json) return ctx.json({ backup: plan.backup, dryRun: true, into: plan.target.where, steps: plan.steps });
          for (const step of plan.steps) ctx.out(step);
          ctx.info(`dry run: ${plan.backup} can be restored into ${plan.target.where}; nothing was written`);
          return;
        }
        // Into a target the restore policy protects: its confirmation and hours, or a break-glass (the decision is recorded, a refusal too).
        guard = await guardDataRestore(ctx, cmd, { ...o, confirm: o.confirmTarget }, target.guard(ctx.io.env), plan.backup);
        into = await executeRestore(repo, plan, ctx.io.env);
      } catch (e) {
        // A target refused before anything was written (it exists, it is of another kind, the policy refused it: recorded as such) is no restore; anything else may have written part of one.
        if (!(e instanceof VaultError && (e.kind === 'exists' || e.kind === 'usage' || e.kind === 'policy')))
          await record(false, target.where, (e as Error).message);
        throw e;
      }
      await record(true, into);
      if (ctx.globals(cmd).json) return ctx.json({ backup: `${m.component}/${m.file}`, into, checked: true });
      ctx.out(`restored ${m.component}/${m.file} (${m.finishedAt}) into ${into}, after a full check`);
    });
}
