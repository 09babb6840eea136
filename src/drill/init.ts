import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { readVault, type StoreOptions, type VaultPaths } from '../vault/store.js';
import { escrowOf } from '../escrow/escrow.js';
import { listRepo } from '../backup/repo.js';
import { parseDestination } from '../dest/dest.js';
import { parsePlan } from '../k8s/plan.js';
import { readFileCapped, LIMITS } from '../fs/read.js';
import { peekVerifyState } from '../verify/state.js';

type Env = Record<string, string | undefined>;

/**
 * A drill plan from what the vault already knows, so a team starts from a
 * working file: the share files of the current set (K of them), the
 * Kubernetes restore plan into drill-NS namespaces, the newest verified
 * backup of each component into scratch targets, and checks that need no
 * knowledge of the data (the restored database has tables, the files that
 * were backed up exist, the Secrets match the vault, the canaries open).
 */
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
}): Promise<string> {
  const { doc } = await readVault(o.paths, o.store);
  const rel = (p: string) => relative(o.planDir, p) || '.';
  const plan: Record<string, unknown> = { apiVersion: 'vault-tool/v1', kind: 'DrillPlan', rto: o.rto };
  const esc = escrowOf(doc).current;
  const notes: string[] = [];
  if (o.sharesDir) {
    const files = readdirSync(o.sharesDir)
      .filter((f) => /\.share(\.age)?$/.test(f))
      .sort();
    const k = esc?.threshold ?? files.length;
    plan.shares = { files: files.slice(0, k).map((f) => rel(join(o.sharesDir!, f))) };
    if (files.length > k) notes.push(`shares: ${k} of the ${files.length} share files (any ${k} recover the key); the others: ${files.slice(k).join(', ')}`);
  } else {
    plan.shares = { prompt: true };
    notes.push(`shares: custodians type them at the prompt${esc ? ` (any ${esc.threshold} of ${esc.custodians.map((c) => c.label).join(', ')})` : ''}`);
  }
  const checks: Record<string, unknown>[] = [];
  if (o.k8sPlan) {
    const secrets = parsePlan(readFileCapped(o.k8sPlan, 'the restore plan', LIMITS.text).toString('utf8'), o.k8sPlan).secrets;
    const namespaceMap = Object.fromEntries([...new Set(secrets.map((s) => s.namespace))].map((ns) => [ns, `drill-${ns}`.slice(0, 63)]));
    plan.kubernetes = { ...(o.context ? { context: o.context } : {}), plan: rel(o.k8sPlan), namespaceMap };
    checks.push({ secrets: 'in-sync' });
  }
  if (o.repo) {
    const restore: Record<string, unknown>[] = [];
    const listed = await listRepo({ dest: parseDestination(o.repo, o.cwd), io: { env: o.env } });
    const components = [...new Set(listed.filter((b) => b.manifest?.verification?.ok).map((b) => b.component))].sort();
    for (const c of components) {
      const [kind, name] = c.split('/') as [string, string];
      const safe = name.replace(/[^a-z0-9_]/g, '_');
      if (kind === 'postgres' && name !== 'globals') {
        restore.push({ component: c, database: `drill_${safe}` });
        checks.push({
          sql: "select count(*) > 0 from information_schema.tables where table_schema not in ('pg_catalog', 'information_schema')",
          database: `drill_${safe}`,
          expect: 't',
        });
      } else {
        const dir = rel(join(o.scratch, `${kind}-${safe}`));
        restore.push({ component: c, dir });
        if (kind === 'files') {
          const newest = listed
            .filter((b) => b.component === c && b.manifest?.verification?.ok)
            .sort((a, b) => b.manifest!.finishedAt.localeCompare(a.manifest!.finishedAt))[0];
          const paths = newest?.manifest?.source.paths?.split(' ').filter(Boolean) ?? [];
          if (paths.length) checks.push({ files: paths, dir });
        }
      }
    }
    plan.backups = { repo: /^[A-Za-z0-9_-]+:/.test(o.repo) ? o.repo : rel(parseDestination(o.repo, o.cwd).spec), restore };
    if (!components.length) notes.push(`backups: no verified backup in ${o.repo} yet`);
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
    ...notes.map((n) => `# ${n}`),
  ];
  return `${head.join('\n')}\n${stringify(plan, { lineWidth: 0 })}`;
}
