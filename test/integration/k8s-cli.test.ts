// The k8s commands end to end: the CLI (in-process, and once as the built
// binary) against the Secrets API test double, with the real client.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOTP, Secret } from 'otpauth';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript helper shared with the benchmarks
import { startKubeApi } from '../helpers/kube-api-server.mjs';
import { cli, haveBinary, spawnCli, tempDir, type CliOptions } from '../helpers/cli.js';

interface WireRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  body?: any;
  status: number;
}
interface Server {
  url: string;
  requests: WireRequest[];
  state: {
    rv: number;
    secrets: Map<string, { obj: any }>;
    namespaces: Map<string, unknown>;
    put(o: unknown, manager?: string): any;
    get(ns: string, n: string): { obj: any } | undefined;
  };
  kubeconfig(o?: { context?: string; cluster?: string; namespace?: string; withToken?: boolean }): string;
  close(): Promise<void>;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const ENC = '0123456789abcdef0123456789abcdef';
const AUTH = b64(Buffer.alloc(32, 9));
const MONDAY_NOON = new Date('2026-11-23T12:00:00Z');

let dir: string;
let cleanup: () => void;
let srv: Server;
let intercept: ((r: WireRequest) => { code: number; reason: string; message: string } | undefined) | undefined;
let forbidden: Set<string>;

async function vt(args: string[], opts: CliOptions = {}) {
  return cli(dir, args, { now: MONDAY_NOON, ...opts, env: { KUBECONFIG: join(dir, 'kubeconfig'), ...opts.env } });
}
const writes = () => srv.requests.filter((r) => r.method !== 'GET');

beforeEach(async () => {
  ({ dir, cleanup } = tempDir());
  intercept = undefined;
  forbidden = new Set();
  srv = await startKubeApi({
    namespaces: ['default', 'infisical'],
    intercept: (r: WireRequest) => intercept?.(r),
    authorize: (verb: string, ns: string, name?: string) => !forbidden.has(`${verb} ${ns}/${name ?? '*'}`),
  });
  writeFileSync(join(dir, 'kubeconfig'), srv.kubeconfig({ context: 'dr', namespace: 'infisical' }));
  srv.state.put({
    metadata: { name: 'infisical-bootstrap-secret', namespace: 'infisical', labels: { app: 'infisical' } },
    data: { ENCRYPTION_KEY: b64(ENC), AUTH_SECRET: b64(AUTH) },
  });
  expect((await vt(['init'])).code).toBe(0);
});
afterEach(async () => {
  await srv.close();
  cleanup();
});

const MAP = ['--map', 'ENCRYPTION_KEY=infisical/encryption-key:infisical-encryption-key', '--map', 'AUTH_SECRET=infisical/auth-secret:infisical-auth-secret'];

async function importAndPlan(): Promise<string> {
  expect((await vt(['k8s', 'import', 'infisical-bootstrap-secret', ...MAP])).code).toBe(0);
  expect((await vt(['k8s', 'plan', '-o', 'plan.yaml'])).code).toBe(0);
  return join(dir, 'plan.yaml');
}

describe('k8s import', () => {
  it('imports a live Secret through a mapping; unchanged adds no version, a change adds one', async () => {
    const r = await vt(['k8s', 'import', 'infisical-bootstrap-secret', ...MAP]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('2 added');
    expect((await vt(['get', 'infisical/encryption-key'])).stdout).toBe(ENC);
    const before = readFileSync(join(dir, 'secrets.vault'));
    const again = await vt(['k8s', 'import', 'infisical-bootstrap-secret', ...MAP]);
    expect(again.stderr).toContain('0 added, 0 updated, 2 unchanged');
    expect(readFileSync(join(dir, 'secrets.vault')).equals(before)).toBe(true);
    srv.state.secrets.get('infisical/infisical-bootstrap-secret')!.obj.data.ENCRYPTION_KEY = b64('fedcba9876543210fedcba9876543210');
    expect((await vt(['k8s', 'import', 'infisical-bootstrap-secret', ...MAP])).stderr).toContain('1 updated, 1 unchanged');
    expect(JSON.parse((await vt(['--json', 'history', 'infisical/encryption-key'])).stdout).versions).toHaveLength(2);
    expect(srv.requests.every((q) => q.method === 'GET')).toBe(true);
  });

  it('imports by selector and across namespaces with paging, skipping token and Helm Secrets', async () => {
    srv.state.put({ metadata: { name: 'tok', namespace: 'default' }, type: 'kubernetes.io/service-account-token', data: { token: b64('jwt') } });
    srv.state.put({ metadata: { name: 'sh.helm.release.v1.x.v1', namespace: 'default' }, type: 'helm.sh/release.v1', data: { release: b64('gz') } });
    for (let i = 0; i < 3; i++) srv.state.put({ metadata: { name: `app-${i}`, namespace: 'default', labels: { tier: 'app' } }, data: { KEY: b64(`v${i}`) } });
    const bySel = await vt(['k8s', 'import', '-n', 'default', '-l', 'tier=app', '--json']);
    expect(JSON.parse(bySel.stdout).entries.map((e: { entry: string }) => e.entry)).toEqual([
      'k8s/default/app-0/KEY',
      'k8s/default/app-1/KEY',
      'k8s/default/app-2/KEY',
    ]);
    const all = await vt(['k8s', 'import', '-A']);
    expect(all.code).toBe(0);
    expect(all.stderr).toMatch(/skipped default\/tok: type kubernetes.io\/service-account-token/);
    expect(all.stderr).toMatch(/skipped default\/sh.helm.release.v1.x.v1: type helm.sh\/release.v1/);
    expect((await vt(['get', 'k8s/infisical/infisical-bootstrap-secret/AUTH_SECRET'])).stdout).toBe(AUTH);
    expect(srv.requests.some((q) => q.path === '/api/v1/secrets')).toBe(true);
  });

  it('imports from kubectl get -o yaml output; a value refused by its type changes nothing', async () => {
    const yaml = `apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s, namespace: ns, uid: u, resourceVersion: "9"}\n  data: {KEY: ${b64('not hex')}, OTHER: ${b64('x')}}\n`;
    writeFileSync(join(dir, 'get.yaml'), yaml);
    const before = readFileSync(join(dir, 'secrets.vault'));
    const bad = await vt(['k8s', 'import', '-f', 'get.yaml', '--map', 'KEY=x/key:infisical-encryption-key']);
    expect(bad.code).toBe(11);
    expect(bad.stderr).toContain('ns/s#KEY → x/key (infisical-encryption-key): value refused');
    expect(readFileSync(join(dir, 'secrets.vault')).equals(before)).toBe(true);
    const ok = await vt(['k8s', 'import', '-f', 'get.yaml', '--map', 'OTHER=x/other', '--only-mapped']);
    expect(ok.code).toBe(0);
    expect((await vt(['get', 'x/other'])).stdout).toBe('x');
    expect((await vt(['get', 'k8s/ns/s/KEY'])).code).toBe(5);
    // A mapping file, narrowed to one Secret: keys of other Secrets are not caught by it.
    writeFileSync(
      join(dir, 'map.yaml'),
      'mappings:\n  - {secret: ns/s, key: KEY, entry: x/key, type: generic}\n  - {secret: other/s, key: OTHER, entry: x/never}\n',
    );
    const mapped = await vt(['--json', 'k8s', 'import', '-f', 'get.yaml', '--map-file', 'map.yaml']);
    expect(mapped.code).toBe(0);
    const rep = JSON.parse(mapped.stdout);
    expect(rep.entries.map((e: { entry: string; status: string }) => `${e.entry}:${e.status}`)).toEqual(['x/key:added', 'k8s/ns/s/OTHER:added']);
    expect(rep.skipped).toEqual([{ secret: 'other/s', reason: 'mapping for key OTHER matched no Secret key' }]);
  });
});

describe('k8s export', () => {
  it('writes an age bundle by default that age opens to the same manifests as --plaintext', async () => {
    await importAndPlan();
    const plain = await vt(['k8s', 'export', '--prefix', 'infisical/', '--plaintext']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('ENCRYPTION_KEY: ' + b64(ENC));
    expect(plain.stdout).not.toContain('content-hash');
    const bundle = await vt(['k8s', 'export', '--prefix', 'infisical/', '-o', 'bundle.age']);
    expect(bundle.code).toBe(0);
    expect(statSync(join(dir, 'bundle.age')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'bundle.age')).subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    // The stock age opens the bundle (haveBinary fails in CI when age is missing; elsewhere this check is left out).
    if (haveBinary('age', ['--version']))
      expect(execFileSync('age', ['-d', '-i', join(dir, 'vault.key'), join(dir, 'bundle.age')], { encoding: 'utf8' })).toBe(plain.stdout);
    const tty = await vt(['k8s', 'export', '--prefix', 'infisical/', '--plaintext'], { stdoutIsTTY: true });
    expect(tty.code).toBe(2);
    expect(tty.stdout).toBe('');
    expect((await vt(['k8s', 'export', '--prefix', 'infisical/', '--plaintext', '--reveal'], { stdoutIsTTY: true })).code).toBe(0);
  });

  it('puts entries without a Kubernetes origin into a Secret only when told which', async () => {
    expect((await vt(['add', 'app/db-password', '--type', 'password', '--generate'])).code).toBe(0);
    const r = await vt(['k8s', 'export', 'app/db-password', '--plaintext']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('did not come from a Kubernetes Secret');
    const ok = await vt(['k8s', 'export', 'app/db-password', '--plaintext', '--secret', 'db', '-n', 'apps']);
    expect(ok.stdout).toMatch(/^apiVersion: v1\ndata:\n {2}db-password: \S+\nkind: Secret\nmetadata:\n {2}name: db\n {2}namespace: apps\ntype: Opaque\n$/);
  });
});

describe('k8s restore', () => {
  it('restores into a new namespace, then is idempotent; writes are server-side applies by vault-tool; no values printed', async () => {
    const plan = await importAndPlan();
    const noNs = await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:infisical-dr']);
    expect(noNs.code).toBe(16);
    expect(noNs.stdout).toContain('failed  infisical-dr/infisical-bootstrap-secret');
    expect(noNs.stdout).toContain('add --create-namespace');
    const r = await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:infisical-dr', '--create-namespace']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('created  infisical-dr/infisical-bootstrap-secret');
    expect(r.stdout).toContain('created 1, updated 0, unchanged 0, skipped 0, failed 0');
    const live = srv.state.get('infisical-dr', 'infisical-bootstrap-secret')!.obj;
    expect(live.data).toEqual({ AUTH_SECRET: b64(AUTH), ENCRYPTION_KEY: b64(ENC) });
    expect(live.metadata.labels).toEqual({ app: 'infisical' });
    const apply = srv.requests.find((q) => q.method === 'PATCH')!;
    expect(apply).toMatchObject({
      path: '/api/v1/namespaces/infisical-dr/secrets/infisical-bootstrap-secret',
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: 'vault-tool' },
    });
    expect(apply.query.force).toBe('false');
    const n = writes().length;
    const again = await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:infisical-dr']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('unchanged  infisical-dr/infisical-bootstrap-secret');
    expect(writes()).toHaveLength(n);
    for (const out of [noNs, r, again]) for (const v of [ENC, b64(ENC), AUTH, b64(AUTH)]) expect(out.stdout + out.stderr).not.toContain(v);
  });

  it('skips a Secret changed in the cluster by default, and says so; overwrite replaces it with a resourceVersion precondition', async () => {
    const plan = await importAndPlan();
    const obj = srv.state.get('infisical', 'infisical-bootstrap-secret')!.obj;
    obj.data.AUTH_SECRET = b64(b64(Buffer.alloc(32, 1)));
    const skip = await vt(['k8s', 'restore', '--plan', plan]);
    expect(skip.code).toBe(16);
    expect(skip.stdout).toMatch(/skipped {2}infisical\/infisical-bootstrap-secret {2}exists in the cluster and differs from the vault/);
    expect(writes()).toHaveLength(0);
    const fail = await vt(['k8s', 'restore', '--plan', plan, '--on-conflict', 'fail']);
    expect(fail.code).toBe(16);
    expect(fail.stdout).toContain('nothing was written');
    expect(writes()).toHaveLength(0);
    const unchangedOnly = await vt(['k8s', 'restore', '--plan', plan, '--on-conflict', 'if-unchanged']);
    expect(unchangedOnly.stdout).toContain('vault-tool did not write it');
    expect(writes()).toHaveLength(0);
    const over = await vt(['k8s', 'restore', '--plan', plan, '--on-conflict', 'overwrite']);
    expect(over.code).toBe(0);
    expect(over.stdout).toContain('updated  infisical/infisical-bootstrap-secret');
    const patch = writes()[0]!;
    expect(patch.query).toMatchObject({ fieldManager: 'vault-tool', force: 'true' });
    expect(patch.body.metadata.resourceVersion).toBe(obj.metadata.resourceVersion);
    expect(srv.state.get('infisical', 'infisical-bootstrap-secret')!.obj.data.AUTH_SECRET).toBe(b64(AUTH));
  });

  it('if-unchanged updates what vault-tool wrote last, and never what was changed since', async () => {
    const plan = await importAndPlan();
    await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:dr', '--create-namespace']);
    await vt(['rotate', 'infisical/auth-secret']);
    const upd = await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:dr', '--on-conflict', 'if-unchanged']);
    expect(upd.code).toBe(0);
    expect(upd.stdout).toContain('updated  dr/infisical-bootstrap-secret');
    const rotated = (await vt(['get', 'infisical/auth-secret'])).stdout;
    expect(srv.state.get('dr', 'infisical-bootstrap-secret')!.obj.data.AUTH_SECRET).toBe(b64(rotated));
    // Production changes the key in the cluster; the vault rotates too: the cluster's change wins.
    srv.state.get('dr', 'infisical-bootstrap-secret')!.obj.data.ENCRYPTION_KEY = b64('ffffffffffffffffffffffffffffffff');
    await vt(['rotate', 'infisical/auth-secret']);
    const skip = await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:dr', '--on-conflict', 'if-unchanged']);
    expect(skip.code).toBe(16);
    expect(skip.stdout).toContain('changed in the cluster since vault-tool last wrote it');
    expect(srv.state.get('dr', 'infisical-bootstrap-secret')!.obj.data.ENCRYPTION_KEY).toBe(b64('ffffffffffffffffffffffffffffffff'));
  });

  it('immutable Secrets need --recreate, which deletes with preconditions and creates again', async () => {
    const plan = await importAndPlan();
    writeFileSync(plan, readFileSync(plan, 'utf8').replace('    type: Opaque\n', '    type: Opaque\n    immutable: true\n'));
    expect((await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:dr', '--create-namespace'])).code).toBe(0);
    await vt(['rotate', 'infisical/auth-secret']);
    const refused = await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:dr', '--on-conflict', 'overwrite']);
    expect(refused.code).toBe(16);
    expect(refused.stdout).toContain('the Secret is immutable; it must be deleted and created again (hint: add --recreate');
    const uid = srv.state.get('dr', 'infisical-bootstrap-secret')!.obj.metadata.uid;
    const n = srv.requests.length;
    const re = await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:dr', '--on-conflict', 'overwrite', '--recreate']);
    expect(re.code).toBe(0);
    expect(re.stdout).toContain('recreated  dr/infisical-bootstrap-secret');
    const del = srv.requests.slice(n).find((q) => q.method === 'DELETE')!;
    expect(del.body.preconditions.uid).toBe(uid);
    const now = srv.state.get('dr', 'infisical-bootstrap-secret')!.obj;
    expect(now.metadata.uid).not.toBe(uid);
    expect(now.immutable).toBe(true);
  });

  it('dry runs write nothing: client sends no writes, server sends dryRun=All', async () => {
    const plan = await importAndPlan();
    const rv = srv.state.rv;
    const client = await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:dr', '--create-namespace', '--dry-run']);
    expect(client.code).toBe(0);
    expect(client.stdout).toContain('(dry run: client)');
    expect(client.stdout).toContain('created  dr/infisical-bootstrap-secret');
    expect(writes()).toHaveLength(0);
    srv.state.namespaces.set('dr', {});
    const server = await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:dr', '--dry-run=server']);
    expect(server.code).toBe(0);
    expect(writes().map((q) => q.query.dryRun)).toEqual(['All']);
    expect(srv.state.get('dr', 'infisical-bootstrap-secret')).toBeUndefined();
    expect(srv.state.rv).toBe(rv);
    // A namespace the dry run would create: the namespace goes as dryRun=All, the Secret is not sent (the server could only answer 404).
    const fresh = await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:brand-new', '--create-namespace', '--dry-run=server']);
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toContain('created  brand-new/infisical-bootstrap-secret');
    expect(writes().map((q) => `${q.method} ${q.path} ${q.query.dryRun}`)).toEqual([
      'PATCH /api/v1/namespaces/dr/secrets/infisical-bootstrap-secret All',
      'POST /api/v1/namespaces All',
    ]);
    expect(srv.state.namespaces.has('brand-new')).toBe(false);
    expect(existsEvidence()).toBe(false);
  });

  it('--diff masks values like kubectl diff; --json reports every Secret', async () => {
    const plan = await importAndPlan();
    srv.state.get('infisical', 'infisical-bootstrap-secret')!.obj.data.AUTH_SECRET = b64('changed-in-cluster-000000000000000000000000');
    const r = await vt(['k8s', 'restore', '--plan', plan, '--diff', '--dry-run', '--on-conflict', 'overwrite']);
    expect(r.stdout).toContain('--- live/v1.Secret.infisical.infisical-bootstrap-secret');
    expect(r.stdout).toContain('-  AUTH_SECRET: "*** (before)"');
    expect(r.stdout).toContain('+  AUTH_SECRET: "*** (after)"');
    expect(r.stdout).toContain('   ENCRYPTION_KEY: "***"');
    for (const v of [b64(AUTH), b64('changed-in-cluster-000000000000000000000000'), b64(ENC)]) expect(r.stdout).not.toContain(v);
    const j = await vt(['--json', 'k8s', 'restore', '--plan', plan, '--on-conflict', 'overwrite']);
    const rep = JSON.parse(j.stdout);
    expect(rep).toMatchObject({ context: 'dr', complete: true, counts: { updated: 1 }, evidenceRecorded: true });
    expect(rep.results[0]).toMatchObject({
      namespace: 'infisical',
      name: 'infisical-bootstrap-secret',
      action: 'updated',
      keys: ['AUTH_SECRET', 'ENCRYPTION_KEY'],
      sources: { AUTH_SECRET: 'infisical/auth-secret@1', ENCRYPTION_KEY: 'infisical/encryption-key@1' },
    });
  });

  it('records every restore in the evidence log, without values', async () => {
    const plan = await importAndPlan();
    await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:dr', '--create-namespace', '--reason', 'DR drill 2026-Q4']);
    const ev = await vt(['--json', 'evidence', 'verify']);
    expect(ev.code).toBe(0);
    const rec = JSON.parse(ev.stdout).at(-1);
    expect(rec).toMatchObject({
      event: 'k8s.restore',
      data: {
        context: 'dr',
        reason: 'DR drill 2026-Q4',
        complete: true,
        counts: { created: 1 },
        secrets: [{ secret: 'dr/infisical-bootstrap-secret', action: 'created' }],
      },
    });
    const raw = readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8');
    for (const v of [ENC, b64(ENC), AUTH, b64(AUTH)]) expect(raw).not.toContain(v);
  });
});

function existsEvidence(): boolean {
  try {
    statSync(join(dir, 'secrets.vault.evidence.jsonl'));
    return true;
  } catch {
    return false;
  }
}

describe('k8s restore: every error path is reported, nothing half-written without a report', () => {
  it('an unreachable cluster: one clear error, nothing attempted', async () => {
    const plan = await importAndPlan();
    writeFileSync(join(dir, 'kubeconfig'), srv.kubeconfig({ context: 'dr' }).replace(/127\.0\.0\.1:\d+/, '127.0.0.1:9'));
    const r = await vt(['k8s', 'restore', '--plan', plan]);
    expect(r.code).toBe(15);
    expect(r.stderr).toMatch(/cannot reach the cluster at http:\/\/127.0.0.1:9 \(context dr\): ECONNREFUSED/);
    expect(r.stderr).toContain('hint: check --context');
  });

  it('over HTTPS: the kubeconfig CA is trusted, another CA is refused before anything is written', async () => {
    haveBinary('openssl', ['version']);
    const plan = await importAndPlan();
    const tls: Server = await startKubeApi({ tls: true, namespaces: ['infisical'] });
    const other: Server = await startKubeApi({ tls: true });
    try {
      writeFileSync(join(dir, 'tls.yaml'), tls.kubeconfig({ context: 'tls' }));
      const ok = await vt(['k8s', 'restore', '--plan', plan, '--kubeconfig', 'tls.yaml']);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain(`restore into context tls (${tls.url})`);
      expect(tls.state.get('infisical', 'infisical-bootstrap-secret')).toBeDefined();
      const otherCa = other.kubeconfig({ context: 'tls' }).match(/certificate-authority-data: (\S+)/)![1]!;
      writeFileSync(
        join(dir, 'wrong-ca.yaml'),
        tls.kubeconfig({ context: 'tls' }).replace(/certificate-authority-data: \S+/, `certificate-authority-data: ${otherCa}`),
      );
      const n = tls.requests.length;
      const bad = await vt(['k8s', 'restore', '--plan', plan, '--kubeconfig', 'wrong-ca.yaml']);
      expect(bad.code).toBe(15);
      expect(bad.stderr).toMatch(/TLS verification of https:\/\/127.0.0.1:\d+ failed/);
      expect(bad.stderr).toContain('certificate-authority');
      expect(tls.requests).toHaveLength(n);
    } finally {
      await tls.close();
      await other.close();
    }
  });

  it('a wrong token (401) and a missing kubeconfig: clear errors', async () => {
    const plan = await importAndPlan();
    writeFileSync(join(dir, 'kubeconfig'), srv.kubeconfig({ context: 'dr', withToken: false }));
    const r = await vt(['k8s', 'restore', '--plan', plan]);
    expect(r.code).toBe(15);
    expect(r.stderr).toContain('HTTP 401');
    expect(r.stderr).toContain('refused the credentials of context dr');
    const missing = await vt(['k8s', 'restore', '--plan', plan, '--kubeconfig', 'nope.yaml']);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain('cannot read kubeconfig');
  });

  it('403 names the verb and points at k8s rbac', async () => {
    const plan = await importAndPlan();
    forbidden.add('patch infisical/infisical-bootstrap-secret');
    srv.state.get('infisical', 'infisical-bootstrap-secret')!.obj.data.AUTH_SECRET = b64('x');
    const r = await vt(['k8s', 'restore', '--plan', plan, '--on-conflict', 'overwrite']);
    expect(r.code).toBe(16);
    expect(r.stdout).toContain('cannot patch resource "secrets" in API group "" in the namespace "infisical" (HTTP 403 Forbidden)');
    expect(r.stdout).toContain('k8s rbac');
  });

  it('409 on create: a Secret that appeared since it was read is not clobbered', async () => {
    const plan = await importAndPlan();
    intercept = (q) => {
      if (q.method === 'PATCH' && !srv.state.get('dr', 'infisical-bootstrap-secret'))
        srv.state.put({ metadata: { name: 'infisical-bootstrap-secret', namespace: 'dr' }, data: { AUTH_SECRET: b64('someone-else') } }, 'other-operator');
      return undefined;
    };
    const r = await vt(['k8s', 'restore', '--plan', plan, '--namespace-map', 'infisical:dr', '--create-namespace']);
    expect(r.code).toBe(16);
    expect(r.stdout).toContain('conflict with "other-operator"');
    expect(r.stdout).toContain('HTTP 409 Conflict');
    expect(srv.state.get('dr', 'infisical-bootstrap-secret')!.obj.data.AUTH_SECRET).toBe(b64('someone-else'));
  });

  it('a conflict on update (changed between read and write) fails that Secret instead of clobbering it', async () => {
    const plan = await importAndPlan();
    srv.state.get('infisical', 'infisical-bootstrap-secret')!.obj.data.AUTH_SECRET = b64('x');
    intercept = (q) => {
      if (q.method === 'PATCH') {
        const o = srv.state.get('infisical', 'infisical-bootstrap-secret')!.obj;
        o.data.AUTH_SECRET = b64('changed-meanwhile');
        o.metadata.resourceVersion = String(++srv.state.rv);
      }
      return undefined;
    };
    const r = await vt(['k8s', 'restore', '--plan', plan, '--on-conflict', 'overwrite']);
    expect(r.code).toBe(16);
    expect(r.stdout).toContain('the object has been modified');
    expect(srv.state.get('infisical', 'infisical-bootstrap-secret')!.obj.data.AUTH_SECRET).toBe(b64('changed-meanwhile'));
  });

  it('422 from the server and a failure part-way: the report says exactly what was applied; a re-run finishes the job', async () => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    for (const n of names) expect((await vt(['add', `app/${n}`, '--type', 'hmac-key', '--generate'])).code).toBe(0);
    writeFileSync(
      join(dir, 'plan.yaml'),
      `apiVersion: vault-tool/v1\nkind: RestorePlan\nentries:\n${names.map((n) => `  - {entry: app/${n}, to: infisical/s-${n}#KEY}`).join('\n')}\n`,
    );
    intercept = (q) => {
      if (q.method !== 'PATCH') return undefined;
      if (q.path.endsWith('/s-b')) return { code: 500, reason: 'InternalError', message: 'etcdserver: request timed out' };
      if (q.path.endsWith('/s-d'))
        return { code: 422, reason: 'Invalid', message: 'Secret "s-d" is invalid: admission webhook "policy.example" denied the request' };
      return undefined;
    };
    const r = await vt(['--json', 'k8s', 'restore', '--plan', 'plan.yaml', '--concurrency', '2']);
    expect(r.code).toBe(16);
    const rep = JSON.parse(r.stdout);
    expect(rep.results.map((x: { name: string; action: string }) => `${x.name}:${x.action}`)).toEqual([
      's-a:created',
      's-b:failed',
      's-c:created',
      's-d:failed',
      's-e:created',
    ]);
    expect(rep.results[3].reason).toContain('admission webhook "policy.example" denied the request (HTTP 422 Invalid)');
    // Progress (--json, on stderr): the Secrets applied, counted, and the step failed.
    const progress = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{"type":"progress"'))
      .map((l) => JSON.parse(l));
    expect(progress[0]).toMatchObject({ step: 'k8s restore', item: 'Secrets', state: 'start' });
    expect(progress.at(-1)).toMatchObject({ step: 'k8s restore', item: 'Secrets', state: 'failed', phase: 'applying', count: 5, of: 5 });
    expect([...srv.state.secrets.keys()].filter((k) => k.includes('/s-')).sort()).toEqual(['infisical/s-a', 'infisical/s-c', 'infisical/s-e']);
    intercept = undefined;
    const again = await vt(['k8s', 'restore', '--plan', 'plan.yaml']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('created 2, updated 0, unchanged 3, skipped 0, failed 0');
  });

  it('checks key names and the size limit before any API call', async () => {
    expect((await vt(['add', 'big', '--type', 'generic', '--from-file', '-'], { stdin: Buffer.alloc(700 * 1024, 1) })).code).toBe(0);
    expect((await vt(['add', 'big2', '--type', 'generic', '--from-file', '-'], { stdin: Buffer.alloc(700 * 1024, 2) })).code).toBe(0);
    writeFileSync(
      join(dir, 'plan.yaml'),
      'apiVersion: vault-tool/v1\nkind: RestorePlan\nentries:\n  - {entry: big, to: infisical/huge#A}\n  - {entry: big2, to: infisical/huge#B}\n',
    );
    const r = await vt(['k8s', 'restore', '--plan', 'plan.yaml']);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain('over the Kubernetes limit of 1048576 bytes');
    expect(srv.requests).toHaveLength(0);
  });
});

describe('restore policy guard rails', () => {
  const policy = (extra = '') =>
    writeFileSync(
      join(dir, 'k8s-policy.yaml'),
      `apiVersion: vault-tool/v1\nkind: RestorePolicy\nprotectedContexts: [dr, "prod-*"]\noperationalHours: "09:00-18:00"\ntimezone: UTC\n${extra}`,
    );

  it('a protected context needs its name typed, and break-glass with a reason outside hours', async () => {
    const plan = await importAndPlan();
    const seen = srv.requests.length;
    policy();
    const none = await vt(['k8s', 'restore', '--plan', plan]);
    expect(none.code).toBe(17);
    expect(none.stderr).toContain('context dr is protected: confirm it by name');
    expect(none.stderr).toContain('--confirm-context dr');
    const wrong = await vt(['k8s', 'restore', '--plan', plan, '--confirm-context', 'prod']);
    expect(wrong.code).toBe(17);
    expect(srv.requests).toHaveLength(seen);
    expect((await vt(['k8s', 'restore', '--plan', plan, '--confirm-context', 'dr'])).code).toBe(0);
    const night = new Date('2026-11-23T22:00:00Z');
    const late = await vt(['k8s', 'restore', '--plan', plan, '--confirm-context', 'dr'], { now: night });
    expect(late.code).toBe(17);
    expect(late.stderr).toContain('outside operational hours (09:00-18:00; now Mon 22:00 UTC)');
    expect((await vt(['k8s', 'restore', '--plan', plan, '--confirm-context', 'dr', '--break-glass'], { now: night })).code).toBe(2);
    const glass = await vt(['k8s', 'restore', '--plan', plan, '--confirm-context', 'dr', '--break-glass', '--reason', 'INC-4711 cluster lost'], { now: night });
    expect(glass.code).toBe(0);
    const rec = JSON.parse((await vt(['--json', 'evidence', 'verify'])).stdout).at(-1);
    expect(rec.data).toMatchObject({ protected: true, confirmedBy: 'context', outsideHours: true, breakGlass: true, reason: 'INC-4711 cluster lost' });
    // Dry runs and other contexts are not guarded.
    expect((await vt(['k8s', 'restore', '--plan', plan, '--dry-run'], { now: night })).code).toBe(0);
  });

  it('another context of the same API server is the protected cluster too', async () => {
    const plan = await importAndPlan();
    const seen = srv.requests.length;
    policy();
    // A second context in another kubeconfig file, its server spelled with a trailing slash.
    writeFileSync(join(dir, 'alias.yaml'), srv.kubeconfig({ context: 'admin', cluster: 'alias', namespace: 'infisical' }).replace(/(server: \S+)/, '$1/'));
    const env = { KUBECONFIG: `${join(dir, 'kubeconfig')}:${join(dir, 'alias.yaml')}` };
    const r = await vt(['k8s', 'restore', '--plan', plan, '--context', 'admin'], { env });
    expect(r.code, r.stderr).toBe(17);
    expect(r.stderr).toContain('context admin (its API server is that of context dr too) is protected: confirm it by name');
    expect(srv.requests).toHaveLength(seen);
    const rec = JSON.parse((await vt(['--json', 'evidence', 'verify'])).stdout).at(-1);
    expect(rec).toMatchObject({ event: 'restore.guard', data: { decision: 'refused' } });
    expect((await vt(['k8s', 'restore', '--plan', plan, '--context', 'admin', '--confirm-context', 'admin'], { env })).code).toBe(0);
  });

  it('confirm: totp checks a code against the secret kept in the vault', async () => {
    const plan = await importAndPlan();
    const seen = srv.requests.length;
    const secret = new Secret({ size: 20 });
    expect((await vt(['add', 'ops/restore-totp', '--type', 'totp-secret', '--from-file', '-'], { stdin: secret.base32 })).code).toBe(0);
    policy('confirm: totp\ntotpEntry: ops/restore-totp\n');
    const code = new TOTP({ secret }).generate({ timestamp: MONDAY_NOON.getTime() });
    const bad = await vt(['k8s', 'restore', '--plan', plan, '--totp-env', 'CODE'], { env: { CODE: String((Number(code) + 1) % 1e6).padStart(6, '0') } });
    expect(bad.code).toBe(17);
    expect(bad.stderr).toContain('wrong or expired');
    expect(srv.requests).toHaveLength(seen);
    const ok = await vt(['k8s', 'restore', '--plan', plan, '--totp-env', 'CODE'], { env: { CODE: code } });
    expect(ok.code).toBe(0);
    expect(readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8')).not.toContain(code);
  });
});

describe('k8s diff-vault and rbac', () => {
  it('reports in-sync, differing keys and missing Secrets by name only, exit 8 on drift', async () => {
    const plan = await importAndPlan();
    const same = await vt(['k8s', 'diff-vault', '--plan', plan]);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('in-sync  infisical/infisical-bootstrap-secret');
    srv.state.get('infisical', 'infisical-bootstrap-secret')!.obj.data.ENCRYPTION_KEY = b64('11111111111111111111111111111111');
    const drift = await vt(['k8s', 'compare', '--plan', plan]);
    expect(drift.code).toBe(8);
    expect(drift.stdout).toContain('differs  infisical/infisical-bootstrap-secret  differs: ENCRYPTION_KEY');
    expect(drift.stdout + drift.stderr).not.toContain(b64('11111111111111111111111111111111'));
    const gone = await vt(['--json', 'k8s', 'diff-vault', '--plan', plan, '--namespace-map', 'infisical:elsewhere']);
    expect(gone.code).toBe(8);
    expect(JSON.parse(gone.stdout).secrets[0]).toMatchObject({ status: 'missing', missingKeys: ['AUTH_SECRET', 'ENCRYPTION_KEY'] });
  });

  it('a cluster it cannot read: the error names the fix for the condition met (unreachable, forbidden)', async () => {
    const plan = await importAndPlan();
    writeFileSync(join(dir, 'kubeconfig'), srv.kubeconfig({ context: 'dr' }).replace(/127\.0\.0\.1:\d+/, '127.0.0.1:9'));
    const r = await vt(['k8s', 'diff-vault', '--plan', plan]);
    expect(r.code).toBe(15);
    expect(r.stderr.trim().split('\n').slice(-2)).toEqual([
      expect.stringMatching(/^vault-tool: error: could not read 1 Secret: get secret infisical\/infisical-bootstrap-secret: cannot reach the cluster at/),
      'vault-tool: hint: check --context, the kubeconfig server address and the network (VPN, firewall)',
    ]);
    writeFileSync(join(dir, 'kubeconfig'), srv.kubeconfig({ context: 'dr' }));
    forbidden.add('get infisical/infisical-bootstrap-secret');
    const refused = await vt(['k8s', 'diff-vault', '--plan', plan]);
    expect(refused.code).toBe(15);
    expect(refused.stderr.trim().split('\n').at(-1)).toBe('vault-tool: hint: `vault-tool k8s rbac` prints the least-privilege Role this needs');
  });

  it('rbac prints a Role per namespace and warns about list', async () => {
    const plan = await importAndPlan();
    const r = await vt(['k8s', 'rbac', '--plan', plan, '--service-account', 'ops/restorer']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('kind: Role\nmetadata:\n  name: vault-tool-restore\n  namespace: infisical');
    expect(r.stderr).toContain('never grant list or watch on Secrets');
  });

  it('the built binary loads the Kubernetes client from node_modules', async () => {
    const plan = await importAndPlan();
    const r = await spawnCli(dir, ['k8s', 'diff-vault', '--plan', plan], { env: { KUBECONFIG: join(dir, 'kubeconfig') } });
    expect(r.stderr).toContain('1 of 1 Secret match the vault (context dr)');
    expect(r.code).toBe(0);
  });
});
