import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
// @ts-expect-error: plain JavaScript helper shared with the benchmarks
import { startKubeApi } from '../helpers/kube-api-server.mjs';
import { cli, haveBinary, tempDir, type CliResult } from '../helpers/cli.js';
import { schemaProblems } from '../helpers/k8s-schema.js';
import { havePostgres, haveRedis, startPostgres, startRedis, type Postgres, type Redis } from '../helpers/servers.mjs';

/**
 * The schedule plan with every kind of job, turned into a cron.d file whose
 * every line runs once as cron runs it (sh -c, cron's own environment, the
 * file's variables, % handling) against a real PostgreSQL, Redis, a
 * Kubernetes API and a files folder; into systemd units that
 * systemd-analyze verifies; into Kubernetes objects each checked against
 * the API schema of its kind.
 */
const servers = havePostgres() && haveRedis();
const PASSPHRASE = 'a passphrase only the job reads';
let dir: string;
let cleanup: () => void;
let pg: Postgres;
let redis: Redis;
let kube: { close(): Promise<void>; kubeconfig(o?: object): string; state: { put(o: unknown): void } };
const vt = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => cli(dir, args, { env: { PASSPHRASE_FILE: join(dir, 'pass'), ...env } });
const at = (...p: string[]) => join(dir, ...p);

function schedulePlan(extra = ''): string {
  return `apiVersion: vault-tool/v1
kind: SchedulePlan
paths:
  vaultFile: ${at('vault/secrets.vault')}
  keyFile: ${at('keys/vault.key')}
  passphraseFile: ${at('pass')}
  stateDir: ${at('var/state')}
  reportDir: ${at('var/reports')}
  logDir: ${at('var/log')}
  metricsFile: ${at('textfile/vault_tool.prom')}
  environmentFile: ${at('jobs.env')}
repo: ${at('repo')}
env: { PGHOST: ${pg.env.PGHOST}, PGPORT: "${pg.env.PGPORT}", PGUSER: postgres, VAULT_TOOL_TIMEOUT: 2m }
jobs:
  - { name: db, at: "0 2 * * *", postgres: { dbname: app } }
  - { name: cache, at: "10 2 * * *", redis: { host: 127.0.0.1, port: ${redis.port}, name: cache } }
  - { name: config, at: "20 2 * * *", files: { base: ${at('platform')}, paths: [app.env, certs], name: config } }
  - { name: secrets, at: "30 2 * * *", k8s: { namespaces: [apps], kubeconfig: ${at('kubeconfig')}, context: prod, name: prod } }
  - { name: api, at: "40 2 * * *", exec: { name: api, command: [sh, -c, 'printf "%s bytes of token\\n" "\${#TOKEN}"'], env: { TOKEN: api/token } } }
  - { name: prune, at: "0 4 * * *", prune: { keepWithin: 30d, keepDaily: 7 } }
  - { name: read, at: "0 5 * * sun", backupVerify: {} }
  - { name: verify, at: "0 6 1 */3 *", verify: { plan: ${at('verify.yaml')} } }
  - { name: drill, at: "0 8 15 */3 *", timeout: 30m, drill: { plan: ${at('drill.yaml')} } }
  - { name: metrics, at: "*/15 * * * *", status: { plan: ${at('verify.yaml')} } }
${extra}`;
}

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-schedule-'));
  if (!servers) return;
  pg = await startPostgres();
  redis = await startRedis();
  // The Redis password is a secret: it comes from the environment file, never the plan.
  redis.cli('config', 'set', 'requirepass', 'redis-s3cret');
  kube = await startKubeApi({ namespaces: ['apps'] });
  kube.state.put({ metadata: { name: 'db', namespace: 'apps' }, data: { PASSWORD: Buffer.from('pw').toString('base64') } });
  writeFileSync(at('kubeconfig'), kube.kubeconfig({ context: 'prod' }), { mode: 0o600 });
  pg.sql('create database app');
  pg.sql('create table items (id int primary key, name text); insert into items select g, md5(g::text) from generate_series(1, 500) g', 'app');
  mkdirSync(at('platform/certs'), { recursive: true });
  writeFileSync(at('platform/app.env'), 'LOG_LEVEL=info\n');
  writeFileSync(at('platform/certs/tls.crt'), 'certificate\n');
  writeFileSync(at('pass'), `${PASSPHRASE}\n`, { mode: 0o600 });
  writeFileSync(at('jobs.env'), '# read by every job\nREDISCLI_AUTH=redis-s3cret\n', { mode: 0o600 });
  mkdirSync(at('textfile'));
  mkdirSync(at('vault'));
  mkdirSync(at('keys'));
  const g = ['--vault-file', at('vault/secrets.vault'), '--key-file', at('keys/vault.key'), '--passphrase-file', at('pass')];
  expect((await vt([...g, 'init', '--passphrase', '--work-factor', '10'])).code).toBe(0);
  expect((await vt([...g, 'add', 'api/token', '-t', 'password', '--generate'])).code).toBe(0);
  const split = await vt([...g, 'escrow', 'split', '-k', '2', '-c', 'ann', '-c', 'bob', '-c', 'cyd', '-o', at('shares')]);
  expect(split.code, split.stderr).toBe(0);
  const shares = readdirSync(at('shares'))
    .filter((f) => f.endsWith('.share'))
    .sort();
  writeFileSync(
    at('verify.yaml'),
    `apiVersion: vault-tool/v1\nkind: VerificationPlan\ninterval: quarterly\nbackups: { repo: ${at('repo')}, readData: true, rpo: 1d }\n`,
  );
  writeFileSync(
    at('drill.yaml'),
    `apiVersion: vault-tool/v1
kind: DrillPlan
rto: 1h
shares: { files: [shares/${shares[0]}, shares/${shares[1]}] }
backups:
  repo: ${at('repo')}
  restore:
    - { component: postgres/app, database: drill_app }
    - { component: files/config, dir: scratch/config }
checks:
  - { sql: "select count(*) from items", database: drill_app, expect: "500" }
  - { files: [app.env, certs/tls.crt], dir: scratch/config }
`,
  );
  writeFileSync(at('schedule.yaml'), schedulePlan());
}, 120_000);

afterAll(async () => {
  pg?.stop();
  redis?.stop();
  await kube?.close();
  cleanup();
});

/** A cron.d file as cron reads it: its variables, and per line the schedule, the user and the command. */
function parseCronFile(text: string): { env: Record<string, string>; jobs: { name: string; schedule: string; user: string; command: string }[] } {
  const env: Record<string, string> = {};
  const jobs = [];
  let name = '';
  for (const line of text.split('\n')) {
    const comment = /^# ([a-z0-9-]+): /.exec(line);
    if (comment) name = comment[1]!;
    if (line.startsWith('#') || !line.trim()) continue;
    const v = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (v) {
      env[v[1]!] = v[2]!;
      continue;
    }
    const f = line.split(' ');
    jobs.push({ name, schedule: f.slice(0, 5).join(' '), user: f[5]!, command: f.slice(6).join(' ') });
  }
  return { env, jobs };
}

/** Runs a cron command as cron does: `sh -c`, HOME, LOGNAME and SHELL from the user, the file's variables over them; `\%` is a %, a bare % ends the command. */
function runAsCron(command: string, fileEnv: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  expect(command.replace(/\\%/g, ''), 'an unescaped % would cut the command').not.toContain('%');
  const cmd = command.replace(/\\%/g, '%');
  const env = { HOME: dir, LOGNAME: 'root', SHELL: '/bin/sh', PATH: '/usr/bin:/bin', ...fileEnv };
  // Not spawnSync: the Kubernetes API the k8s job reads answers from this process.
  return new Promise((res, rej) => {
    execFile('/bin/sh', ['-c', cmd], { env, encoding: 'utf8', timeout: 240_000 }, (e, stdout, stderr) =>
      e && typeof e.code !== 'number' ? rej(e) : res({ status: e ? (e.code as number) : 0, stdout, stderr }),
    );
  });
}

describe.skipIf(!servers)('the schedule runs as printed', () => {
  it('every line of the cron.d file runs once, as cron runs it, and each job does its work', async () => {
    const r = await vt(['schedule', 'cron', '--plan', 'schedule.yaml']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toContain(PASSPHRASE);
    expect(r.stdout).not.toContain('redis-s3cret');
    const { env, jobs } = parseCronFile(r.stdout);
    expect(jobs.map((j) => j.name)).toEqual(['db', 'cache', 'config', 'secrets', 'api', 'prune', 'read', 'verify', 'drill', 'metrics']);
    expect(env.SHELL).toBe('/bin/sh');
    expect(env.VAULT_TOOL_STATE_DIR).toBe(at('var/state'));
    for (const j of jobs) {
      expect(j.user).toBe('root');
      expect(j.command.length).toBeLessThan(999);
      // Nothing secret on the command line: the passphrase comes from its file, the token from the vault.
      expect(j.command).toContain(`--passphrase-file ${at('pass')}`);
      const run = await runAsCron(j.command, env);
      const log = existsSync(at('var/log', `${j.name}.log`)) ? readFileSync(at('var/log', `${j.name}.log`), 'utf8') : '';
      expect(run.status, `${j.name}: ${run.stderr}${log}`).toBe(0);
      expect(run.stdout + run.stderr, 'the output goes to the log').toBe('');
      expect(log.length, `${j.name} logged`).toBeGreaterThan(0);
    }
    const log = (n: string) => readFileSync(at('var/log', `${n}.log`), 'utf8');
    expect(log('db')).toContain('postgres/app:');
    expect(log('cache')).toContain('redis/cache:');
    expect(log('config')).toContain('files/config:');
    expect(log('secrets')).toContain('k8s/prod:');
    expect(log('api')).toContain('exec/api:');
    expect(log('read')).toMatch(/5 of 5 backups verified in full/);
    expect(log('drill')).toMatch(/passed|PASSED/);
    expect(readdirSync(at('repo')).sort()).toEqual(['exec', 'files', 'k8s', 'postgres', 'redis']);
    const reports = readdirSync(at('var/reports'));
    expect(reports.some((f) => /^verify-.*\.md$/.test(f))).toBe(true);
    expect(reports.some((f) => /^drill-.*\.md$/.test(f))).toBe(true);
    const metrics = readFileSync(at('textfile/vault_tool.prom'), 'utf8');
    expect(metrics).toContain('vault_tool_verify_last_status 1\n');
    expect(metrics).toContain('vault_tool_drill_last_status 1\n');
    expect(metrics).toContain('vault_tool_backup_rpo_missed{component="postgres/app"} 0\n');
    // The state folder the plan names is the one the jobs used (the signing key of the backups is there).
    expect(readdirSync(at('var/state'))).toContain('signing.key');
    const evidence = readFileSync(at('vault/secrets.vault.evidence.jsonl'), 'utf8');
    for (const e of ['"backup"', '"verify"', '"drill"']) expect(evidence).toContain(`"event":${e}`);
    // Nothing old enough to go yet: the prune ran with --confirm and kept everything.
    expect(log('prune')).toMatch(/removed 0, kept 5/);
  }, 600_000);

  it('a missing environment file stops the job before it runs, said in its log', async () => {
    writeFileSync(at('gone.yaml'), schedulePlan().replace(at('jobs.env'), at('missing.env')));
    const r = await vt(['schedule', 'cron', '--plan', 'gone.yaml']);
    const { env, jobs } = parseCronFile(r.stdout);
    const run = await runAsCron(jobs.find((j) => j.name === 'cache')!.command, env);
    expect(run.status).not.toBe(0);
    expect(readFileSync(at('var/log/cache.log'), 'utf8')).toMatch(/missing\.env/);
  });

  it.skipIf(!haveBinary('systemd-analyze', ['--version']))('the systemd units pass systemd-analyze verify', async () => {
    const r = await vt(['schedule', 'systemd', '--plan', 'schedule.yaml']);
    expect(r.code, r.stderr).toBe(0);
    const units = at('units');
    mkdirSync(units, { recursive: true });
    // Saved as the header says, into a folder of our own instead of /etc/systemd/system.
    execFileSync('awk', ['-v', `root=${units}`, '/^# file: /{n=split($3,a,"/"); f=root "/" a[n]; next} f{print > f}'], { input: r.stdout });
    const files = readdirSync(units).sort();
    expect(files).toHaveLength(20);
    const v = spawnSync('systemd-analyze', ['verify', '--man=no', ...files.map((f) => join(units, f))], { encoding: 'utf8' });
    expect(v.status, v.stderr).toBe(0);
    expect(v.stderr).toBe('');
    const service = readFileSync(join(units, 'vault-tool-api.service'), 'utf8');
    // % and $ are systemd's specifiers and variables: escaped, the shell gets them as written.
    expect(service).toContain('"printf \\"%%s bytes of token\\\\n\\" \\"$${#TOKEN}\\""');
    expect(service).toContain(`EnvironmentFile=${at('jobs.env')}`);
    const timer = readFileSync(join(units, 'vault-tool-verify.timer'), 'utf8');
    expect(timer).toContain('OnCalendar=*-01/3-01 06:00:00');
    const next = spawnSync('systemd-analyze', ['calendar', '--iterations=4', '*-01/3-01 06:00:00'], { encoding: 'utf8', env: { TZ: 'UTC' } });
    expect(
      next.stdout
        .match(/\d{4}-(\d\d)-01 06:00:00/g)
        ?.map((d) => d.slice(5, 7))
        .sort(),
    ).toEqual(['01', '04', '07', '10']);
  });
});

describe.skipIf(!servers)('the CronJobs are complete and valid', () => {
  let docs: Record<string, any>[];
  let out: CliResult;
  beforeAll(async () => {
    writeFileSync(
      at('k8s.yaml'),
      schedulePlan(
        `kubernetes: { namespace: backups, image: registry.example/vault-tool:0.1.0, storage: { size: 5Gi }, volumes: { backups-repo: ${at('repo')} } }\n`,
      ),
    );
    out = await vt(['schedule', 'k8s-cronjob', '--plan', 'k8s.yaml']);
    docs = parseAllDocuments(out.stdout).map((d) => d.toJS());
  });

  it('every object is valid for the API schema of its kind', () => {
    expect(out.code, out.stderr).toBe(0);
    expect(docs.flatMap((d) => schemaProblems(d))).toEqual([]);
    // The check finds what is wrong (it is not a pass for anything).
    const job = structuredClone(docs.find((d) => d.kind === 'CronJob')!);
    job.spec.concurrencyPolicy = 'Never';
    job.spec.jobTemplate.spec.template.spec.containers[0].imagePullPolicy2 = 'Always';
    expect(schemaProblems(job).join('\n')).toMatch(/concurrencyPolicy[\s\S]*imagePullPolicy2 is not a field/);
  });

  it('every object a CronJob refers to is in the output or made by a command it prints', () => {
    const names = (kind: string) => docs.filter((d) => d.kind === kind).map((d) => d.metadata.name);
    const head = out.stdout.split('\n').filter((l) => l.startsWith('#'));
    const secrets = head.flatMap((l) => [...l.matchAll(/create secret generic (\S+)/g)].map((m) => m[1]));
    expect(names('Namespace')).toEqual(['backups']);
    for (const cj of docs.filter((d) => d.kind === 'CronJob')) {
      const pod = cj.spec.jobTemplate.spec.template.spec;
      expect(names('ServiceAccount')).toContain(pod.serviceAccountName);
      for (const v of pod.volumes) {
        if (v.persistentVolumeClaim) expect([...names('PersistentVolumeClaim'), 'backups-repo']).toContain(v.persistentVolumeClaim.claimName);
        if (v.configMap) expect(names('ConfigMap')).toContain(v.configMap.name);
        if (v.secret) expect(secrets).toContain(v.secret.secretName);
        if (v.emptyDir) expect(['key', 'tmp', 'scratch-0']).toContain(v.name);
      }
      for (const c of pod.containers) for (const e of c.envFrom ?? []) expect(secrets).toContain(e.secretRef.name);
      // Reports, the evidence log, the state and the metrics are on the claim, never an emptyDir.
      const onClaim = (path: string) =>
        pod.containers[0].volumeMounts.some(
          (m: { name: string; mountPath: string }) => m.name === 'data' && (path === m.mountPath || path.startsWith(`${m.mountPath}/`)),
        );
      for (const p of [at('vault/secrets.vault.evidence.jsonl'), at('var/reports/r.md'), at('var/state/seen.json'), at('textfile/vault_tool.prom')])
        expect(onClaim(p), p).toBe(true);
      const c = pod.containers[0];
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true, allowPrivilegeEscalation: false });
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(c.resources.requests.memory).toMatch(/Mi$/);
      expect(c.resources.limits.memory).toMatch(/Mi$/);
      expect(c.image).toBe('registry.example/vault-tool:0.1.0');
      // The key is never in the output: the Secret is made from the file.
      expect(JSON.stringify(cj)).not.toContain(PASSPHRASE);
    }
    expect(head.join('\n')).toContain(`--from-file=vault.key=${at('keys/vault.key')} --from-file=passphrase=${at('pass')}`);
    expect(head.join('\n')).toContain(`--from-env-file=${at('jobs.env')}`);
    // The plans the jobs read are in the ConfigMap, mounted where the schedule names them.
    const cm = docs.find((d) => d.kind === 'ConfigMap')!;
    expect(Object.values(cm.data)).toContain(readFileSync(at('drill.yaml'), 'utf8'));
    // A folder no claim covers is named; the repository has its claim.
    expect(out.stderr).toContain(`job config backs up ${at('platform/app.env')} is on a host: a pod cannot reach it`);
    expect(out.stderr).not.toContain(`the repository ${at('repo')}`);
    expect(out.stderr).toContain('combines 2 share files kept in a Secret');
  });

  it('a job that reads the cluster it runs in gets a token and exactly the rights it needs; the others none', async () => {
    writeFileSync(
      at('verify-k8s.yaml'),
      'apiVersion: vault-tool/v1\nkind: VerificationPlan\nkubernetes: { context: prod }\nagainst:\n  - k8s:apps/db#PASSWORD=app/db\n  - k8s:apps/api#TOKEN=api/token\n',
    );
    writeFileSync(
      at('in-cluster.yaml'),
      `apiVersion: vault-tool/v1\nkind: SchedulePlan\nrepo: remote:backups\njobs:\n  - { name: verify, at: "0 6 1 */3 *", verify: { plan: ${at('verify-k8s.yaml')} } }\n  - { name: secrets, at: "0 3 * * *", k8s: { namespaces: [apps, web] } }\n  - { name: metrics, at: "*/15 * * * *", status: {} }\n`,
    );
    const r = await vt(['schedule', 'k8s-cronjob', '--plan', 'in-cluster.yaml']);
    expect(r.code, r.stderr).toBe(0);
    const ds = parseAllDocuments(r.stdout).map((d) => d.toJS());
    expect(ds.flatMap((d) => schemaProblems(d))).toEqual([]);
    const roles = ds.filter((d) => d.kind === 'Role').map((d) => `${d.metadata.namespace}/${d.metadata.name} ${JSON.stringify(d.rules)}`);
    expect(roles).toEqual([
      'apps/vault-tool-verify [{"apiGroups":[""],"resourceNames":["api","db"],"resources":["secrets"],"verbs":["get"]}]',
      'apps/vault-tool-secrets [{"apiGroups":[""],"resources":["secrets","configmaps"],"verbs":["get","list"]}]',
      'web/vault-tool-secrets [{"apiGroups":[""],"resources":["secrets","configmaps"],"verbs":["get","list"]}]',
    ]);
    const token = Object.fromEntries(
      ds.filter((d) => d.kind === 'CronJob').map((d) => [d.metadata.name, d.spec.jobTemplate.spec.template.spec.automountServiceAccountToken]),
    );
    expect(token).toEqual({ 'vault-tool-verify': true, 'vault-tool-secrets': true, 'vault-tool-metrics': false });
    // The contexts the plans name resolve, in the pods, to the cluster they run in.
    const kubeconfig = parseAllDocuments(ds.find((d) => d.kind === 'ConfigMap')!.data.kubeconfig)[0]!.toJS();
    expect(kubeconfig.contexts.map((c: { name: string }) => c.name).sort()).toEqual(['in-cluster', 'prod']);
    expect(kubeconfig.users[0].user.tokenFile).toBe('/var/run/secrets/kubernetes.io/serviceaccount/token');
    expect(r.stderr).toContain('the repository remote:backups is an rclone remote: the pods need its configuration (RCLONE_CONFIG_REMOTE_');
  });

  it('the pod that puts the vault on the claim is a valid Pod', () => {
    const line = out.stdout.split('\n').find((l) => l.includes('run vault-tool-seed'))!;
    expect(line).toContain('--image=registry.example/vault-tool:0.1.0 --restart=Never');
    const overrides = JSON.parse(/--overrides='([^']+)'/.exec(line)![1]!);
    // kubectl run makes a Pod named as the command says, whose container of the same name the overrides fill in.
    expect(overrides.spec.containers[0].name).toBe('vault-tool-seed');
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'vault-tool-seed', namespace: 'backups' },
      spec: { ...overrides.spec, restartPolicy: 'Never' },
    };
    expect(schemaProblems(pod)).toEqual([]);
    expect(pod.spec.volumes[0].persistentVolumeClaim.claimName).toBe('vault-tool-data');
    expect(pod.spec.containers[0].volumeMounts[0].mountPath).toBe(at('vault'));
  });
});

describe('the schedule plan is strict', () => {
  it('refuses, naming the field, what the jobs would refuse', async () => {
    const base = 'apiVersion: vault-tool/v1\nkind: SchedulePlan\nrepo: /srv/backups\n';
    const cases: [string, string][] = [
      ['jobs:\n  - { name: db, at: "0 2 * * *", postgres: { dbname: app, compres: 1 } }\n', 'jobs[0].postgres.compres: unknown field'],
      ['jobs:\n  - { name: db, at: "0 25 * * *", postgres: {} }\n', 'jobs[0].at: "0 25 * * *": hour: 25 is outside 0-23'],
      ['jobs:\n  - { name: db, at: "0 2 1 * mon", postgres: {} }\n', 'restrict the day of the month or the day of the week, not both'],
      ['jobs:\n  - { name: Db, at: "0 2 * * *", postgres: {} }\n', 'jobs[0].name: expected a job name'],
      ['jobs:\n  - { name: p, at: "0 2 * * *", prune: {} }\n', 'jobs[0].prune: at least one keep rule'],
      [
        'jobs:\n  - { name: p, at: "0 2 * * *", prune: { keepWithin: 30m } }\n',
        'jobs[0].prune.keepWithin: ambiguous: "m" is minutes here, but months in restic',
      ],
      [
        'env: { PGPASSWORD: x }\njobs:\n  - { name: db, at: "0 2 * * *", postgres: {} }\n',
        'PGPASSWORD holds a secret by its name: put it in the file paths.environmentFile names',
      ],
      [
        'jobs:\n  - { name: a, at: "0 2 * * *", postgres: {} }\n  - { name: a, at: "0 3 * * *", redis: {} }\n',
        'jobs[1].name: a is already the name of jobs[0]',
      ],
      ['jobs:\n  - { name: a, at: "0 2 * * *", postgres: {}, redis: {} }\n', 'one kind of job per item (found postgres and redis)'],
      [
        'jobs:\n  - { name: k, at: "0 2 * * *", exec: { name: k, command: [sh], env: { LD_PRELOAD: api/token } } }\n',
        'jobs[0].exec.env: a key is never handed over in LD_PRELOAD: the dynamic loader reads it as its own setting, and its errors print the value',
      ],
      ['paths: { vaultFile: secrets.vault }\njobs:\n  - { name: a, at: "0 2 * * *", postgres: {} }\n', 'paths.vaultFile: expected an absolute path'],
      ['jobs:\n  - { name: v, at: "0 6 1 */3 *", verify: { plan: /etc/vault-tool/verify.yaml, interval: 90d } }\n', 'jobs[0].verify.interval: unknown field'],
    ];
    for (const [body, message] of cases) {
      writeFileSync(at('bad.yaml'), base + body);
      for (const kind of ['cron', 'systemd', 'k8s-cronjob']) {
        const r = await cli(dir, ['schedule', kind, '--plan', 'bad.yaml']);
        expect(r.code, `${kind}: ${body}`).toBe(11);
        expect(r.stderr, body).toContain(message);
        expect(r.stdout).toBe('');
      }
    }
    writeFileSync(at('verify-only.yaml'), 'apiVersion: vault-tool/v1\nkind: VerificationPlan\n');
    const wrong = await cli(dir, ['schedule', 'cron', '--plan', 'verify-only.yaml']);
    expect(wrong.code).toBe(11);
    expect(wrong.stderr).toContain('verify-only.yaml is a verification plan, not a schedule plan (kind: SchedulePlan)');
    // A passphrase never comes from a variable in a scheduled job.
    writeFileSync(at('ok.yaml'), `${base}jobs:\n  - { name: a, at: "0 2 * * *", postgres: {} }\n`);
    const env = await cli(dir, ['--passphrase-env', 'P', 'schedule', 'cron', '--plan', 'ok.yaml']);
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('a scheduled job reads the passphrase from a file, never from a variable');
  });
});
