import { join } from 'node:path';
import type { PlanNeeds } from './cronjob.js';
import type { VerificationPlan } from './plan.js';
import type { Job, SchedulePlan } from './schedule-plan.js';

/**
 * What the jobs of a schedule read and write beyond the vault, for the
 * CronJobs: the plans, the files holding secrets, the folders of a host, the
 * cluster. A plan the jobs read (verification, drill) adds its own.
 */
export function emptyNeeds(): PlanNeeds {
  return { configFiles: [], secretFiles: [], hostPaths: [], scratch: [], contexts: [], secretsRead: {}, namespacesListed: {}, repos: [], warnings: [] };
}

const add = <T>(list: T[], v: T) => {
  if (!list.includes(v)) list.push(v);
};

/** The context a job names without a kubeconfig of its own: in a pod, the cluster it runs in. */
export const IN_CLUSTER = 'in-cluster';

export function scheduleNeeds(plan: SchedulePlan, needs: PlanNeeds): void {
  if (plan.repo && plan.jobs.some((j) => !['verify', 'drill', 'status'].includes(j.spec.kind))) add(needs.repos, plan.repo);
  for (const job of plan.jobs) {
    const s = job.spec;
    if (s.kind === 'files') for (const f of s.paths) needs.hostPaths.push({ path: f.startsWith('/') ? f : join(s.base, f), what: `job ${job.name} backs up` });
    if (s.kind === 'k8s') {
      if (s.kubeconfig) add(needs.secretFiles, s.kubeconfig);
      else {
        add(needs.contexts, s.context ?? IN_CLUSTER);
        needs.namespacesListed[job.name] = s.namespaces;
      }
    }
    if (s.kind === 'exec') needs.warnings.push(`job ${job.name} runs ${s.command[0]}: the image must hold it`);
  }
}

export function verifyNeeds(job: Job, file: { path: string; text: string }, plan: VerificationPlan, needs: PlanNeeds): void {
  if (!needs.configFiles.some((f) => f.path === file.path)) needs.configFiles.push(file);
  const k = plan.kubernetes;
  for (const a of plan.against) {
    const src = a.source;
    if (src.kind === 'env') needs.hostPaths.push({ path: src.file, what: `job ${job.name} reads production's` });
    if (src.kind === 'file') needs.hostPaths.push({ path: src.path, what: `job ${job.name} reads production's` });
    if (src.kind === 'envvar') needs.warnings.push(`job ${job.name} compares envvar:${src.name}: in a pod that is the job's own environment, not production's`);
    if (src.kind === 'k8s') {
      if (k?.kubeconfig) add(needs.secretFiles, k.kubeconfig);
      else {
        add(needs.contexts, k?.context ?? IN_CLUSTER);
        (needs.secretsRead[job.name] ??= []).push({ namespace: src.namespace, name: src.secret });
      }
    }
  }
  for (const c of plan.copies) {
    needs.hostPaths.push({ path: c.vault, what: `job ${job.name} checks the copy` });
    if (c.key) needs.hostPaths.push({ path: c.key, what: `job ${job.name} checks the key copy` });
  }
  if (plan.backups) add(needs.repos, plan.backups.repo);
}
