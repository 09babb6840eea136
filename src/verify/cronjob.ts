import { basename, dirname, join } from 'node:path';
import { toYaml } from '../k8s/secret.js';
import { describeJob, jobArgs } from './schedule-jobs.js';
import type { Job, JobKind, KubernetesSettings, SchedulePlan } from './schedule-plan.js';

/**
 * A schedule plan as Kubernetes objects: per job a CronJob and its own
 * ServiceAccount (with a Role only where the job reads the cluster), one
 * PersistentVolumeClaim for everything the jobs keep (the vault and its
 * evidence log, the state folder, the reports, the metrics), the plans a
 * job reads in a ConfigMap, and the commands that make the Secrets from
 * files (the key, its passphrase, the environment file, share files and
 * kubeconfigs the plans name): a value is never written into the output.
 *
 * Paths in the pods are the host's paths (the plans read there mean the
 * same), except the key, which an init container copies from its Secret
 * into memory as the pod's user, mode 0600 (a Secret's files belong to
 * root). What a pod cannot reach (a folder of a host, a production file)
 * is named in a warning, unless the plan gives it a volume.
 */
export interface PlanNeeds {
  /** Plan files the jobs read (no secrets): in the ConfigMap, mounted at their path. */
  configFiles: { path: string; text: string }[];
  /** Files holding secrets (shares, identities, kubeconfigs): a Secret made from each, mounted at its path. */
  secretFiles: string[];
  /** Folders and files of a host a job reads or writes. */
  hostPaths: { path: string; what: string }[];
  /** Folders a drill makes and removes (an emptyDir at their parent). */
  scratch: string[];
  /** Kubernetes contexts a job names without a kubeconfig of its own (they resolve to the cluster the jobs run in). */
  contexts: string[];
  /** Per job name: Secrets it reads by name (verify), namespaces it lists (backup k8s). */
  secretsRead: Record<string, { namespace: string; name: string }[]>;
  namespacesListed: Record<string, string[]>;
  /** Repositories (folders or rclone remotes). */
  repos: string[];
  warnings: string[];
}

export interface KubeSchedule {
  plan: SchedulePlan;
  k8s: KubernetesSettings;
  needs: PlanNeeds;
  /** Where the vault and key files are on this machine (the Secret and the copy onto the volume come from there). */
  vaultFile: string;
  keyFile: string;
  stateDir: string;
  /** Files beside the vault to copy onto the volume once (the vault, its evidence log and segments). */
  vaultFiles: string[];
  strict?: boolean;
}

/**
 * Requests and limits per kind of job, from measured peaks: `node
 * bench/peaks.mjs` runs each command under /usr/bin/time -v and sums the
 * resident memory of its process tree (vault-tool and its worker threads,
 * pg_dump and pg_restore as the checker, tar, psql) every 20 ms. On inputs
 * of 1 GiB (node 20, 2 cores; the larger of two runs, bench/README.md,
 * "Peak memory of every backup kind", which test/unit/cronjob-resources
 * holds this table to):
 *
 *   backup postgres          124 MiB (tree)
 *   backup redis             137 MiB
 *   backup files             129 MiB
 *   backup exec              130 MiB
 *   backup verify --all      167 MiB
 *   verify (readData: true)  173 MiB
 *   drill (a scratch db)     147 MiB
 *   status                    60 MiB
 *   backup prune              57 MiB
 *
 * Memory hardly grows with the data (the streams are bounded); it grows
 * with the cores (one worker thread per core beyond the first, at most
 * three). The request is the peak rounded up, the limit twice the
 * request. k8s backups take the files figure: namespaces of ordinary
 * Secrets stay near the cluster client's own 145 MiB, but hundreds of MiB
 * of large Secrets take more (581 MiB for 1 GiB of them): raise it for
 * those, as for an exec command that is heavy itself. No CPU limit: a
 * throttled stream only runs longer.
 */
export const RESOURCES: Record<JobKind, { cpu: string; memory: string; limit: string }> = {
  postgres: { cpu: '500m', memory: '160Mi', limit: '320Mi' },
  redis: { cpu: '500m', memory: '160Mi', limit: '320Mi' },
  files: { cpu: '500m', memory: '192Mi', limit: '384Mi' },
  k8s: { cpu: '250m', memory: '192Mi', limit: '384Mi' },
  exec: { cpu: '500m', memory: '192Mi', limit: '384Mi' },
  prune: { cpu: '100m', memory: '96Mi', limit: '192Mi' },
  backupVerify: { cpu: '500m', memory: '192Mi', limit: '384Mi' },
  verify: { cpu: '500m', memory: '192Mi', limit: '384Mi' },
  drill: { cpu: '500m', memory: '192Mi', limit: '384Mi' },
  status: { cpu: '100m', memory: '96Mi', limit: '192Mi' },
};

const UID = 10001;
const SECRET_DIR = '/run/vault-tool/secret';
const KEY_DIR = '/run/vault-tool/key';
const KUBECONFIG = '/run/vault-tool/kubeconfig/config';
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const label = 'app.kubernetes.io/name';

export interface KubeOutput {
  yaml: string;
  warnings: string[];
}

const under = (path: string, dir: string) => path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);

export function kubeSchedule(o: KubeSchedule): KubeOutput {
  const { plan, k8s, needs } = o;
  const ns = k8s.namespace;
  const names = {
    data: 'vault-tool-data',
    key: 'vault-tool-key',
    env: 'vault-tool-env',
    files: 'vault-tool-files',
    config: 'vault-tool-config',
  };
  const warnings = [...needs.warnings];
  const notes: string[] = [];
  const podKey = join(KEY_DIR, basename(o.keyFile));
  const p = plan.paths;

  // The volume: one claim, a sub-folder per place the jobs write.
  const dataMounts = new Map<string, string>();
  const mountData = (path: string, sub: string) => {
    if (![...dataMounts.keys()].some((m) => m === path)) dataMounts.set(path, sub);
  };
  mountData(dirname(o.vaultFile), 'vault');
  mountData(o.stateDir, 'state');
  mountData(p.reportDir, 'reports');
  mountData(dirname(p.metricsFile), 'metrics');

  // Folders of a host: reachable only through a claim the plan names for them.
  const claims = Object.entries(k8s.volumes);
  const reachable = (path: string) => claims.some(([, dir]) => under(path, dir)) || [...dataMounts.keys()].some((d) => under(path, d));
  for (const r of needs.repos)
    if (r.startsWith('/') && !reachable(r))
      warnings.push(`the repository ${r} is a folder of a host: a pod cannot reach it (give it a claim under kubernetes.volumes, or use an rclone remote)`);
    else if (!r.startsWith('/'))
      warnings.push(
        `the repository ${r} is an rclone remote: the pods need its configuration (RCLONE_CONFIG_${r.split(':')[0]!.toUpperCase()}_… in the environment file)`,
      );
  for (const h of needs.hostPaths)
    if (!reachable(h.path)) warnings.push(`${h.what} ${h.path} is on a host: a pod cannot reach it (give its folder a claim under kubernetes.volumes)`);

  // The ConfigMap: the plans (at their paths) and the kubeconfig of the cluster the jobs run in.
  const configData: Record<string, string> = {};
  const configMounts: { path: string; key: string }[] = [];
  needs.configFiles.forEach((f, i) => {
    const key = `plan-${i}-${basename(f.path).replace(/[^-._a-zA-Z0-9]/g, '_')}`;
    configData[key] = f.text;
    configMounts.push({ path: f.path, key });
  });
  const inCluster = needs.contexts.length > 0;
  if (inCluster) {
    configData.kubeconfig = toYaml(inClusterKubeconfig(needs.contexts));
    notes.push(`${needs.contexts.map((c) => `context ${c}`).join(', ')}: in the pods, the cluster they run in (each job's ServiceAccount token)`);
  }

  // The Secret of files the plans name (shares, identities, kubeconfigs), made by a command from the files themselves.
  const fileKeys = needs.secretFiles.map((f, i) => ({ path: f, key: `file-${i}-${basename(f).replace(/[^-._a-zA-Z0-9]/g, '_')}` }));

  const commands = [
    ...(k8s.createNamespace ? [] : [`kubectl get namespace ${ns}   # must exist (kubernetes.createNamespace: false)`]),
    `kubectl -n ${ns} create secret generic ${names.key} --from-file=vault.key=${o.keyFile}${p.passphraseFile ? ` --from-file=passphrase=${p.passphraseFile}` : ''}`,
    ...(p.environmentFile ? [`kubectl -n ${ns} create secret generic ${names.env} --from-env-file=${p.environmentFile}`] : []),
    ...(fileKeys.length ? [`kubectl -n ${ns} create secret generic ${names.files} ${fileKeys.map((f) => `--from-file=${f.key}=${f.path}`).join(' ')}`] : []),
  ];

  const scratch = [...new Set(needs.scratch.map((d) => dirname(d)))];
  const volumes: unknown[] = [
    { name: 'data', persistentVolumeClaim: { claimName: names.data } },
    { name: 'secret', secret: { secretName: names.key, defaultMode: 0o440 } },
    { name: 'key', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    { name: 'tmp', emptyDir: {} },
    ...(Object.keys(configData).length ? [{ name: 'config', configMap: { name: names.config } }] : []),
    ...(fileKeys.length ? [{ name: 'files', secret: { secretName: names.files, defaultMode: 0o440 } }] : []),
    ...claims.map(([claim], i) => ({ name: `claim-${i}`, persistentVolumeClaim: { claimName: claim } })),
    ...scratch.map((_, i) => ({ name: `scratch-${i}`, emptyDir: {} })),
  ];
  const mounts: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[] = [
    ...[...dataMounts].map(([path, sub]) => ({ name: 'data', mountPath: path, subPath: sub })),
    { name: 'secret', mountPath: SECRET_DIR, readOnly: true },
    { name: 'key', mountPath: KEY_DIR, readOnly: true },
    { name: 'tmp', mountPath: '/tmp' },
    ...configMounts.map((m) => ({ name: 'config', mountPath: m.path, subPath: m.key, readOnly: true })),
    ...(inCluster ? [{ name: 'config', mountPath: KUBECONFIG, subPath: 'kubeconfig', readOnly: true }] : []),
    ...fileKeys.map((f) => ({ name: 'files', mountPath: f.path, subPath: f.key, readOnly: true })),
    ...claims.map(([, dir], i) => ({ name: `claim-${i}`, mountPath: dir })),
    ...scratch.map((d, i) => ({ name: `scratch-${i}`, mountPath: d })),
  ];

  const docs: unknown[] = [];
  if (k8s.createNamespace) docs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  docs.push({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: names.data, namespace: ns, labels: { [label]: 'vault-tool' } },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: k8s.storage.size } },
      ...(k8s.storage.storageClass ? { storageClassName: k8s.storage.storageClass } : {}),
    },
  });
  if (Object.keys(configData).length)
    docs.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.config, namespace: ns, labels: { [label]: 'vault-tool' } }, data: configData });

  for (const job of plan.jobs) {
    const name = `vault-tool-${job.name}`;
    const readsCluster = Boolean(needs.secretsRead[job.name]?.length || needs.namespacesListed[job.name]?.length);
    const args = jobArgs(job, {
      vaultFile: o.vaultFile,
      keyFile: podKey,
      ...(p.passphraseFile ? { passphraseFile: join(SECRET_DIR, 'passphrase') } : {}),
      reportDir: p.reportDir,
      metricsFile: p.metricsFile,
      ...(plan.repo ? { repo: plan.repo } : {}),
      ...(o.strict ? { strict: true } : {}),
    });
    const r = RESOURCES[job.spec.kind];
    const env = [
      { name: 'HOME', value: '/tmp' },
      { name: 'VAULT_TOOL_STATE_DIR', value: o.stateDir },
      ...(inCluster ? [{ name: 'KUBECONFIG', value: KUBECONFIG }] : []),
      ...Object.entries(plan.env).map(([k, v]) => ({ name: k, value: v })),
    ];
    const container = {
      name: 'job',
      image: k8s.image,
      command: ['vault-tool'],
      args,
      env,
      ...(p.environmentFile ? { envFrom: [{ secretRef: { name: names.env } }] } : {}),
      resources: { requests: { cpu: r.cpu, memory: r.memory }, limits: { memory: r.limit } },
      securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
      volumeMounts: mounts,
    };
    const init = {
      name: 'key',
      image: k8s.image,
      command: ['sh', '-c', `umask 077 && cat ${join(SECRET_DIR, 'vault.key')} > ${podKey}`],
      resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '32Mi' } },
      securityContext: container.securityContext,
      volumeMounts: [
        { name: 'secret', mountPath: SECRET_DIR, readOnly: true },
        { name: 'key', mountPath: KEY_DIR },
      ],
    };
    const labels = { [label]: 'vault-tool', 'app.kubernetes.io/component': job.name };
    docs.push({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name, namespace: ns, labels, annotations: { 'vault-tool/job': describeJob(job.spec) } },
      spec: {
        schedule: job.at.text,
        ...(plan.timeZone ? { timeZone: plan.timeZone } : {}),
        concurrencyPolicy: 'Forbid',
        // A run missed (the controller down, the volume held by another job) still starts within the hour.
        startingDeadlineSeconds: 3600,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          metadata: { labels },
          spec: {
            backoffLimit: 0,
            ...(job.timeoutSeconds ? { activeDeadlineSeconds: job.timeoutSeconds } : {}),
            template: {
              metadata: { labels },
              spec: {
                serviceAccountName: name,
                automountServiceAccountToken: readsCluster,
                restartPolicy: 'Never',
                securityContext: { runAsNonRoot: true, runAsUser: UID, runAsGroup: UID, fsGroup: UID, seccompProfile: { type: 'RuntimeDefault' } },
                initContainers: [init],
                containers: [container],
                volumes,
              },
            },
          },
        },
      },
    });
    docs.push({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name, namespace: ns, labels },
      automountServiceAccountToken: readsCluster,
    });
    if (readsCluster) docs.push(...rbac(job, name, ns, needs));
  }

  const seedOverrides = JSON.stringify({
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: UID, runAsGroup: UID, fsGroup: UID },
      containers: [
        {
          name: 'vault-tool-seed',
          image: k8s.image,
          command: ['sleep', '3600'],
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          volumeMounts: [{ name: 'data', mountPath: dirname(o.vaultFile), subPath: 'vault' }],
        },
      ],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: names.data } }],
    },
  });
  const head = [
    `# vault-tool: every recurring job of the schedule plan, as CronJobs in namespace ${ns}.`,
    '# Install, in this order:',
    '#   kubectl apply -f THIS-FILE',
    ...commands.map((c) => `#   ${c}`),
    '# Once, put the vault and its evidence log on the volume:',
    `#   kubectl -n ${ns} run vault-tool-seed --image=${k8s.image} --restart=Never --overrides='${seedOverrides}'`,
    `#   kubectl -n ${ns} wait --for=condition=Ready pod/vault-tool-seed`,
    ...o.vaultFiles.map((f) => `#   kubectl -n ${ns} cp ${f} vault-tool-seed:${join(dirname(o.vaultFile), basename(f))}`),
    `#   kubectl -n ${ns} delete pod vault-tool-seed`,
    `# Reports (${p.reportDir}), the metrics (${p.metricsFile}), the state folder and the evidence log are on`,
    `# the claim ${names.data}; each run's output: kubectl -n ${ns} logs job/<job of vault-tool-NAME>.`,
    `# The image (${k8s.image}) must hold vault-tool on PATH and the tools its jobs run (docs/RUNBOOK.md, "Scheduling").`,
    '# Continuous WAL archiving is not here: PostgreSQL runs it (archive_command).',
    ...notes.map((n) => `# note: ${n}`),
    ...warnings.map((w) => `# warning: ${w}`),
  ];
  return { yaml: `${head.join('\n')}\n${docs.map((d) => toYaml(d)).join('---\n')}`, warnings };
}

function inClusterKubeconfig(contexts: string[]): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'in-cluster', cluster: { server: 'https://kubernetes.default.svc', 'certificate-authority': `${SA_DIR}/ca.crt` } }],
    users: [{ name: 'service-account', user: { tokenFile: `${SA_DIR}/token` } }],
    contexts: [...new Set(['in-cluster', ...contexts])].map((c) => ({ name: c, context: { cluster: 'in-cluster', user: 'service-account' } })),
    'current-context': 'in-cluster',
  };
}

/** The least privilege a job needs in the cluster: `get` on the Secrets a verification compares; `list` for a backup of namespaces. */
function rbac(job: Job, name: string, ns: string, needs: PlanNeeds): unknown[] {
  const rules = new Map<string, unknown[]>();
  for (const s of needs.secretsRead[job.name] ?? []) {
    const r = (rules.get(s.namespace) ?? []) as { resourceNames: string[] }[];
    if (r[0]) r[0].resourceNames = [...new Set([...r[0].resourceNames, s.name])].sort();
    else r.push({ apiGroups: [''], resources: ['secrets'], resourceNames: [s.name], verbs: ['get'] } as never);
    rules.set(s.namespace, r);
  }
  for (const n of needs.namespacesListed[job.name] ?? [])
    rules.set(n, [...(rules.get(n) ?? []), { apiGroups: [''], resources: ['secrets', 'configmaps'], verbs: ['get', 'list'] }]);
  return [...rules]
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([namespace, r]) => [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace }, rules: r },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name, namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
      },
    ]);
}
