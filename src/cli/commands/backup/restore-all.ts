import type { Command } from 'commander';
import { VaultError } from '../../../errors/errors.js';
import { kindNamed } from '../../../backup/kinds/index.js';
import { listRepo, requireRepo } from '../../../backup/repo.js';
import { planRestore, type RestorePlan, restorableKey, restoreTarget } from '../../../backup/restore.js';
import { vaultForBackups } from '../../../backup/run.js';
import { latestSet } from '../../../backup/select.js';
import { parseKeyValues } from '../../context.js';
import type { Context } from '../../context.js';
import { guardDataRestore } from '../../guard.js';
import { openRepo } from './options.js';
import { carryOut, type RestoreOptions } from './restore-carry.js';
import { beforeOf, trustedBy } from './selection.js';

/**
 * `backup restore --all`: the newest whole set (a backup of every database
 * and of the globals, made by one run), the globals first (the roles the
 * databases' objects belong to), then each database into its own database
 * (its name, mapped by --dbname-map or --dbname-prefix; created with
 * --create when it does not exist). Every target is checked before anything
 * is restored; the first failure stops the rest, and the error names what
 * was restored before it and what was not.
 */
export async function restoreAll(ctx: Context, cmd: Command, o: RestoreOptions, spec: string | undefined): Promise<void> {
  if (spec !== undefined) throw new VaultError('usage', `--all restores a whole set, not ${spec}: leave the backup out (--set ID names a set)`);
  for (const [flag, given] of [
    ['--dbname', o.dbname],
    ['--to-dir', o.toDir],
    ['--out', o.out],
  ] as const)
    if (given !== undefined)
      throw new VaultError('usage', `--all restores each database into its own: ${flag} names one target (use --dbname-map OLD:NEW or --dbname-prefix P)`);
  const map = parseKeyValues(
    (o.dbnameMap ?? []).map((p) => {
      const i = p.indexOf(':');
      if (i <= 0 || i === p.length - 1) throw new VaultError('usage', `--dbname-map ${JSON.stringify(p)}: expected OLD:NEW`);
      return `${p.slice(0, i)}=${p.slice(i + 1)}`;
    }),
    '--dbname-map',
  );
  const doc = await vaultForBackups(ctx.paths(cmd), ctx.storeOptions(cmd));
  const repo = openRepo(ctx, o);
  await requireRepo(repo);
  const before = beforeOf(ctx, o);
  const set = latestSet(await listRepo(repo), {
    now: ctx.now(),
    trusted: trustedBy(doc),
    ...(before ? { before } : {}),
    ...(o.set ? { id: o.set } : {}),
  });
  const databases = set.members.filter((s) => s.manifest!.kind !== 'postgres-globals').map((s) => s.manifest!.source.database ?? '');
  const unknown = Object.keys(map).filter((d) => !databases.includes(d));
  if (unknown.length) throw new VaultError('usage', `--dbname-map names ${unknown.join(', ')}, not in set ${set.id} (its databases: ${databases.join(', ')})`);
  const into = (database: string) => map[database] ?? `${o.dbnamePrefix ?? ''}${database}`;
  const targets = databases.map(into);
  const twice = targets.find((t, i) => targets.indexOf(t) !== i);
  if (twice) throw new VaultError('usage', `two databases of set ${set.id} would be restored into ${twice}`);
  ctx.info(`using set ${set.id}: ${set.why}`);

  // Every target checked first (a database missing without --create, one holding tables without --force): nothing restored unless all pass.
  const plans: RestorePlan[] = [];
  for (const s of set.members) {
    const m = s.manifest!;
    const name = `${m.component}/${m.file}`;
    const kind = kindNamed(m.kind);
    const req =
      m.kind === 'postgres-globals'
        ? {}
        : { database: into(m.source.database ?? ''), create: Boolean(o.create), noOwner: o.owner === false, force: Boolean(o.force) };
    plans.push(await planRestore(m, restorableKey(doc, m, name), restoreTarget(kind, req, name), ctx.io.env));
  }
  const json = ctx.globals(cmd).json;
  if (o.dryRun) {
    if (json) return ctx.json({ set: set.id, dryRun: true, restores: plans.map((p) => ({ backup: p.backup, into: p.target.where, steps: p.steps })) });
    for (const p of plans) ctx.out(`${p.backup} into ${p.target.where}`);
    ctx.info(`dry run: set ${set.id} can be restored, ${plans.length} backups in this order; nothing was written`);
    return;
  }
  // Every target through the restore policy before anything is restored: a protected one needs its confirmation and hours, or a break-glass.
  const guards: (Record<string, unknown> | undefined)[] = [];
  for (const p of plans) {
    const g = await guardDataRestore(ctx, cmd, { ...o, confirm: o.confirmTarget }, () => p.target.guard(ctx.io.env), p.backup);
    guards.push(g?.protected ? { ...g, ...(o.reason ? { reason: o.reason } : {}) } : undefined);
  }
  const done: { backup: string; into: string }[] = [];
  for (const [i, p] of plans.entries()) {
    try {
      await carryOut(ctx, cmd, repo, p, guards[i]);
      done.push({ backup: p.backup, into: p.target.where });
    } catch (e) {
      if (!(e instanceof VaultError)) throw e;
      const rest = plans.slice(i + 1).map((x) => x.backup);
      throw new VaultError(
        e.kind,
        `${e.message}; restored before it: ${done.map((d) => `${d.backup} into ${d.into}`).join(', ') || 'nothing'}; not restored: ${[p.backup, ...rest].join(', ')}`,
        { ...(e.code ? { code: e.code } : {}), ...(e.data ? { data: e.data } : {}) },
      );
    }
    if (!json) ctx.out(`restored ${p.backup} (${p.manifest.finishedAt}) into ${p.target.where}, after a full check`);
  }
  if (json) return ctx.json({ set: set.id, chosen: set.why, restored: done, checked: true });
  ctx.info(`set ${set.id}: ${done.length} backups restored, the globals first`);
}
