import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import type { RestoreRequest } from '../../../backup/kind.js';
import { kindNamed } from '../../../backup/kinds/index.js';
import { planRestore, restorableKey, restoreTarget, usableManifest } from '../../../backup/restore.js';
import { vaultForBackups } from '../../../backup/run.js';
import type { Context } from '../../context.js';
import { checkBreakGlass, guardDataRestore, guardOptions } from '../../guard.js';
import { collect } from '../../options.js';
import { repoOption } from './options.js';
import { restoreAll } from './restore-all.js';
import { carryOut, type RestoreOptions } from './restore-carry.js';
import { restoreBase } from './restore-base.js';
import { beforeOption, sayChosen, selectBackups, trustedBy, vaultIfHere } from './selection.js';

/** What a kind restored by another command says instead (by how it goes back, not by its name). */
const ELSEWHERE = {
  cluster:
    'a Kubernetes backup goes back through the cluster client and its guard rails: k8s restore --from-backup COMPONENT/FILE (or --out FILE, then kubectl apply -f FILE)',
  pitr: 'a base backup goes into a data directory with the WAL to a recovery target: --to-dir DATADIR [--target-time T]',
  archive: "WAL goes back through PostgreSQL's restore_command (backup wal-fetch), once a base backup is restored",
} as const;

export default function backupRestore(cmd: Command, ctx: Context): void {
  guardOptions(beforeOption(repoOption(cmd)))
    .argument('[backup]', 'COMPONENT/FILE; a component (postgres/app) or COMPONENT@latest for its newest verified backup; or the path of a backup file')
    .option('--all', 'every database of the newest whole set a backup of every database made: the globals first, then each database')
    .option('--set <id>', "--all: this set (backup list names each backup's set)")
    .option('--dbname-map <old:new>', '--all: restore database OLD into NEW (repeatable)', collect)
    .option('--dbname-prefix <prefix>', '--all: restore each database into PREFIX followed by its name')
    .option('-d, --dbname <name>', 'postgres: restore into this database (pg_restore --clean --if-exists, in one transaction)')
    .option('--create', 'postgres: create the database first when it does not exist')
    .option('--no-owner', 'postgres: do not restore ownership (the roles may not exist there)')
    .option('--to-dir <dir>', 'redis: write dump.rdb here; files: extract here (never over existing files without --force); bucket: the objects as files here')
    .option('--to <remote>', 'bucket: upload the objects under REMOTE:BUCKET/PREFIX (refused where objects are, without --force)')
    .option('-o, --out <file>', 'any backup: write the decrypted data to this file (mode 0600), after the full check')
    .option('--force', 'replace what is there: existing files, or the tables of an existing database')
    .option('--allow-running', 'redis: write dump.rdb into the folder of a Redis server that runs (it writes its own there when it saves or stops)')
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
    .action(async (spec: string | undefined, o: RestoreOptions) => {
      checkBreakGlass(o);
      if (o.all) return restoreAll(ctx, cmd, o, spec);
      for (const [flag, given] of [
        ['--set', o.set],
        ['--dbname-map', o.dbnameMap],
        ['--dbname-prefix', o.dbnamePrefix],
      ] as const)
        if (given !== undefined) throw new VaultError('usage', `${flag} goes with --all`);
      if (!spec) throw new VaultError('usage', 'which backup? name it (COMPONENT/FILE, or a component for its newest verified backup), or use --all');
      // The signers the vault trusts, when it is here, so that a backup no trusted host made is never the one chosen.
      const identityOnly = Boolean(o.identity ?? ctx.io.env.VAULT_TOOL_BACKUP_IDENTITY);
      const here = identityOnly ? undefined : await vaultIfHere(ctx, cmd);
      const { repo, picks } = await selectBackups(ctx, o, [spec], here ? trustedBy(here) : undefined);
      const pick = picks[0]!;
      const m = usableManifest(pick.backup, spec);
      sayChosen(ctx, picks);
      if (m.kind === 'postgres-base') return restoreBase(ctx, cmd, repo, m, o);
      const doc = here ?? (await vaultForBackups(ctx.paths(cmd), ctx.storeOptions(cmd)));
      const name = `${m.component}/${m.file}`;
      const key = restorableKey(doc, m, name);
      const kind = kindNamed(m.kind);
      const force = Boolean(o.force);
      let req: RestoreRequest & { out?: string };
      if (o.out) req = { out: ctx.outFile(o.out), force };
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
      else if (o.to && kind.restore.needs !== 'bucket') throw new VaultError('usage', `--to is for bucket backups; ${name} is a ${m.kind} backup`);
      else
        req = {
          ...(o.dbname ? { database: o.dbname } : {}),
          ...(o.toDir ? { dir: ctx.abs(o.toDir) } : {}),
          ...(o.to ? { to: o.to } : {}),
          create: Boolean(o.create),
          noOwner: o.owner === false,
          force,
          sameOwner: Boolean(o.sameOwner),
          allowRunning: Boolean(o.allowRunning),
        };
      // The target's checks: refused here, nothing is written (and nothing is recorded: no restore began).
      const plan = await planRestore(m, key, restoreTarget(kind, req, name), ctx.io.env);
      const chosen = pick.by === 'latest' ? { chosen: pick.why } : {};
      if (o.dryRun) {
        if (ctx.globals(cmd).json) return ctx.json({ backup: plan.backup, ...chosen, dryRun: true, into: plan.target.where, steps: plan.steps });
        for (const step of plan.steps) ctx.out(step);
        ctx.info(`dry run: ${plan.backup} can be restored into ${plan.target.where}; nothing was written`);
        return;
      }
      // Into a target the restore policy protects: its confirmation and hours, or a break-glass (the decision is recorded, a refusal too).
      const guard = await guardDataRestore(ctx, cmd, { ...o, confirm: o.confirmTarget }, () => plan.target.guard(ctx.io.env), plan.backup);
      const into = await carryOut(ctx, cmd, repo, plan, guard?.protected ? { ...guard, ...(o.reason ? { reason: o.reason } : {}) } : undefined);
      if (ctx.globals(cmd).json) return ctx.json({ backup: name, ...chosen, into, checked: true });
      ctx.out(`restored ${name} (${m.finishedAt}) into ${plan.target.where}, after a full check`);
    });
}
