import { join } from 'node:path';
import { backupKeys } from '../backup/keys.js';
import { listRepo, type Listed, type Repo } from '../backup/repo.js';
import { restoreBackup, type RestoreTarget } from '../backup/restore.js';
import { verifyBackup } from '../backup/run.js';
import { runTool } from '../backup/tool.js';
import { parseDestination } from '../dest/dest.js';
import type { BackupRestore } from './plan.js';
import { createDatabase, createFolder, databaseExists, folderProblem, mayCreateDatabases, serverOf, type Tools } from './scratch.js';
import { type DrillState, fail, type Step } from './steps.js';

/** The newest backup of a component whose last verification passed (or the one named). */
function chooseBackup(all: Listed[], r: BackupRestore): Listed {
  const mine = all.filter((b) => b.component === r.component);
  if (r.file) {
    const b = mine.find((x) => x.file === r.file);
    if (!b) throw fail(`no backup ${r.component}/${r.file} in the repository`, 'check the file name with `backup list`');
    return b;
  }
  const good = mine
    .filter((b) => b.manifest && !b.problem && b.manifest.verification?.ok)
    .sort((a, b) => b.manifest!.finishedAt.localeCompare(a.manifest!.finishedAt));
  if (!good.length)
    throw fail(
      `no verified backup of ${r.component} in the repository${mine.length ? ` (${mine.length} unverified or damaged)` : ''}`,
      'make one (vault-tool backup …) and verify it',
    );
  return good[0]!;
}

/** The tool is installed and runs (a quick --version, time-bounded). */
async function have(cmd: string, t: Tools, pkg: string): Promise<void> {
  try {
    await runTool(cmd, ['--version'], { env: t.env, timeoutMs: t.timeoutMs });
  } catch (e) {
    throw fail((e as Error).message, `install ${pkg}`);
  }
}

const within = (dir: string, folders: string[]) => folders.some((f) => dir === f || dir.startsWith(`${f}/`));

/** One backup into its scratch target: a database the drill creates, or a folder it creates. */
export function restoreStep(r: BackupRestore): Step {
  return {
    name: `restore ${r.component}`,
    async plan(s: DrillState) {
      const { input } = s;
      const doc = s.doc;
      const backups = input.plan.backups;
      if (!doc || !backups) throw fail('the vault is not open');
      const repo: Repo = { dest: parseDestination(backups.repo, '/'), io: { env: input.env } };
      s.listed ??= await listRepo(repo);
      const b = chooseBackup(s.listed, r);
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
      const t = s.tools;
      const timeouts = input.plan.timeouts;
      const age = Math.round((input.now().getTime() - Date.parse(m.finishedAt)) / 1000);
      const made = `${m.file} (made ${m.finishedAt}), key ${m.keyId} held`;
      const opts = (label: string) => ({
        timeoutMs: timeouts.restoreMs,
        callTimeoutMs: timeouts.toolMs,
        onStart: (pid: number) => s.journal!.process(pid, label),
      });
      const done = (into: string) => {
        s.restored.push({ component: m.component, file: m.file, madeAt: m.finishedAt, ageSeconds: age, into });
        return `${m.file} (made ${m.finishedAt}, ${Math.round(age / 60)} min old) into ${into}, after a full check`;
      };

      if (r.database) {
        const db = r.database;
        await have('psql', t, 'postgresql-client');
        await have('createdb', t, 'postgresql-client');
        await have('pg_restore', t, 'postgresql-client');
        let exists: boolean;
        try {
          exists = await databaseExists(db, t);
        } catch (e) {
          throw fail(`cannot reach the PostgreSQL server ${serverOf(input.env)}: ${(e as Error).message}`, 'check PGHOST, PGPORT, PGUSER and the password');
        }
        if (exists && !s.leftover.databases.has(db))
          throw fail(
            `database ${db} exists on ${serverOf(input.env)}: a drill restores only into a database it creates`,
            'name another scratch database in the plan (backups.restore[].database)',
          );
        if (!(await mayCreateDatabases(t)))
          throw fail(`the role libpq logs in as may not create databases on ${serverOf(input.env)}`, 'log in as a role with CREATEDB (PGUSER)');
        return {
          message: `${made}; database ${db} can be created on ${serverOf(input.env)}`,
          run: async () => {
            await createDatabase(s.journal!, db, { ...t, onStart: (pid, label) => s.journal!.process(pid, label) });
            const target: RestoreTarget = { kind: 'postgres', dbname: db, create: false, noOwner: true, force: true };
            const into = await restoreBackup(repo, m, key, target, input.env, opts(`pg_restore into ${db}`));
            s.databases.set(db, { repo, manifest: m, key });
            return done(into);
          },
        };
      }
      const dir = r.dir!;
      if (m.kind === 'files') await have('tar', t, 'tar');
      const problem = within(dir, s.leftover.folders) ? null : folderProblem(dir);
      if (problem) throw fail(problem, 'name a folder that does not exist yet (backups.restore[].dir): the drill creates it and removes it afterwards');
      return {
        message: `${made}; folder ${dir} can be created`,
        run: async () => {
          createFolder(s.journal!, dir);
          const target: RestoreTarget =
            m.kind === 'redis' || m.kind === 'files'
              ? { kind: m.kind, dir, force: false }
              : { kind: 'file', out: join(dir, m.file.replace(/\.age$/, '')), force: false };
          const into = await restoreBackup(repo, m, key, target, input.env, opts(`restore into ${dir}`));
          s.folders.add(dir);
          return done(into);
        },
      };
    },
  };
}
