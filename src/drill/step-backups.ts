import { join } from 'node:path';
import type { Restorer } from '../backup/kind.js';
import { drilledKind } from '../backup/kinds/index.js';
import { backupKeys, peekBackupState } from '../backup/keys.js';
import { checkSignature } from '../backup/manifest.js';
import { listRepo, type Listed, type Repo } from '../backup/repo.js';
import { intoFile, restoreBackup } from '../backup/restore.js';
import { verifyBackup } from '../backup/run.js';
import { newestVerified } from '../backup/select.js';
import { BACKUP_SCRATCH, type Tools } from '../backup/scratch.js';
import { parseDestination } from '../dest/index.js';
import { runTool } from '../tool/run.js';
import type { Progress } from '../fs/progress.js';
import type { VaultDocument } from '../vault/document.js';
import { type BackupRestore, TARGET_FIELD } from './plan.js';
import { type DrillState, fail, type Step } from './steps.js';

/** The newest verified backup of a component, as `backup restore COMPONENT` takes it (or the file the plan names). */
function chooseBackup(all: Listed[], r: BackupRestore, now: Date, doc: VaultDocument): Listed {
  if (r.file) {
    const b = all.find((x) => x.component === r.component && x.file === r.file);
    if (!b) throw fail(`no backup ${r.component}/${r.file} in the repository`, 'check the file name with `backup list`');
    return b;
  }
  try {
    return newestVerified(all, r.component, { now, trusted: (m) => checkSignature(m, peekBackupState(doc).signers).ok }).backup;
  } catch (e) {
    throw fail((e as Error).message, 'make one (vault-tool backup …) and verify it');
  }
}

/** The tool is installed and runs (a quick --version, time-bounded). */
export async function have(cmd: string, t: Tools, pkg: string): Promise<void> {
  try {
    await runTool(cmd, ['--version'], { env: t.env, timeoutMs: t.timeoutMs });
  } catch (e) {
    throw fail((e as Error).message, `install ${pkg}`);
  }
}

/**
 * One backup into its scratch target: what its kind restores into (a
 * database the drill creates, or a folder it creates), the kind's restore
 * into it (into a file in the folder when the kind restores elsewhere or
 * only into a file).
 */
export function restoreStep(r: BackupRestore): Step {
  return {
    name: `restore ${r.component}`,
    async plan(s: DrillState) {
      const { input } = s;
      const doc = s.doc;
      const backups = input.plan.backups;
      if (!doc || !backups) throw fail('the vault is not open');
      const repo: Repo = { dest: parseDestination(backups.repo, '/', { env: input.env }) };
      s.listed ??= await listRepo(repo);
      const b = chooseBackup(s.listed, r, input.now(), doc);
      const check = await verifyBackup(repo, b, doc, { readData: false, env: input.env, now: input.now() });
      if (!check.ok)
        throw fail(
          `${b.component}/${b.file}: ${check.message}`,
          check.keyHeld
            ? 'use another backup (file:) or find out why this one fails'
            : 'the vault must hold the backup key of this backup: it cannot be restored',
        );
      const m = b.manifest!;
      const key = backupKeys(doc).find((k) => k.keyId === m.keyId)!;
      const kind = drilledKind(m.kind);
      const scratch = BACKUP_SCRATCH[kind.drill.scratch];
      const at = r[TARGET_FIELD[kind.drill.scratch]]!;
      const t = s.tools;
      const timeouts = input.plan.timeouts;
      const age = Math.round((input.now().getTime() - Date.parse(m.finishedAt)) / 1000);
      const made = `${m.file} (made ${m.finishedAt}), key ${m.keyId} held`;
      for (const tool of [...scratch.tools, ...kind.drill.tools]) await have(tool.command, t, tool.pkg);
      const problem = await scratch.problem(
        at,
        t,
        s.leftover.some((x) => x.kind === scratch.kind && scratch.covers(x, at)),
      );
      if (problem) throw fail(problem.message, problem.todo);
      // Into the scratch target: a database as the kind restores one (created by the drill, so replaced freely, without owners);
      // a folder as the kind restores one, or the dump as a file in it.
      // A prefix holds the drill's marker: the restore goes in beside it (the drill made it).
      const target = (): Restorer =>
        kind.drill.scratch === 'database'
          ? kind.restore!.target({ database: at, create: false, noOwner: true, force: true })
          : kind.drill.scratch === 'prefix'
            ? kind.restore!.target({ to: at, force: true })
            : kind.restore?.needs === 'dir'
              ? kind.restore.target({ dir: at, force: false })
              : intoFile(join(at, m.file.replace(/\.age$/, '')), false);
      return {
        message: `${made}; ${scratch.planned(at, t)}`,
        run: async () => {
          await scratch.create(s.journal!, at, { ...t, onStart: (pid, l) => s.journal!.process(pid, l) });
          const restorer = target();
          // The journal names the restore's processes: a database's by its restore, a folder by where it goes.
          const label = kind.drill.scratch === 'folder' ? `restore into ${at}` : restorer.label;
          const into = await restoreBackup(repo, m, key, restorer, input.env, {
            timeoutMs: timeouts.restoreMs,
            callTimeoutMs: timeouts.toolMs,
            onStart: (pid: number) => s.journal!.process(pid, label),
            // The restore's passes, under the step's name.
            ...(input.onProgress ? { onProgress: (p: Progress) => input.onProgress!({ ...p, item: `restore ${r.component}` }) } : {}),
          });
          s.restoredInto.set(at, { repo, manifest: m, key });
          s.restored.push({ component: m.component, file: m.file, madeAt: m.finishedAt, ageSeconds: age, into });
          return `${m.file} (made ${m.finishedAt}, ${Math.round(age / 60)} min old) into ${into}, after a full check`;
        },
      };
    },
  };
}
