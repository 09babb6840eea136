import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOTP, Secret } from 'otpauth';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanSecret, contentHash, manifestsYaml, parseSecretManifests, toYaml, checkSecret, MAX_SECRET_BYTES } from '../../src/k8s/secret.js';
import { loadKubeconfig } from '../../src/k8s/kubeconfig.js';
import { desiredSecrets, mapNamespaces, parsePlan, planFromVault, planYaml } from '../../src/k8s/plan.js';
import { checkTotp, globMatch, isProtected, parsePolicy, withinHours } from '../../src/k8s/policy.js';
import { applyImport, defaultEntryName, parseMapping, planImport } from '../../src/k8s/import.js';
import { rbacFor } from '../../src/k8s/rbac.js';
import { unifiedDiff } from '../../src/k8s/restore.js';
import { newDocument } from '../../src/vault/document.js';
import { putEntry } from '../../src/vault/entries.js';
import { haveBinary, tempDir } from '../helpers/cli.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const KUBECTL_GET = `apiVersion: v1
items:
- apiVersion: v1
  data:
    AUTH_SECRET: ${b64('a'.repeat(44))}
    ENCRYPTION_KEY: ${b64('0123456789abcdef0123456789abcdef')}
  kind: Secret
  metadata:
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: |
        {"apiVersion":"v1","kind":"Secret"}
      team: platform
    creationTimestamp: "2026-01-02T03:04:05Z"
    labels:
      app: infisical
    managedFields:
    - apiVersion: v1
      manager: kubectl
      operation: Update
    name: infisical-bootstrap-secret
    namespace: infisical
    ownerReferences:
    - apiVersion: apps/v1
      kind: Deployment
      name: x
      uid: 1
    resourceVersion: "123"
    uid: 0b5a1c3e-0000-4000-8000-000000000000
  type: Opaque
- apiVersion: v1
  kind: Secret
  metadata:
    name: default-token-abcde
    namespace: infisical
  type: kubernetes.io/service-account-token
  data:
    token: ${b64('jwt')}
kind: List
metadata:
  resourceVersion: ""
`;

describe('Secret manifests', () => {
  it('reads kubectl get -o yaml output and strips server-set fields', () => {
    const { secrets, ignored } = parseSecretManifests(KUBECTL_GET, 'get.yaml');
    expect(ignored).toEqual([]);
    expect(secrets).toHaveLength(2);
    expect(secrets[0]).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'infisical-bootstrap-secret', namespace: 'infisical', labels: { app: 'infisical' }, annotations: { team: 'platform' } },
      type: 'Opaque',
      data: { AUTH_SECRET: b64('a'.repeat(44)), ENCRYPTION_KEY: b64('0123456789abcdef0123456789abcdef') },
    });
  });

  it('reads several documents, folds stringData into data (stringData wins) and reports other kinds', () => {
    const text = `apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {K: ${b64('old')}}\nstringData: {K: new, S: plain}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n---\n`;
    const { secrets, ignored } = parseSecretManifests(text, 'f.yaml');
    expect(secrets[0]!.data).toEqual({ K: b64('new'), S: b64('plain') });
    expect(ignored).toEqual(['f.yaml document 2: ConfigMap cm']);
  });

  it('refuses what is not a Secret manifest, naming the document', () => {
    expect(() => parseSecretManifests('kind: Secret\nmetadata: {}\n', 'x.yaml')).toThrow(/x.yaml document 1: the Secret has no metadata.name/);
    expect(() => parseSecretManifests('kind: Secret\nmetadata: {name: a}\ndata: {K: "not base64!"}\n', 'x.yaml')).toThrow(/data.K is not valid base64/);
    expect(() => parseSecretManifests('a: [1\n', 'x.yaml')).toThrow(/x.yaml: YAML document 1/);
    expect(() => cleanSecret({ apiVersion: 'v2', kind: 'Secret', metadata: { name: 'a' } }, 'w')).toThrow(/apiVersion v2 is not v1/);
  });

  it('checks key names and the 1 MiB limit before any API call', () => {
    const s = (data: Record<string, string>) => ({ apiVersion: 'v1' as const, kind: 'Secret' as const, metadata: { name: 'ok', namespace: 'ns' }, data });
    expect(() => checkSecret(s({ 'bad key': b64('x') }))).toThrow(/invalid Secret key "bad key"/);
    expect(() => checkSecret(s({ K: Buffer.alloc(MAX_SECRET_BYTES + 1).toString('base64') }))).toThrow(/over the Kubernetes limit of 1048576 bytes/);
    expect(() => checkSecret(s({ K: Buffer.alloc(MAX_SECRET_BYTES).toString('base64') }))).not.toThrow();
    expect(() => checkSecret({ ...s({}), metadata: { name: 'Upper', namespace: 'ns' } })).toThrow(/invalid Secret name "Upper"/);
  });

  it('keys the content hash: same content same hash, any change or another vault another hash', () => {
    const k1 = Buffer.alloc(32, 1);
    const k2 = Buffer.alloc(32, 2);
    const h = contentHash(k1, 'Opaque', { A: b64('1'), B: b64('2') });
    expect(contentHash(k1, 'Opaque', { B: b64('2'), A: b64('1') })).toBe(h);
    expect(contentHash(k1, 'Opaque', { A: b64('1'), B: b64('3') })).not.toBe(h);
    expect(contentHash(k1, 'kubernetes.io/tls', { A: b64('1'), B: b64('2') })).not.toBe(h);
    expect(contentHash(k2, 'Opaque', { A: b64('1'), B: b64('2') })).not.toBe(h);
    expect(contentHash(k1, 'Opaque', { A: b64('1'), B: b64('2'), C: b64('x') }, ['A', 'B'])).toBe(h);
  });
});

describe('plain YAML export matches kubectl create secret --dry-run=client -o yaml', () => {
  const kubectl = (args: string[]) => execFileSync('kubectl', args, { encoding: 'utf8' }).replace(/^ {2}creationTimestamp: null\n/m, '');
  let dir: string;
  let cleanup: () => void;
  beforeAll(() => ({ dir, cleanup } = tempDir()));
  afterAll(() => cleanup());

  it.skipIf(!haveBinary('kubectl', ['version', '--client']))('generic: byte for byte, with awkward values', () => {
    const values: Record<string, Buffer> = {
      'api.key': Buffer.from('x'.repeat(300)),
      B: Buffer.from([0, 255, 10, 13]),
      'multi-line': Buffer.from('line 1\nline 2\n'),
      true: Buffer.from('true'),
    };
    const args = ['create', 'secret', 'generic', 'app-secrets', '-n', 'prod', '--dry-run=client', '-o', 'yaml'];
    for (const [k, v] of Object.entries(values)) {
      writeFileSync(join(dir, k), v);
      args.push(`--from-file=${k}=${join(dir, k)}`);
    }
    const ours = manifestsYaml([
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'app-secrets', namespace: 'prod' },
        data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.toString('base64')])),
      },
    ]);
    expect(ours).toBe(kubectl(args));
  });

  it.skipIf(!haveBinary('kubectl', ['version', '--client']) || !haveBinary('openssl', ['version']))(
    'tls: the PEM halves land in tls.crt and tls.key as kubectl puts them',
    () => {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          join(dir, 'k.pem'),
          '-out',
          join(dir, 'c.pem'),
          '-days',
          '1',
          '-subj',
          '/CN=web',
        ],
        { stdio: 'ignore' },
      );
      const cert = readFileSync(join(dir, 'c.pem'));
      const key = readFileSync(join(dir, 'k.pem'));
      const doc = newDocument({ recipient: 'age1x', keyId: 'k' }, new Date());
      putEntry(doc, { name: 'web/tls', type: 'tls', value: Buffer.concat([cert, key]), now: new Date() });
      const [d] = desiredSecrets(doc, {
        secrets: [
          {
            namespace: 'web',
            name: 'web-tls',
            type: 'kubernetes.io/tls',
            labels: {},
            annotations: {},
            data: { 'tls.crt': 'web/tls#cert', 'tls.key': 'web/tls#key' },
          },
        ],
      });
      const ours = toYaml(d!.obj);
      expect(ours).toBe(
        kubectl([
          'create',
          'secret',
          'tls',
          'web-tls',
          '-n',
          'web',
          `--cert=${join(dir, 'c.pem')}`,
          `--key=${join(dir, 'k.pem')}`,
          '--dry-run=client',
          '-o',
          'yaml',
        ]),
      );
    },
  );
});

describe('kubeconfig loading follows kubectl', () => {
  let dir: string;
  let cleanup: () => void;
  const cfg = (name: string, ctx: string | undefined, clusters: [string, string][], contexts: [string, string, string?][]) => {
    const lines = ['apiVersion: v1', 'kind: Config'];
    if (ctx !== undefined) lines.push(`current-context: ${ctx}`);
    lines.push('clusters:', ...clusters.flatMap(([n, s]) => [`- name: ${n}`, '  cluster:', `    server: ${s}`, '    certificate-authority: certs/ca.crt']));
    lines.push('users:', `- name: u-${name}`, '  user:', `    token: t-${name}`);
    lines.push(
      'contexts:',
      ...contexts.flatMap(([n, c, ns]) => [`- name: ${n}`, '  context:', `    cluster: ${c}`, `    user: u-${name}`, ...(ns ? [`    namespace: ${ns}`] : [])]),
    );
    const f = join(dir, name);
    writeFileSync(f, lines.join('\n') + '\n');
    // A distinct CA file beside each kubeconfig: which one a context uses shows how paths were resolved.
    mkdirSync(join(f, '..', 'certs'), { recursive: true });
    writeFileSync(join(f, '..', 'certs', 'ca.crt'), `CA of ${name}\n`);
    return f;
  };
  beforeAll(() => {
    ({ dir, cleanup } = tempDir());
    mkdirSync(join(dir, 'sub'));
  });
  afterAll(() => cleanup());

  const merged = () => {
    const a = cfg('a', '', [['shared', 'https://a.example:6443']], [['ctx-a', 'shared', 'team-a']]);
    const b = cfg(
      'sub/b',
      'ctx-b',
      [
        ['shared', 'https://b.example:6443'],
        ['only-b', 'https://only-b.example'],
      ],
      [
        ['ctx-b', 'only-b'],
        ['ctx-a', 'only-b', 'wrong'],
      ],
    );
    const env = { KUBECONFIG: [join(dir, 'missing'), a, b].join(':') };
    return { a, b, env, ours: loadKubeconfig({ env }), other: loadKubeconfig({ env, context: 'ctx-a' }) };
  };

  it('merges KUBECONFIG files like kubectl: first current-context, first cluster of a name, missing files ignored', () => {
    const { a, b, env, ours, other } = merged();
    expect(ours).toMatchObject({ context: 'ctx-b', server: 'https://only-b.example', namespace: 'default', files: [a, b] });
    expect(other).toMatchObject({ context: 'ctx-a', server: 'https://a.example:6443', namespace: 'team-a' });
    expect(parse(other.yaml).clusters[0].cluster['certificate-authority']).toBe(join(dir, 'certs/ca.crt'));
    expect(loadKubeconfig({ env, context: 'ctx-a', namespace: 'override' }).namespace).toBe('override');
  });

  it.skipIf(!haveBinary('kubectl', ['version', '--client']))('resolves the same context, server, namespace and CA file as kubectl config view', () => {
    const { env, ours, other } = merged();
    const view = (extra: string[]) =>
      JSON.parse(
        execFileSync('kubectl', ['config', 'view', '--minify', '--flatten', '-o', 'json', ...extra], {
          env: { ...process.env, ...env, HOME: dir },
          encoding: 'utf8',
        }),
      );
    for (const [extra, mine] of [
      [[], ours],
      [['--context', 'ctx-a'], other],
    ] as const) {
      const v = view([...extra]);
      expect(mine.context).toBe(v['current-context']);
      expect(mine.server).toBe(v.clusters[0].cluster.server);
      expect(mine.namespace).toBe(v.contexts[0].context.namespace ?? 'default');
      const caFile = parse(mine.yaml).clusters[0].cluster['certificate-authority'];
      expect(readFileSync(caFile).toString('base64')).toBe(v.clusters[0].cluster['certificate-authority-data']);
    }
  });

  it('gives clear errors: missing --kubeconfig file, unknown context, no current context', () => {
    expect(() => loadKubeconfig({ env: {}, kubeconfig: join(dir, 'nope') })).toThrow(/cannot read kubeconfig .*nope: no such file/);
    const a = cfg('c', undefined, [['c1', 'https://c.example']], [['x', 'c1']]);
    expect(() => loadKubeconfig({ env: { KUBECONFIG: a } })).toThrow(/sets no current context/);
    expect(() => loadKubeconfig({ env: { KUBECONFIG: a }, context: 'y' })).toThrow(/context "y" does not exist/);
    expect(() => loadKubeconfig({ env: { KUBECONFIG: join(dir, 'none1') } })).toThrow(/no kubeconfig found/);
    expect(() => loadKubeconfig({ env: {}, home: join(dir, 'nohome') })).toThrow(/no kubeconfig found/);
  });
});

describe('restore plans', () => {
  const doc = newDocument({ recipient: 'age1x', keyId: 'k' }, new Date());
  const now = new Date();
  putEntry(doc, { name: 'infisical/encryption-key', type: 'infisical-encryption-key', now });
  putEntry(doc, { name: 'infisical/auth-secret', type: 'infisical-auth-secret', now });
  const text = `apiVersion: vault-tool/v1
kind: RestorePlan
secrets:
  - namespace: infisical
    name: infisical-bootstrap-secret
    labels: {app: infisical}
    data:
      ENCRYPTION_KEY: infisical/encryption-key
entries:
  - entry: infisical/auth-secret@1
    to: infisical/infisical-bootstrap-secret#AUTH_SECRET
`;

  it('merges both forms into one Secret, with values from the vault', () => {
    const plan = parsePlan(text, 'plan.yaml');
    expect(plan.secrets).toHaveLength(1);
    const [d] = desiredSecrets(doc, plan, Buffer.alloc(32));
    expect(Object.keys(d!.obj.data!)).toEqual(['ENCRYPTION_KEY', 'AUTH_SECRET']);
    expect(d!.sources).toEqual({ ENCRYPTION_KEY: 'infisical/encryption-key@1', AUTH_SECRET: 'infisical/auth-secret@1' });
    expect(d!.obj.metadata.annotations!['vault-tool/content-hash']).toMatch(/^v1:[0-9a-f]{32}$/);
    const moved = desiredSecrets(doc, mapNamespaces(plan, { infisical: 'infisical-dr' }), Buffer.alloc(32));
    expect(moved[0]!.obj.metadata.namespace).toBe('infisical-dr');
  });

  it('refuses bad plans with the place named', () => {
    expect(() => parsePlan('kind: Other\n', 'p.yaml')).toThrow(/p.yaml: not a restore plan/);
    expect(() => parsePlan(text.replace('ENCRYPTION_KEY:', 'BAD KEY:'), 'p.yaml')).toThrow(/invalid Secret key "BAD KEY"/);
    expect(() => parsePlan(text.replace('#AUTH_SECRET', '#ENCRYPTION_KEY'), 'p.yaml')).toThrow(
      /infisical\/infisical-bootstrap-secret#ENCRYPTION_KEY is given twice/,
    );
    expect(() => parsePlan(text.replace('to: infisical/', 'to: '), 'p.yaml')).toThrow(/is not namespace\/secret#key/);
    expect(() => parsePlan(text + 'extra: 1\n', 'p.yaml')).toThrow('p.yaml: extra: unknown field (expected apiVersion, kind, metadata, secrets, entries)');
    expect(() => desiredSecrets(doc, parsePlan(text.replace('infisical/encryption-key', 'nope/missing'), 'p'), Buffer.alloc(32))).toThrow(/nope\/missing/);
  });

  it('writes a plan from the Kubernetes origin kept with imported entries, and reads it back', () => {
    const d = newDocument({ recipient: 'age1x', keyId: 'k' }, new Date());
    const { secrets } = parseSecretManifests(KUBECTL_GET, 'get.yaml');
    const imp = planImport(secrets, [parseMapping('ENCRYPTION_KEY=infisical/encryption-key:infisical-encryption-key')], { defaultNamespace: 'default' });
    expect(imp.skipped).toEqual([
      {
        secret: 'infisical/default-token-abcde',
        reason: 'type kubernetes.io/service-account-token (minted by the cluster or Helm; imported only when all types are asked for)',
        code: 'k8s-skipped-type',
      },
    ]);
    applyImport(d, imp, new Date());
    const plan = planFromVault(d);
    expect(plan.secrets).toEqual([
      {
        namespace: 'infisical',
        name: 'infisical-bootstrap-secret',
        type: 'Opaque',
        labels: { app: 'infisical' },
        annotations: { team: 'platform' },
        data: { AUTH_SECRET: 'k8s/infisical/infisical-bootstrap-secret/AUTH_SECRET', ENCRYPTION_KEY: 'infisical/encryption-key' },
      },
    ]);
    expect(parsePlan(planYaml(plan), 'round-trip')).toEqual(plan);
  });
});

describe('import mappings', () => {
  const secret = cleanSecret({ kind: 'Secret', metadata: { name: 's', namespace: 'ns' }, data: { '.dockerconfigjson': b64('{}'), KEY: b64('not hex') } }, 't');

  it('parses KEY=ENTRY[:TYPE] and NS/SECRET#KEY=ENTRY[:TYPE]', () => {
    expect(parseMapping('ENCRYPTION_KEY=infisical/encryption-key:infisical-encryption-key')).toEqual({
      key: 'ENCRYPTION_KEY',
      entry: 'infisical/encryption-key',
      type: 'infisical-encryption-key',
    });
    expect(parseMapping('ns/s#KEY=a/b')).toEqual({ secret: 'ns/s', key: 'KEY', entry: 'a/b', type: 'generic' });
    expect(() => parseMapping('KEY=a/b:no-such-type')).toThrow(/unknown entry type/);
    expect(() => parseMapping('nothing')).toThrow(/expected KEY=ENTRY/);
    // Each part missing is named (KEY=$ENTRY with ENTRY unset), with a code whose hint gives the form.
    for (const [spec, what] of [
      ['KEY=', 'no entry after ='],
      ['=a/b', 'no key before ='],
      ['ns/s#=a/b', 'no key before ='],
      ['KEY=:kek', 'no entry after ='],
      ['KEY=a/b:', 'no type after the colon'],
    ]) {
      expect(() => parseMapping(spec!), spec).toThrow(
        `mapping ${JSON.stringify(spec)}: ${what} (expected KEY=ENTRY[:TYPE] or NAMESPACE/SECRET#KEY=ENTRY[:TYPE])`,
      );
      expect(() => parseMapping(spec!)).toThrow(expect.objectContaining({ code: 'bad-mapping' }));
    }
  });

  it('validates values by their type before anything is stored, naming the key', () => {
    expect(() => planImport([secret], [parseMapping('KEY=x/key:infisical-encryption-key')], { defaultNamespace: 'default' })).toThrow(
      /ns\/s#KEY → x\/key \(infisical-encryption-key\): value refused: infisical-encryption-key must be exactly 32 lowercase hex/,
    );
  });

  it('gives unmapped keys predictable generic names; re-import adds no version, a change adds one', () => {
    expect(defaultEntryName('ns', 's', '.dockerconfigjson')).toBe('k8s/ns/s/_dockerconfigjson');
    const doc = newDocument({ recipient: 'age1x', keyId: 'k' }, new Date());
    const plan = planImport([secret], [], { defaultNamespace: 'default' });
    expect(applyImport(doc, plan, new Date()).map((r) => r.status)).toEqual(['added', 'added']);
    expect(applyImport(doc, plan, new Date()).map((r) => r.status)).toEqual(['unchanged', 'unchanged']);
    const changed = cleanSecret({ ...secret, data: { ...secret.data, KEY: b64('rotated') } }, 't');
    expect(applyImport(doc, planImport([changed], [], { defaultNamespace: 'default' }), new Date()).map((r) => `${r.status}@${r.version}`)).toEqual([
      'unchanged@1',
      'updated@2',
    ]);
  });
});

describe('restore policy guard rails', () => {
  const policy = parsePolicy(
    'apiVersion: vault-tool/v1\nkind: RestorePolicy\nprotectedContexts: [prod, "prod-*"]\noperationalHours: "09:00-18:00"\ndays: [mon, tue, wed, thu, fri]\ntimezone: Europe/Berlin\n',
    'policy.yaml',
  );

  it('matches protected contexts by glob', () => {
    expect(isProtected(policy, 'prod')).toBe(true);
    expect(isProtected(policy, 'prod-eu-1')).toBe(true);
    expect(isProtected(policy, 'production')).toBe(false);
    expect(isProtected(policy, 'staging')).toBe(false);
  });

  it('matches globs without backtracking: a pattern of many stars against a long context answers at once', () => {
    const p = parsePolicy(`apiVersion: vault-tool/v1\nkind: RestorePolicy\nprotectedContexts: ["${'*a'.repeat(30)}*b", "?ro*-e?-*"]\n`, 'policy.yaml');
    // A backtracking regular expression takes longer than the test run for this one.
    expect(isProtected(p, 'a'.repeat(40))).toBe(false);
    expect(isProtected(p, 'a'.repeat(40) + 'b')).toBe(true);
    expect(isProtected(p, 'prod-eu-1')).toBe(true);
    expect(isProtected(p, 'prod-us-1')).toBe(false);
  });

  it('matches globs as * and ? mean, for every short pattern and text', () => {
    const alphabet = ['a', 'b', '*', '?'];
    const words = (n: number, al: string[]): string[] =>
      (n === 0 ? [''] : words(n - 1, al).flatMap((w) => [w, ...al.map((c) => w + c)])).filter((w, i, a) => a.indexOf(w) === i);
    const patterns = words(4, alphabet);
    const texts = words(4, ['a', 'b']);
    for (const pat of patterns) {
      const re = new RegExp('^' + pat.replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
      for (const t of texts) expect(globMatch(pat, t), `${pat} ~ ${t}`).toBe(re.test(t));
    }
  });

  it('knows operational hours in the policy timezone, end exclusive, weekdays only', () => {
    expect(withinHours(policy, new Date('2026-11-23T08:00:00Z')).within).toBe(true); // Mon 09:00 Berlin
    expect(withinHours(policy, new Date('2026-11-23T07:59:00Z')).within).toBe(false);
    expect(withinHours(policy, new Date('2026-11-23T17:00:00Z')).within).toBe(false); // 18:00
    expect(withinHours(policy, new Date('2026-11-21T10:00:00Z')).within).toBe(false); // Saturday
    expect(withinHours(policy, new Date('2026-11-21T10:00:00Z')).local).toBe('Sat 11:00 Europe/Berlin');
  });

  it('refuses malformed policies', () => {
    expect(() => parsePolicy('apiVersion: vault-tool/v1\nkind: RestorePolicy\noperationalHours: "18:00-09:00"\n', 'p')).toThrow(/must end after they start/);
    expect(() => parsePolicy('apiVersion: vault-tool/v1\nkind: RestorePolicy\nconfirm: totp\n', 'p')).toThrow(/needs totpEntry/);
    expect(() => parsePolicy('apiVersion: vault-tool/v1\nkind: RestorePolicy\ntimezone: Mars/Base\n', 'p')).toThrow(/unknown timezone/);
  });

  it('checks TOTP codes (RFC 6238) with one step of drift, from base32 or an otpauth URI', async () => {
    const secret = new Secret({ size: 20 });
    const totp = new TOTP({ secret });
    const now = new Date('2026-11-21T10:00:00Z');
    const code = totp.generate({ timestamp: now.getTime() });
    expect(await checkTotp(Buffer.from(secret.base32), code, now)).toBe(true);
    expect(await checkTotp(Buffer.from(totp.toString()), code, now)).toBe(true);
    expect(await checkTotp(Buffer.from(secret.base32), code, new Date(now.getTime() + 30_000))).toBe(true);
    expect(await checkTotp(Buffer.from(secret.base32), code, new Date(now.getTime() + 90_000))).toBe(false);
    expect(await checkTotp(Buffer.from(secret.base32), String((Number(code) + 1) % 1e6).padStart(6, '0'), now)).toBe(false);
    expect(await checkTotp(Buffer.from(secret.base32), 'abcdef', now)).toBe(false);
  });
});

describe('rbac', () => {
  it('grants get/patch on the named Secrets and create, never list or watch', () => {
    const plan = parsePlan(
      'apiVersion: vault-tool/v1\nkind: RestorePlan\nentries:\n  - {entry: a, to: ns1/s1#K}\n  - {entry: b, to: ns1/s2#K}\n  - {entry: c, to: ns2/s3#K}\n',
      'p',
    );
    const docs = parseAllDocuments(
      rbacFor(plan, {
        purpose: 'restore',
        serviceAccount: { namespace: 'ops', name: 'restorer' },
        recreate: false,
        createNamespaces: false,
        name: 'vault-tool-restore',
      }),
    ).map((d) => d.toJS());
    expect(docs.map((d) => `${d.kind} ${d.metadata.namespace}`)).toEqual(['Role ns1', 'RoleBinding ns1', 'Role ns2', 'RoleBinding ns2']);
    expect(docs[0].rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['s1', 's2'], verbs: ['get', 'patch'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    expect(docs[1].subjects).toEqual([{ kind: 'ServiceAccount', name: 'restorer', namespace: 'ops' }]);
    const verify = parseAllDocuments(
      rbacFor(plan, { purpose: 'verify', serviceAccount: { namespace: 'ops', name: 'v' }, recreate: false, createNamespaces: false, name: 'v' }),
    ).map((d) => d.toJS());
    expect(verify[0].rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['s1', 's2'], verbs: ['get'] }]);
    expect(JSON.stringify([...docs, ...verify])).not.toMatch(/"list"|"watch"/);
  });
});

describe('masked diff', () => {
  it('is a unified diff of the given lines', () => {
    expect(unifiedDiff('a\nb\nc\n', 'a\nx\nc\n', 'L')).toBe('--- live/L\n+++ merged/L\n a\n-b\n+x\n c\n');
    expect(unifiedDiff('', 'a\n', 'L')).toBe('--- live/L\n+++ merged/L\n+a\n');
  });
});
