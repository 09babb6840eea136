import type { PlanNeeds } from '../verify/cronjob.js';
import type { Job } from '../verify/schedule-plan.js';
import type { DrillPlan } from './plan.js';

/**
 * What a scheduled drill reads and makes, for its CronJob: the plan and the
 * restore plan and policy it names (config), the share files, identities and
 * kubeconfig (secrets), the repository, and the scratch folders it makes.
 * The custodians' shares a scheduled drill combines are, together, the
 * vault key: the warning says so.
 */
export function drillNeeds(job: Job, file: { path: string; text: string }, plan: DrillPlan, extra: { path: string; text: string }[], needs: PlanNeeds): void {
  for (const f of [file, ...extra]) if (!needs.configFiles.some((c) => c.path === f.path)) needs.configFiles.push(f);
  const secret = (p: string) => {
    if (!needs.secretFiles.includes(p)) needs.secretFiles.push(p);
  };
  for (const s of plan.shares.files) secret(s);
  for (const i of plan.shares.identities) secret(i);
  if (plan.shares.files.length)
    needs.warnings.push(`job ${job.name} combines ${plan.shares.files.length} share files kept in a Secret: together they open the vault, as vault.key does`);
  if (plan.shares.prompt) needs.warnings.push(`job ${job.name}: the drill plan asks for shares at a prompt, which a scheduled run cannot answer`);
  const k = plan.kubernetes;
  if (k?.kubeconfig) secret(k.kubeconfig);
  else if (k)
    needs.warnings.push(
      `job ${job.name} restores Secrets into new namespaces of context ${k.context}: a pod has no rights to make namespaces; give the drill plan kubernetes.kubeconfig for the scratch cluster, or run the drill from a host`,
    );
  if (plan.backups) {
    if (!needs.repos.includes(plan.backups.repo)) needs.repos.push(plan.backups.repo);
    for (const r of plan.backups.restore) if (r.dir && !needs.scratch.includes(r.dir)) needs.scratch.push(r.dir);
    for (const r of plan.backups.pitr) if (!needs.scratch.includes(r.dir)) needs.scratch.push(r.dir);
    if (plan.backups.pitr.length)
      needs.warnings.push(
        `job ${job.name} restores ${plan.backups.pitr.map((r) => r.cluster).join(', ')} to a point in time: its image needs the PostgreSQL server (postgres, pg_ctl, pg_config) of the base backups' major version`,
      );
  }
}
