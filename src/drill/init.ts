import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { stringify } from 'yaml';
import { readVault, type StoreOptions, type VaultPaths } from '../vault/store.js';
import { escrowOf } from '../escrow/escrow.js';
import { kindOfComponent } from '../backup/kinds/index.js';
import { listRepo } from '../backup/repo.js';
import { parseDestination } from '../dest/index.js';
import { parsePlan } from '../k8s/plan.js';
import { readFileCapped, LIMITS } from '../fs/read.js';
import { peekVerifyState } from '../verify/state.js';
import { looksLikeShare } from '../fs/share-text.js';

type Env = Record<string, string | undefined>;

/**
 * A drill plan from what the vault already knows, so a team starts from a
 * working file: the share files of the current set (K of them), the
 * Kubernetes restore plan into drill-NS namespaces, the newest verified
 * backup of each component into scratch targets, a point-in-time restore
 * of each cluster with base backups, and checks that need no
 * knowledge of the data (the restored database has tables, the files that
 * were backed up exist, the Secrets match the vault, the canaries open).
 */
/** Whether a small file's text holds a share (read only up to 8 KiB: a share file is well under it). */
function holdsShare(path: string): boolean {
  try {
    if (statSync(path).size > 8192) return false;
    return looksLikeShare(readFileCapped(path, 'a share file', 8192).toString('utf8'));
  } catch {
    return false;
  }
}

/** Share files in a folder and in its subfolders one level down (one folder per custodian, as the procedures keep them). */
export function findShareFiles(dir: string): string[] {
  // Named as escrow split names them (in any case: SHARE-02-BOB.SHARE), or a text file holding one (a share kept as ann-share.txt, or with no extension).
  const isShare = (f: string, p: string) => /\.share(\.age)?$/i.test(f) || ((/\.txt$/i.test(f) || !f.includes('.')) && holdsShare(p));
  const list = (d: string, what: string): string[] => {
    try {
      return readdirSync(d).sort();
    } catch (e) {
      throw new VaultError('not-found', `cannot read ${what} ${d}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        hint: 'give the folder the shares are in (one subfolder per custodian is fine), readable by this user',
      });
    }
  };
  // A name that cannot be looked at (a dangling link, a race) is no share: not a crash.
  const kind = (p: string): 'file' | 'dir' | null => {
    try {
      const st = statSync(p);
      return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : null;
    } catch {
      return null;
    }
  };
  const out: string[] = [];
  for (const n of list(dir, 'the shares folder')) {
    const p = join(dir, n);
    const k = kind(p);
    if (k === 'file' && isShare(n, p)) out.push(p);
    else if (k === 'dir')
      for (const m of list(p, "a custodian's shares folder")) {
        if (kind(join(p, m)) === 'file' && isShare(m, join(p, m))) out.push(join(p, m));
      }
  }
  return out;
}

/** A scratch database name for a component: drill_NAME, a plain identifier of at most 63 bytes, unique in the plan. */
function scratchDatabase(name: string, taken: Set<string>): string {
  let db = `drill_${name.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
  if (db.length > 63 || taken.has(db)) db = `${db.slice(0, 50)}_${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
  taken.add(db);
  return db;
}

export async function drillPlanFromVault(o: {
  paths: VaultPaths;
  store: StoreOptions;
  planDir: string;
  repo?: string;
  sharesDir?: string;
  k8sPlan?: string;
  context?: string;
  scratch: string;
  rto: string;
  env: Env;
  cwd: string;
}): Promise<{ text: string; warnings: string[] }> {
  const { doc } = await readVault(o.paths, o.store);
  const rel = (p: string) => relative(o.planDir, p) || '.';
  const plan: Record<string, unknown> = { apiVersion: 'vault-tool/v1', kind: 'DrillPlan', rto: o.rto };
  const esc = escrowOf(doc).current;
  const notes: string[] = [];
  const warnings: string[] = [];
  if (o.sharesDir) {
    const files = findShareFiles(o.sharesDir);
    if (!files.length)
      throw new VaultError('not-found', `no share files (*.share, *.share.age, or a .txt file holding a share) in ${o.sharesDir} or its subfolders`, {
        code: 'drill-no-shares',
      });
    const k = esc?.threshold ?? files.length;
    if (files.length < k)
      warnings.push(`${files.length} share file(s) found in ${o.sharesDir}, but the key needs ${k}: the drill will fail until the others are there`);
    plan.shares = { files: files.slice(0, k).map(rel) };
    if (files.length > k)
      notes.push(`shares: ${k} of the ${files.length} share files (any ${k} recover the key); the others: ${files.slice(k).map(rel).join(', ')}`);
  } else {
    plan.shares = { prompt: true };
    notes.push(`shares: custodians type them at the prompt${esc ? ` (any ${esc.threshold} of ${esc.custodians.map((c) => c.label).join(', ')})` : ''}`);
  }
  const checks: Record<string, unknown>[] = [];
  if (o.k8sPlan) {
    if (!o.context) throw new VaultError('usage', 'which cluster? a drill writes only into the context its plan names', { code: 'drill-no-context' });
    const secrets = parsePlan(readFileCapped(o.k8sPlan, 'the restore plan', LIMITS.text).toString('utf8'), o.k8sPlan).secrets;
    const namespaceMap = Object.fromEntries([...new Set(secrets.map((s) => s.namespace))].map((ns) => [ns, `drill-${ns}`.slice(0, 63)]));
    plan.kubernetes = { context: o.context, plan: rel(o.k8sPlan), namespaceMap };
    checks.push({ secrets: 'in-sync' });
  }
  if (o.repo) {
    const restore: Record<string, unknown>[] = [];
    const pitr: Record<string, unknown>[] = [];
    const listed = await listRepo({ dest: parseDestination(o.repo, o.cwd, { env: o.env }) });
    const components = [...new Set(listed.filter((b) => b.manifest?.verification?.ok).map((b) => b.component))].sort();
    const taken = new Set<string>();
    for (const c of components) {
      const kind = kindOfComponent(c);
      if (!kind) {
        notes.push(`${c}: a kind of backup this vault-tool does not know; this plan does not restore it`);
        continue;
      }
      if (!kind.drill) {
        // A base backup is rehearsed by a point-in-time restore of its cluster: into a throwaway server, to the end of its archive.
        if (kind.restoredElsewhere === 'pitr') {
          const cluster = c.slice(c.indexOf('/') + 1);
          const dir = rel(join(o.scratch, `pitr-${cluster}`));
          pitr.push({ cluster, dir, target: 'latest' });
          notes.push(
            `${c}: a point-in-time restore of ${cluster} into ${dir} (a PostgreSQL server the drill starts, as postgres when root: every folder on the way must be open to that user); add checks that know the data: { sql: "select count(*) from …", cluster: ${cluster}, database: …, expect: "…" }`,
          );
        } else notes.push(`${c}: a ${kind.label}; this plan does not restore it`);
        continue;
      }
      const [folder, name] = c.split('/') as [string, string];
      const newest = listed
        .filter((b) => b.component === c && b.manifest?.verification?.ok)
        .sort((a, b) => b.manifest!.finishedAt.localeCompare(a.manifest!.finishedAt))[0]?.manifest;
      // Into what its kind restores into: a scratch database, or a scratch folder; and the checks that need no knowledge of the data.
      if (kind.drill.scratch === 'database') {
        const database = scratchDatabase(name, taken);
        restore.push({ component: c, database });
        checks.push(...(kind.drill.initChecks?.(database, newest) ?? []));
      } else if (kind.drill.scratch === 'prefix') {
        // A prefix beside the objects, in the bucket backed up (a scratch bucket is better: review it); on a backend of paths, beside the folder.
        const source = newest?.source.remote ?? '';
        const cut = source.indexOf(':');
        const path = source.slice(cut + 1);
        const base = cut <= 0 ? '' : path.startsWith('/') ? `${source.slice(0, cut + 1)}${dirname(path)}` : `${source.slice(0, cut + 1)}${path.split('/')[0]}`;
        if (!base || base.endsWith(':') || base.endsWith(':/')) {
          notes.push(`${c}: its bucket is not known; add { component: ${c}, prefix: REMOTE:BUCKET/PREFIX } by hand`);
          continue;
        }
        const prefix = `${base.replace(/\/+$/, '')}/vault-tool-drill/${name}`;
        notes.push(
          `${c}: restored into ${prefix}, a scratch prefix beside the objects it was backed up from; name a scratch bucket instead if the drill must not write there`,
        );
        restore.push({ component: c, prefix });
      } else {
        const dir = rel(join(o.scratch, `${folder}-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}`));
        restore.push({ component: c, dir });
        checks.push(...(kind.drill.initChecks?.(dir, newest) ?? []));
      }
    }
    if (restore.length || pitr.length)
      plan.backups = {
        repo: /^[A-Za-z0-9_-]+:/.test(o.repo) ? o.repo : rel(parseDestination(o.repo, o.cwd, { env: o.env }).spec),
        ...(restore.length ? { restore } : {}),
        ...(pitr.length ? { pitr } : {}),
      };
    else warnings.push(`no verified backup in ${o.repo} yet: the plan restores no data`);
  }
  if (peekVerifyState(doc).canaries.length) checks.push({ canaries: 'all' });
  const keys = doc.entries
    .filter((e) => !e.deletedAt && e.type !== 'generic')
    .map((e) => e.name)
    .slice(0, 50);
  if (keys.length) checks.push({ entries: keys });
  plan.checks = checks;
  const head = [
    '# Disaster-recovery drill plan (docs/FORMAT.md, "Drill plan").',
    '# Generated from the vault; review the scratch targets and the checks (add row counts, key counts) before the first drill.',
    '# The drill creates every scratch database, folder and namespace below, and removes them afterwards: none may exist before it runs.',
    ...notes.map((n) => `# ${n}`),
    ...warnings.map((w) => `# warning: ${w}`),
  ];
  return { text: `${head.join('\n')}\n${stringify(plan, { lineWidth: 0 })}`, warnings };
}
