import { VaultError } from '../errors/errors.js';
import { toYaml } from '../k8s/secret.js';
import type { VerificationPlan } from './plan.js';

/**
 * The same verification on a schedule: a Kubernetes CronJob (and the
 * least-privilege Role it needs: `get` on the named Secrets, never `list`),
 * a crontab line, or a systemd service and timer. The job runs
 * `vault-tool verify --plan …`, writes the report and the metrics, and
 * exits non-zero on failure so the scheduler sees it.
 */
export interface ScheduleOptions {
  /** Where the plan is on the machine (or in the container) that runs the job. */
  planPath: string;
  /** A five-field cron schedule. */
  schedule: string;
  vaultFile: string;
  keyFile: string;
  reportDir: string;
  metricsFile: string;
  /** The environment variable holding the key file's passphrase, if it has one. */
  passphraseEnv?: string;
}

const FIELD = /^(\*|\*\/[0-9]+|[0-9]+(-[0-9]+)?(\/[0-9]+)?(,[0-9]+(-[0-9]+)?)*|[A-Za-z]{3}(-[A-Za-z]{3})?)$/;

export function checkCronSchedule(s: string): string {
  const fields = s.trim().split(/\s+/);
  if (fields.length !== 5 || !fields.every((f) => FIELD.test(f)))
    throw new VaultError(
      'usage',
      `schedule ${JSON.stringify(s)} is not a five-field cron schedule (minute hour day-of-month month day-of-week), e.g. "0 6 1 */3 *"`,
    );
  return fields.join(' ');
}

function verifyArgs(o: ScheduleOptions): string[] {
  return [
    'verify',
    '--plan',
    o.planPath,
    '--vault-file',
    o.vaultFile,
    '--key-file',
    o.keyFile,
    '--report-dir',
    o.reportDir,
    '--prometheus',
    o.metricsFile,
    '--operator',
    'scheduled',
    ...(o.passphraseEnv ? ['--passphrase-env', o.passphraseEnv] : []),
  ];
}

export function crontabLine(o: ScheduleOptions, bin = 'vault-tool'): string {
  const quote = (a: string) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);
  return `${checkCronSchedule(o.schedule)} ${[bin, ...verifyArgs(o)].map(quote).join(' ')} >> ${quote(`${o.reportDir}/verify.log`)} 2>&1\n`;
}

// The systemd OnCalendar form of a cron schedule: a step ("every N") becomes
// START/N, ranges A..B, weekdays by name; "0 6 1 */3 *" is "*-1/3-1 6:0:00".
function onCalendar(schedule: string): string {
  const [mi, h, dom, mon, dow] = checkCronSchedule(schedule).split(' ') as [string, string, string, string, string];
  const conv = (f: string, start: number) => (f === '*' ? '*' : f.startsWith('*/') ? `${start}/${f.slice(2)}` : f.replace(/(\d+)-(\d+)/g, '$1..$2'));
  const names = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  const days = dow === '*' ? '' : `${dow.replace(/\d/g, (d) => names[Number(d)]!).replace(/-/g, '..')} `;
  return `${days}*-${conv(mon, 1)}-${conv(dom, 1)} ${conv(h, 0)}:${conv(mi, 0)}:00`;
}

export function systemdUnits(o: ScheduleOptions, bin = '/usr/local/bin/vault-tool'): { service: string; timer: string } {
  const service = [
    '[Unit]',
    'Description=vault-tool quarterly verification of the escrowed keys',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${[bin, ...verifyArgs(o)].join(' ')}`,
    ...(o.passphraseEnv ? [`# ${o.passphraseEnv} must hold the key file's passphrase: put it in an EnvironmentFile= readable by root only`] : []),
    'PrivateTmp=yes',
    'NoNewPrivileges=yes',
    'UMask=0077',
    '',
  ].join('\n');
  const timer = [
    '[Unit]',
    'Description=Run the vault-tool verification on schedule',
    '',
    '[Timer]',
    `OnCalendar=${onCalendar(o.schedule)}`,
    'Persistent=true',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
  return { service, timer };
}

export interface CronJobOptions extends ScheduleOptions {
  name: string;
  namespace: string;
  image: string;
  serviceAccount: string;
  /** The PersistentVolumeClaim holding secrets.vault and its evidence log (written: the run is recorded). */
  dataClaim: string;
  /** The Secret holding vault.key (mounted read-only). */
  keySecret: string;
  /** The ConfigMap holding the plan. */
  planConfigMap: string;
}

/**
 * A CronJob in the shape `kubectl create cronjob NAME --image=I --schedule=S`
 * gives, filled in: one run at a time, the vault and its log on a volume,
 * the key from a Secret, the plan from a ConfigMap, a non-root container.
 */
export function cronJob(o: CronJobOptions, plan: VerificationPlan): string {
  const k8sSecrets = plan.against.flatMap((a) => (a.source.kind === 'k8s' ? [{ namespace: a.source.namespace, name: a.source.secret }] : []));
  const byNs = new Map<string, Set<string>>();
  for (const s of k8sSecrets) byNs.set(s.namespace, (byNs.get(s.namespace) ?? new Set()).add(s.name));
  const container = {
    name: o.name,
    image: o.image,
    args: verifyArgs(o),
    ...(o.passphraseEnv ? { env: [{ name: o.passphraseEnv, valueFrom: { secretKeyRef: { name: o.keySecret, key: 'passphrase' } } }] } : {}),
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true },
    volumeMounts: [
      { name: 'data', mountPath: o.vaultFile.replace(/\/[^/]*$/, '') },
      { name: 'key', mountPath: o.keyFile.replace(/\/[^/]*$/, ''), readOnly: true },
      { name: 'plan', mountPath: o.planPath.replace(/\/[^/]*$/, ''), readOnly: true },
      { name: 'reports', mountPath: o.reportDir },
    ],
  };
  const job = {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: o.name, namespace: o.namespace },
    spec: {
      schedule: checkCronSchedule(o.schedule),
      concurrencyPolicy: 'Forbid',
      jobTemplate: {
        metadata: { name: o.name, labels: { 'app.kubernetes.io/name': o.name } },
        spec: {
          backoffLimit: 0,
          template: {
            metadata: { labels: { 'app.kubernetes.io/name': o.name } },
            spec: {
              serviceAccountName: o.serviceAccount,
              restartPolicy: 'Never',
              containers: [container],
              volumes: [
                { name: 'data', persistentVolumeClaim: { claimName: o.dataClaim } },
                { name: 'key', secret: { secretName: o.keySecret, defaultMode: 0o400, items: [{ key: 'vault.key', path: o.keyFile.replace(/^.*\//, '') }] } },
                { name: 'plan', configMap: { name: o.planConfigMap } },
                { name: 'reports', emptyDir: {} },
              ],
            },
          },
        },
      },
    },
  };
  const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: o.serviceAccount, namespace: o.namespace } };
  const rbac = [...byNs]
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([ns, names]) => [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: o.name, namespace: ns },
        rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [...names].sort(), verbs: ['get'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: o.name, namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: o.name },
        subjects: [{ kind: 'ServiceAccount', name: o.serviceAccount, namespace: o.namespace }],
      },
    ]);
  const header = [
    '# The scheduled verification: a CronJob, its ServiceAccount, and per namespace a Role with `get` on the Secrets the plan compares.',
    '# No list or watch: they would return the values of every Secret in the namespace.',
  ];
  return header.join('\n') + '\n' + [job, sa, ...rbac].map((d) => toYaml(d)).join('---\n');
}
