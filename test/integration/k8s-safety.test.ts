// Kubernetes restores never hide what they did, and no k8s command prints a
// value: against the Secrets API test server, with a Role lacking create and
// a context the restore policy protects.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript helper shared with the benchmarks
import { startKubeApi } from '../helpers/kube-api-server.mjs';
import { cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';

interface WireRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body?: any;
  status: number;
}
interface Server {
  requests: WireRequest[];
  state: { secrets: Map<string, { obj: any }>; put(o: unknown, manager?: string): any; get(ns: string, n: string): { obj: any } | undefined };
  kubeconfig(o?: { context?: string; namespace?: string }): string;
  close(): Promise<void>;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const MONDAY_NOON = new Date('2026-11-23T12:00:00Z');

let dir: string;
let cleanup: () => void;
let srv: Server;
let denied: (verb: string, ns: string, name?: string) => boolean;
let intercept: ((r: WireRequest) => { code: number; reason: string; message: string } | undefined) | undefined;

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  cli(dir, args, { now: MONDAY_NOON, ...opts, env: { KUBECONFIG: join(dir, 'kubeconfig'), ...opts.env } });

beforeEach(async () => {
  ({ dir, cleanup } = tempDir('vt-k8s-safety-'));
  denied = () => false;
  intercept = undefined;
  srv = await startKubeApi({
    namespaces: ['default', 'app', 'prod'],
    authorize: (verb: string, ns: string, name?: string) => !denied(verb, ns, name),
    intercept: (r: WireRequest) => intercept?.(r),
  });
  writeFileSync(join(dir, 'kubeconfig'), srv.kubeconfig({ context: 'prod', namespace: 'app' }));
  // The restore policy protects the context: every write below needs its name typed.
  writeFileSync(
    join(dir, 'k8s-policy.yaml'),
    'apiVersion: vault-tool/v1\nkind: RestorePolicy\nprotectedContexts: [prod]\noperationalHours: "09:00-18:00"\ntimezone: UTC\n',
  );
  expect((await vt(['init'])).code).toBe(0);
});
afterEach(async () => {
  await srv.close();
  cleanup();
});

/** An immutable Secret restored once, then changed in the vault: the next restore must recreate it. */
async function immutableChanged(): Promise<string> {
  srv.state.put({ metadata: { name: 'db', namespace: 'app' }, immutable: true, data: { PASSWORD: b64('first-password-1234567890') } });
  expect((await vt(['k8s', 'import', 'db', '--map', 'PASSWORD=app/db-password'])).code).toBe(0);
  expect((await vt(['k8s', 'plan', '-o', 'plan.yaml'])).code).toBe(0);
  expect((await vt(['add', 'app/db-password', '-t', 'generic', '--update', '--from-stdin'], { stdin: 'second-password-0987654321' })).code).toBe(0);
  return join(dir, 'plan.yaml');
}

const RESTORE = (plan: string) => ['k8s', 'restore', '--plan', plan, '--on-conflict', 'overwrite', '--recreate', '--confirm-context', 'prod'];

describe('k8s restore --recreate never leaves a delete without its create unsaid', () => {
  it('a Role without create: the Secret is not deleted, the refusal names the Role to use', async () => {
    const plan = await immutableChanged();
    const uid = srv.state.get('app', 'db')!.obj.metadata.uid;
    denied = (verb) => verb === 'create';
    const n = srv.requests.length;
    const r = await vt(RESTORE(plan));
    expect(r.code, r.stderr).toBe(16);
    expect(srv.requests.slice(n).filter((q) => q.method === 'DELETE')).toEqual([]);
    expect(srv.state.get('app', 'db')!.obj.metadata.uid).toBe(uid);
    expect(r.stdout).toContain(
      '  failed  app/db  left as it was (not deleted): creating it again would fail: create secret app/db: secrets "db" is forbidden: User "system:serviceaccount:ops:restorer" cannot create resource "secrets" in API group "" in the namespace "app" (HTTP 403 Forbidden) (hint: `vault-tool k8s rbac` prints the least-privilege Role this needs)',
    );
    // The check is a dry-run create: nothing was written.
    const post = srv.requests.slice(n).find((q) => q.method === 'POST')!;
    expect(post).toMatchObject({ path: '/api/v1/namespaces/app/secrets', query: { dryRun: 'All' }, status: 403 });
    const j = await vt(['--json', ...RESTORE(plan)]);
    expect(j.code).toBe(16);
    const rep = JSON.parse(j.stdout);
    expect(rep.results[0]).toMatchObject({ action: 'failed', code: 'k8s-forbidden' });
    expect(rep.lost).toEqual([]);
    // With create granted, the same restore recreates it.
    denied = () => false;
    const ok = await vt(RESTORE(plan));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('  recreated  app/db');
    expect(Buffer.from(srv.state.get('app', 'db')!.obj.data.PASSWORD, 'base64').toString()).toBe('second-password-0987654321');
  });

  it('the check before the delete is a dry run of the very request that creates it again: a Role without patch loses nothing', async () => {
    const plan = await immutableChanged();
    // get, create and delete, but not patch: an apply (PATCH) after the delete would be refused.
    denied = (verb) => verb === 'patch';
    const n = srv.requests.length;
    const r = await vt(RESTORE(plan));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('  recreated  app/db');
    expect(Buffer.from(srv.state.get('app', 'db')!.obj.data.PASSWORD, 'base64').toString()).toBe('second-password-0987654321');
    expect(srv.state.get('app', 'db')!.obj.immutable).toBe(true);
    const writes = srv.requests.slice(n).filter((q) => q.method !== 'GET');
    expect(writes.map((q) => [q.method, q.path, q.query.dryRun ?? '', q.status])).toEqual([
      ['POST', '/api/v1/namespaces/app/secrets', 'All', 409],
      ['DELETE', '/api/v1/namespaces/app/secrets/db', '', 200],
      ['POST', '/api/v1/namespaces/app/secrets', '', 201],
    ]);
    // The same request both times: what was checked is what was sent.
    expect(writes[2]!.body).toEqual(writes[0]!.body);
  });

  it('a create refused after the delete: its own action, exit code and hint, in the table, --json and the evidence log', async () => {
    const plan = await immutableChanged();
    // Allowed when checked, refused when it happens (a quota reached, a policy changed in between).
    intercept = (q) =>
      q.method === 'POST' && q.path === '/api/v1/namespaces/app/secrets' && !q.query.dryRun && !srv.state.get('app', 'db')
        ? { code: 403, reason: 'Forbidden', message: 'secrets "db" is forbidden: exceeded quota: secrets, requested: count/secrets=1, used: 10, limited: 10' }
        : undefined;
    const r = await vt(RESTORE(plan));
    expect(r.code).toBe(21);
    expect(srv.state.get('app', 'db')).toBeUndefined();
    expect(r.stdout).toContain(
      '  DELETED, NOT RECREATED  app/db  the live Secret was deleted, and creating it again failed: create secret app/db: secrets "db" is forbidden: exceeded quota',
    );
    expect(r.stdout).toContain(
      '(hint: the live Secret was deleted but the new one was not written: run the same restore again at once (it creates what is missing))',
    );
    expect(r.stdout).toContain('DELETED AND NOT RECREATED 1');
    expect(r.stderr).toBe(
      'vault-tool: error: a Secret was deleted and not created again: app/db; the cluster lacks it now\n' +
        'vault-tool: hint: the live Secret was deleted but the new one was not written: run the same restore again at once (it creates what is missing)\n',
    );
    const rec = JSON.parse((await vt(['--json', 'evidence', 'verify'])).stdout).at(-1);
    expect(rec.data.secrets).toEqual([{ secret: 'app/db', action: 'deleted-not-recreated', keys: ['PASSWORD'], sources: { PASSWORD: 'app/db-password@2' } }]);
    expect(rec.data.counts['deleted-not-recreated']).toBe(1);
    // Run again: what is missing is created.
    intercept = undefined;
    const again = await vt(RESTORE(plan));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('  created  app/db');
  });

  it('--json keeps the deletion visible: action, code and hint are the deletion', async () => {
    const plan = await immutableChanged();
    intercept = (q) =>
      q.method === 'POST' && !q.query.dryRun && !srv.state.get('app', 'db')
        ? { code: 403, reason: 'Forbidden', message: 'secrets "db" is forbidden: denied by a policy' }
        : undefined;
    const j = await vt(['--json', ...RESTORE(plan)]);
    expect(j.code).toBe(21);
    const rep = JSON.parse(j.stdout);
    expect(rep.complete).toBe(false);
    expect(rep.lost).toEqual(['app/db']);
    expect(rep.counts['deleted-not-recreated']).toBe(1);
    expect(rep.results[0]).toMatchObject({
      action: 'deleted-not-recreated',
      code: 'k8s-recreate-lost',
      hint: 'the live Secret was deleted but the new one was not written: run the same restore again at once (it creates what is missing)',
    });
  });
});

describe('no k8s command prints a value', () => {
  const LIVE = 'live-value-only-in-the-cluster-5c1f';
  const GOVERNED = 'governed-value-6d2e-abcdefghijklmnop';
  const NEW = 'new-value-from-the-vault-7e3f-qrstuv';
  const NOTE = 'note-value-in-an-annotation-8a4b';

  it('every output of every k8s command (and of backup k8s) is free of seeded values, in text and --json', async () => {
    const lastApplied = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'app-keys', namespace: 'app' },
      data: { API_KEY: b64(GOVERNED), LIVE_ONLY: b64(LIVE) },
      stringData: { LIVE_PLAIN: LIVE },
    });
    srv.state.put(
      {
        metadata: {
          name: 'app-keys',
          namespace: 'app',
          labels: { app: 'web' },
          annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied },
        },
        data: { API_KEY: b64(GOVERNED), LIVE_ONLY: b64(LIVE) },
      },
      'kubectl-client-side-apply',
    );
    const seeded = [LIVE, GOVERNED, NEW, NOTE].flatMap((v) => [v, b64(v)]);
    const outputs: [string, CliResult][] = [];
    const run = async (args: string[], opts: CliOptions = {}) => {
      const r = await vt(args, opts);
      outputs.push([args.join(' '), r]);
      return r;
    };
    for (const json of [[], ['--json']]) {
      await run([...json, 'k8s', 'import', 'app-keys', '--map', 'API_KEY=app/api-key', '--only-mapped', '--dry-run']);
    }
    expect((await run(['k8s', 'import', 'app-keys', '--map', 'API_KEY=app/api-key', '--only-mapped'])).code).toBe(0);
    expect((await run(['add', 'app/api-key', '-t', 'generic', '--update', '--from-stdin'], { stdin: NEW })).code).toBe(0);
    const plan = await run(['k8s', 'plan']);
    expect(plan.code).toBe(0);
    writeFileSync(join(dir, 'plan.yaml'), plan.stdout);
    expect((await run(['k8s', 'plan', '-o', 'plan-file.yaml'])).code).toBe(0);
    for (const json of [[], ['--json']]) await run([...json, 'backup', 'k8s', '-n', 'app', '-r', 'repo']);
    const made = JSON.parse(
      outputs
        .find(([a]) => a.startsWith('--json backup k8s'))![1]
        .stdout.split('\n')
        .find((l) => l.includes('"type":"backup"'))!,
    );
    // Added in the cluster since: neither the plan nor the backup governs it.
    srv.state.get('app', 'app-keys')!.obj.metadata.annotations['example.com/note'] = NOTE;
    for (const json of [[], ['--json']]) {
      const p = ['--plan', 'plan.yaml'];
      await run([...json, 'k8s', 'diff-vault', ...p]);
      await run([...json, 'k8s', 'restore', ...p, '--diff', '--dry-run', '--on-conflict', 'overwrite']);
      await run([...json, 'k8s', 'restore', ...p, '--diff', '--dry-run=server', '--on-conflict', 'overwrite']);
      await run([...json, 'k8s', 'restore', ...p, '--diff', '--dry-run', '--namespace-map', 'app:prod', '--on-conflict', 'overwrite']);
      await run([...json, 'k8s', 'rbac', ...p]);
      await run([...json, 'k8s', 'export', '--plan', 'plan.yaml', '--armor']);
      await run([
        ...json,
        'k8s',
        'restore',
        '--from-backup',
        `${made.component}/${made.file}`,
        '-r',
        'repo',
        '--diff',
        '--dry-run',
        '--on-conflict',
        'overwrite',
      ]);
    }
    const real = await run(['k8s', 'restore', '--plan', 'plan.yaml', '--diff', '--on-conflict', 'overwrite', '--confirm-context', 'prod']);
    expect(real.code, real.stderr).toBe(0);
    await run(['--json', 'evidence', 'verify']);
    // The diffs are there, showing only what the plan governs, the last-applied annotation dropped.
    const diff = outputs.find(([a]) => a.startsWith('k8s restore --plan plan.yaml --diff --dry-run --on'))![1].stdout;
    expect(diff).toContain('-  API_KEY: "*** (before)"');
    expect(diff).toContain('+  API_KEY: "*** (after)"');
    expect(diff).not.toContain('LIVE_ONLY');
    expect(diff).not.toContain('last-applied');
    expect(diff).not.toContain('example.com/note');
    expect(outputs.length).toBeGreaterThan(20);
    for (const [args, r] of outputs) {
      // Each ran to its end (diff-vault exits 8 on drift).
      expect([0, 8], `${args}: ${r.stderr}`).toContain(r.code);
      for (const v of seeded) {
        expect(r.stdout.includes(v), `${args}: stdout holds a seeded value`).toBe(false);
        expect(r.stderr.includes(v), `${args}: stderr holds a seeded value`).toBe(false);
      }
    }
    // Neither does the plan file, nor the evidence log.
    for (const f of ['plan-file.yaml', 'secrets.vault.evidence.jsonl']) {
      const text = readFileSync(join(dir, f), 'utf8');
      for (const v of seeded) expect(text.includes(v), `${f} holds a seeded value`).toBe(false);
    }
  });

  it('a plan that names the last-applied annotation is refused: a restore would write a stale copy of the data', async () => {
    writeFileSync(
      join(dir, 'plan.yaml'),
      `apiVersion: vault-tool/v1\nkind: RestorePlan\nsecrets:\n  - namespace: app\n    name: s\n    annotations: { kubectl.kubernetes.io/last-applied-configuration: "{}" }\n    data: { K: a }\n`,
    );
    const r = await vt(['k8s', 'restore', '--plan', 'plan.yaml', '--dry-run']);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain(
      "plan.yaml: app/s: the annotation kubectl.kubernetes.io/last-applied-configuration can hold the Secret's data in clear (kubectl writes it): remove it from the plan",
    );
  });
});

describe('k8s restore from a vault copy older than one seen on this machine', () => {
  it('is refused before the cluster is written (its evidence record would be), naming --allow-rollback', async () => {
    srv.state.put({ metadata: { name: 'db', namespace: 'app' }, data: { PASSWORD: b64('first-password-1234567890') } });
    expect((await vt(['k8s', 'import', 'db', '--map', 'PASSWORD=app/db-password'])).code).toBe(0);
    expect((await vt(['k8s', 'plan', '-o', 'plan.yaml'])).code).toBe(0);
    // Another copy moves on: this one is now older than one seen on this machine.
    writeFileSync(join(dir, 'newer.vault'), readFileSync(join(dir, 'secrets.vault')));
    expect((await vt(['add', 'x/y', '-t', 'kek', '--generate', '--vault-file', 'newer.vault'])).code).toBe(0);
    const n = srv.requests.length;
    const args = ['k8s', 'restore', '--plan', 'plan.yaml', '--namespace-map', 'app:copy', '--create-namespace', '--confirm-context', 'prod'];
    const r = await vt(args);
    expect(r.code, r.stderr).toBe(12);
    expect(r.stderr.trim().split('\n').slice(-2)).toEqual([
      expect.stringMatching(/^vault-tool: error: refusing to write: this copy of vault \w+ is at generation \d+, but generation \d+ was seen/),
      'vault-tool: hint: use the newest copy; to go on from this one (a deliberate rollback, losing what the newer copy holds), add --allow-rollback',
    ]);
    expect(srv.requests.slice(n).filter((q) => q.method !== 'GET')).toEqual([]);
    expect(srv.state.get('copy', 'db')).toBeUndefined();
    // As the hint says: the restore runs, and records itself.
    const ok = await vt([...args, '--allow-rollback']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(srv.state.get('copy', 'db')).toBeDefined();
  });
});
