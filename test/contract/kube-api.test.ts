// Contract tests: the real @kubernetes/client-node (and kubectl, a second real
// client) against the in-process Secrets API test double, over HTTP and over
// HTTPS with a self-signed CA. They pin down the API behaviour the k8s
// commands rely on, and check the requests on the wire.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript helper shared with the benchmarks
import { startKubeApi } from '../helpers/kube-api-server.mjs';
import { haveBinary, tempDir } from '../helpers/cli.js';

type Server = Awaited<ReturnType<typeof startKubeApi>> & {
  requests: { method: string; path: string; query: Record<string, string>; contentType?: string; body?: unknown; status: number }[];
};

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ssa = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);

async function apiError(
  p: Promise<unknown>,
): Promise<{ code: number; status: { reason: string; message: string; code: number; details?: { causes?: { field: string }[] } } }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code: number; body: string };
    // The generated client drops the body of a 401 (it knows that code): status is then empty.
    return { code: err.code, status: err.body === undefined ? ({} as never) : JSON.parse(err.body) };
  }
  throw new Error('expected the call to fail');
}

for (const tls of [false, true]) {
  describe(`Secrets API test double over ${tls ? 'HTTPS (self-signed CA)' : 'HTTP'}, driven by @kubernetes/client-node`, () => {
    let srv: Server;
    let api: k8s.CoreV1Api;
    const forbidden = new Set<string>();
    beforeAll(async () => {
      if (tls) haveBinary('openssl', ['version']);
      srv = await startKubeApi({
        tls,
        namespaces: ['default', 'prod'],
        authorize: (verb: string, ns: string, name?: string) => !forbidden.has(`${verb} ${ns}/${name ?? '*'}`),
      });
      const kc = new k8s.KubeConfig();
      kc.loadFromString(srv.kubeconfig({ namespace: 'prod' }));
      api = kc.makeApiClient(k8s.CoreV1Api);
    });
    afterAll(() => srv.close());

    it('creates, reads and refuses a duplicate with 409 AlreadyExists', async () => {
      const created = await api.createNamespacedSecret({
        namespace: 'prod',
        body: { metadata: { name: 'one', labels: { tier: 'db' } }, stringData: { PASSWORD: 'pw-1' } },
      });
      expect(created.data).toEqual({ PASSWORD: b64('pw-1') });
      expect(created.type).toBe('Opaque');
      expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
      const got = await api.readNamespacedSecret({ namespace: 'prod', name: 'one' });
      expect(got.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
      const dup = await apiError(api.createNamespacedSecret({ namespace: 'prod', body: { metadata: { name: 'one' } } }));
      expect(dup.code).toBe(409);
      expect(dup.status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'AlreadyExists', message: 'secrets "one" already exists', code: 409 });
    });

    it('answers 404 NotFound for a missing Secret and for a missing namespace', async () => {
      const e = await apiError(api.readNamespacedSecret({ namespace: 'prod', name: 'nope' }));
      expect(e.status).toMatchObject({ reason: 'NotFound', message: 'secrets "nope" not found', code: 404 });
      const ns = await apiError(api.createNamespacedSecret({ namespace: 'ghost', body: { metadata: { name: 'x' } } }));
      expect(ns.status).toMatchObject({ reason: 'NotFound', message: 'namespaces "ghost" not found' });
    });

    it('replaces with a resourceVersion precondition: a stale one is a 409 Conflict', async () => {
      const cur = await api.readNamespacedSecret({ namespace: 'prod', name: 'one' });
      const next = await api.replaceNamespacedSecret({ namespace: 'prod', name: 'one', body: { ...cur, data: { PASSWORD: b64('pw-2') } } });
      expect(Number(next.metadata?.resourceVersion)).toBeGreaterThan(Number(cur.metadata?.resourceVersion));
      const stale = await apiError(api.replaceNamespacedSecret({ namespace: 'prod', name: 'one', body: { ...cur, data: { PASSWORD: b64('pw-3') } } }));
      expect(stale.status).toMatchObject({ reason: 'Conflict', code: 409 });
      expect(stale.status.message).toContain('the object has been modified');
      expect((await api.readNamespacedSecret({ namespace: 'prod', name: 'one' })).data?.PASSWORD).toBe(b64('pw-2'));
    });

    it('rejects invalid Secrets with 422 Invalid and the field named', async () => {
      const bad = await apiError(api.createNamespacedSecret({ namespace: 'prod', body: { metadata: { name: 'bad' }, data: { 'not ok': b64('x') } } }));
      expect(bad.status.reason).toBe('Invalid');
      expect(bad.status.details?.causes?.[0]?.field).toBe('data[not ok]');
      const big = await apiError(
        api.createNamespacedSecret({ namespace: 'prod', body: { metadata: { name: 'big' }, data: { K: Buffer.alloc(1024 * 1024 + 1).toString('base64') } } }),
      );
      expect(big.code).toBe(422);
      const tlsMissing = await apiError(
        api.createNamespacedSecret({ namespace: 'prod', body: { metadata: { name: 't' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64('x') } } }),
      );
      expect(tlsMissing.status.details?.causes?.[0]?.field).toBe('data[tls.key]');
    });

    it('server-side apply: creates, owns fields per manager, reports conflicts, force takes them over', async () => {
      const body = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'applied', namespace: 'prod' }, data: { A: b64('1') } };
      const r = await api.patchNamespacedSecret({ namespace: 'prod', name: 'applied', body, fieldManager: 'vault-tool' }, ssa);
      expect(r.metadata?.managedFields?.[0]).toMatchObject({ manager: 'vault-tool', operation: 'Apply' });
      const req = srv.requests.at(-1)!;
      expect(req).toMatchObject({
        method: 'PATCH',
        path: '/api/v1/namespaces/prod/secrets/applied',
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: 'vault-tool' },
        status: 201,
      });
      // Another manager changes A with a merge patch and becomes its owner.
      await api.patchNamespacedSecret(
        { namespace: 'prod', name: 'applied', body: { data: { A: b64('2') } }, fieldManager: 'someone' },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
      );
      const c = await apiError(api.patchNamespacedSecret({ namespace: 'prod', name: 'applied', body, fieldManager: 'vault-tool' }, ssa));
      expect(c.status.reason).toBe('Conflict');
      expect(c.status.message).toContain('conflict with "someone"');
      const forced = await api.patchNamespacedSecret({ namespace: 'prod', name: 'applied', body, fieldManager: 'vault-tool', force: true }, ssa);
      expect(forced.data?.A).toBe(b64('1'));
      // An apply without a field it applied before removes it.
      await api.patchNamespacedSecret(
        { namespace: 'prod', name: 'applied', body: { ...body, data: { A: b64('1'), B: b64('b') } }, fieldManager: 'vault-tool' },
        ssa,
      );
      const dropped = await api.patchNamespacedSecret({ namespace: 'prod', name: 'applied', body, fieldManager: 'vault-tool' }, ssa);
      expect(Object.keys(dropped.data ?? {})).toEqual(['A']);
      // An apply carrying a stale resourceVersion is a conflict.
      const stale = await apiError(
        api.patchNamespacedSecret(
          {
            namespace: 'prod',
            name: 'applied',
            body: { ...body, metadata: { ...body.metadata, resourceVersion: '1' } },
            fieldManager: 'vault-tool',
            force: true,
          },
          ssa,
        ),
      );
      expect(stale.status.reason).toBe('Conflict');
      // A no-op apply keeps the resourceVersion.
      const again = await api.patchNamespacedSecret({ namespace: 'prod', name: 'applied', body, fieldManager: 'vault-tool' }, ssa);
      expect(again.metadata?.resourceVersion).toBe(dropped.metadata?.resourceVersion);
    });

    it('json-patch: test guards a change; a failed test changes nothing', async () => {
      const cur = await api.readNamespacedSecret({ namespace: 'prod', name: 'one' });
      const ops = [
        { op: 'test', path: '/metadata/resourceVersion', value: cur.metadata?.resourceVersion },
        { op: 'replace', path: '/data/PASSWORD', value: b64('pw-4') },
      ];
      await api.patchNamespacedSecret({ namespace: 'prod', name: 'one', body: ops }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch));
      expect(srv.requests.at(-1)!.contentType).toBe('application/json-patch+json');
      const failed = await apiError(
        api.patchNamespacedSecret({ namespace: 'prod', name: 'one', body: ops }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch)),
      );
      expect(failed.code).toBe(422);
      expect((await api.readNamespacedSecret({ namespace: 'prod', name: 'one' })).data?.PASSWORD).toBe(b64('pw-4'));
    });

    it('dryRun=All validates and answers but persists nothing', async () => {
      const rvBefore = srv.state.rv;
      const r = await api.createNamespacedSecret({ namespace: 'prod', body: { metadata: { name: 'dry' }, data: { K: b64('v') } }, dryRun: 'All' });
      expect(r.metadata?.name).toBe('dry');
      expect(srv.requests.at(-1)!.query).toEqual({ dryRun: 'All' });
      expect(await apiError(api.readNamespacedSecret({ namespace: 'prod', name: 'dry' }))).toMatchObject({ code: 404 });
      await api.deleteNamespacedSecret({ namespace: 'prod', name: 'one', dryRun: 'All' });
      expect((await api.readNamespacedSecret({ namespace: 'prod', name: 'one' })).metadata?.name).toBe('one');
      expect(srv.state.rv).toBe(rvBefore);
    });

    it('lists with a label selector and pages with limit/continue', async () => {
      for (let i = 0; i < 7; i++)
        await api.createNamespacedSecret({
          namespace: 'prod',
          body: { metadata: { name: `page-${i}`, labels: { app: i % 2 ? 'odd' : 'even' } }, data: { K: b64(String(i)) } },
        });
      const odd = await api.listNamespacedSecret({ namespace: 'prod', labelSelector: 'app=odd' });
      expect(odd.items.map((s) => s.metadata?.name)).toEqual(['page-1', 'page-3', 'page-5']);
      expect((await api.listNamespacedSecret({ namespace: 'prod', labelSelector: 'app in (odd,even),app!=even' })).items).toHaveLength(3);
      expect((await api.listNamespacedSecret({ namespace: 'prod', labelSelector: '!app' })).items.every((s) => !s.metadata?.labels?.app)).toBe(true);
      const names: string[] = [];
      let cont: string | undefined;
      let pages = 0;
      do {
        const page = await api.listNamespacedSecret({ namespace: 'prod', labelSelector: 'app', limit: 3, _continue: cont });
        names.push(...page.items.map((s) => s.metadata!.name!));
        cont = page.metadata?._continue;
        pages++;
      } while (cont);
      expect(pages).toBe(3);
      expect(names).toEqual(Array.from({ length: 7 }, (_, i) => `page-${i}`));
      expect(srv.requests.filter((r: { query: Record<string, string> }) => r.query.limit === '3')).toHaveLength(3);
    });

    it('keeps immutable Secrets immutable; delete with preconditions', async () => {
      const s = await api.createNamespacedSecret({ namespace: 'prod', body: { metadata: { name: 'frozen' }, immutable: true, data: { K: b64('v1') } } });
      const e = await apiError(api.replaceNamespacedSecret({ namespace: 'prod', name: 'frozen', body: { ...s, data: { K: b64('v2') } } }));
      expect(e.status.reason).toBe('Invalid');
      expect(e.status.message).toContain('field is immutable when `immutable` is set');
      const wrongUid = await apiError(api.deleteNamespacedSecret({ namespace: 'prod', name: 'frozen', body: { preconditions: { uid: 'not-the-uid' } } }));
      expect(wrongUid.status.reason).toBe('Conflict');
      await api.deleteNamespacedSecret({
        namespace: 'prod',
        name: 'frozen',
        body: { preconditions: { uid: s.metadata!.uid!, resourceVersion: s.metadata!.resourceVersion! } },
      });
      expect(await apiError(api.readNamespacedSecret({ namespace: 'prod', name: 'frozen' }))).toMatchObject({ code: 404 });
    });

    it('answers 403 Forbidden as a Status naming the verb, and 401 for a wrong token', async () => {
      forbidden.add('get prod/one');
      const e = await apiError(api.readNamespacedSecret({ namespace: 'prod', name: 'one' }));
      forbidden.clear();
      expect(e.status).toMatchObject({ reason: 'Forbidden', code: 403 });
      expect(e.status.message).toBe(
        'secrets "one" is forbidden: User "system:serviceaccount:ops:restorer" cannot get resource "secrets" in API group "" in the namespace "prod"',
      );
      const kc = new k8s.KubeConfig();
      kc.loadFromString(srv.kubeconfig({ withToken: false }));
      const anon = await apiError(kc.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ namespace: 'prod', name: 'one' }));
      expect(anon.code).toBe(401);
      expect(srv.requests.at(-1)!.status).toBe(401);
    });
  });
}

describe('kubectl as a second real client of the test double', () => {
  it.skipIf(!haveBinary('kubectl', ['version', '--client']))('applies server-side and reads back what it applied', async () => {
    const srv: Server = await startKubeApi({ tls: true, namespaces: ['default', 'apps'] });
    const { dir, cleanup } = tempDir();
    try {
      const kcFile = join(dir, 'kubeconfig');
      writeFileSync(kcFile, srv.kubeconfig({ namespace: 'apps' }));
      writeFileSync(join(dir, 's.yaml'), 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: from-kubectl\n  labels: {app: web}\nstringData:\n  TOKEN: t0k3n\n');
      const env = { ...process.env, KUBECONFIG: kcFile, HOME: dir };
      // Asynchronous: the server answers from this same process.
      const kubectl = (args: string[]) =>
        new Promise<{ status: number; stdout: string; stderr: string }>((res) =>
          execFile('kubectl', args, { env, encoding: 'utf8' }, (err, stdout, stderr) => res({ status: err ? Number(err.code ?? 1) : 0, stdout, stderr })),
        );
      const apply = await kubectl(['apply', '--server-side', '--validate=false', '-f', join(dir, 's.yaml')]);
      expect(apply.stderr).toBe('');
      expect(apply.stdout.trim()).toBe('secret/from-kubectl serverside-applied');
      const patch = srv.requests.find((r: { method: string }) => r.method === 'PATCH')!;
      expect(patch).toMatchObject({
        path: '/api/v1/namespaces/apps/secrets/from-kubectl',
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: 'kubectl' },
      });
      const get = await kubectl(['get', 'secret', 'from-kubectl', '-o', 'json']);
      const obj = JSON.parse(get.stdout);
      expect(obj.data.TOKEN).toBe(b64('t0k3n'));
      expect(obj.metadata.labels).toEqual({ app: 'web' });
      const list = await kubectl(['get', 'secrets', '-l', 'app=web', '-o', 'name']);
      expect(list.stdout.trim()).toBe('secret/from-kubectl');
      const missing = await kubectl(['get', 'secret', 'nope']);
      expect(missing.status).not.toBe(0);
      expect(missing.stderr).toContain('secrets "nope" not found');
    } finally {
      cleanup();
      await srv.close();
    }
  });
});
