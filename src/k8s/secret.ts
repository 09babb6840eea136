import { createHmac } from 'node:crypto';
import { parseAllDocuments, stringify } from 'yaml';
import { VaultError } from '../errors/errors.js';
import { isRecord } from '../vault/shape.js';

/** The parts of a core/v1 Secret vault-tool reads and writes. */
export interface SecretObject {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
    [k: string]: unknown;
  };
  type?: string;
  immutable?: boolean;
  /** base64 of each value. */
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** The Kubernetes limit on a Secret's total data size. */
export const MAX_SECRET_BYTES = 1024 * 1024;
/** The annotation that records what vault-tool last wrote (a keyed hash; reveals nothing about the values). */
export const CONTENT_HASH_ANNOTATION = 'vault-tool/content-hash';
export const FIELD_MANAGER = 'vault-tool';

const KEY_RE = /^[-._a-zA-Z0-9]+$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Annotations whose value can hold a Secret's data: kubectl's
 * last-applied-configuration (the whole manifest, `data` in base64 and
 * `stringData` in plain text), any other tool's copy of it, and
 * vault-tool's content hash. Never printed, whichever side of a diff.
 */
export function annotationCarriesData(key: string): boolean {
  return key === LAST_APPLIED || /(^|[/.-])last-applied(-configuration)?$/i.test(key) || key === CONTENT_HASH_ANNOTATION;
}

/** Secret types skipped on import unless asked: they are minted by the cluster or by Helm, not kept keys. */
export const SKIPPED_TYPES = ['kubernetes.io/service-account-token', 'helm.sh/release.v1'];

export function checkSecretName(name: string): void {
  if (!name || name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    throw new VaultError(
      'usage',
      `invalid Secret name ${JSON.stringify(name)}`,
      'Secret names are lowercase letters, digits, - and . (an RFC 1123 subdomain, at most 253 characters)',
    );
  }
}

export function checkNamespace(ns: string): void {
  if (!ns || ns.length > 63 || !DNS1123_LABEL.test(ns)) {
    throw new VaultError(
      'usage',
      `invalid namespace ${JSON.stringify(ns)}`,
      'namespaces are lowercase letters, digits and - (an RFC 1123 label, at most 63 characters)',
    );
  }
}

export function checkSecretKey(key: string, where: string): void {
  if (!key || key.length > 253 || !KEY_RE.test(key)) {
    throw new VaultError(
      'usage',
      `invalid Secret key ${JSON.stringify(key)} in ${where}`,
      "Secret keys are letters, digits, '-', '_' and '.' (at most 253 characters)",
    );
  }
}

/** Key names, the name and the 1 MiB limit: checked before any API call. */
export function checkSecret(s: SecretObject): void {
  const where = `${s.metadata.namespace ?? '(no namespace)'}/${s.metadata.name}`;
  checkSecretName(s.metadata.name);
  if (s.metadata.namespace !== undefined) checkNamespace(s.metadata.namespace);
  let size = 0;
  for (const [k, v] of Object.entries(s.data ?? {})) {
    checkSecretKey(k, where);
    size += Buffer.from(v, 'base64').length;
  }
  if (size > MAX_SECRET_BYTES)
    throw new VaultError(
      'invalid',
      `Secret ${where} would hold ${size} bytes, over the Kubernetes limit of ${MAX_SECRET_BYTES} bytes (1 MiB)`,
      'split its keys over several Secrets in the plan',
    );
  if (s.type === 'kubernetes.io/tls') {
    for (const k of ['tls.crt', 'tls.key'])
      if (!s.data?.[k]) throw new VaultError('invalid', `Secret ${where} is of type kubernetes.io/tls but has no ${k} key`);
  }
  if (s.type === 'kubernetes.io/dockerconfigjson' && !s.data?.['.dockerconfigjson'])
    throw new VaultError('invalid', `Secret ${where} is of type kubernetes.io/dockerconfigjson but has no .dockerconfigjson key`);
}

/**
 * Before a Secret goes through @kubernetes/client-node: its (de)serializer
 * copies maps key by key into plain objects, so a key, label or annotation
 * named __proto__ would vanish without a word. Refused instead.
 */
export function checkClientSafe(s: SecretObject): void {
  const where = `${s.metadata.namespace ?? '(no namespace)'}/${s.metadata.name}`;
  for (const [what, m] of [
    ['key', s.data],
    ['label', s.metadata.labels],
    ['annotation', s.metadata.annotations],
  ] as const) {
    if (m && Object.hasOwn(m, '__proto__')) {
      throw new VaultError(
        'invalid',
        `Secret ${where} has a ${what} named __proto__, which the Kubernetes client library drops without a word`,
        `rename the ${what} (plain manifests keep it, for kubectl); vault-tool refuses rather than lose it`,
      );
    }
  }
}

/** A map whose keys come from input: null prototype, so a key such as __proto__ is an ordinary key. */
export const dict = <T = string>(): Record<string, T> => Object.create(null) as Record<string, T>;

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) throw new VaultError('invalid', `${what} must be a map`);
  const out = dict();
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw new VaultError('invalid', `${what}.${k} must be a string`);
    out[k] = x;
  }
  return out;
}

const STD_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A Secret as it would be recreated: only name, namespace, labels,
 * annotations (less those that can carry data: annotationCarriesData), type, immutable and data are
 * copied, so server-set fields (uid, resourceVersion, managedFields,
 * ownerReferences…) never are; stringData folded into data (stringData wins, as the
 * API server does), data checked as base64.
 */
export function cleanSecret(raw: unknown, where: string): SecretObject {
  if (!isRecord(raw)) throw new VaultError('invalid', `${where}: not an object`);
  if (raw.kind !== undefined && raw.kind !== 'Secret') throw new VaultError('invalid', `${where}: kind ${String(raw.kind)} is not a Secret`);
  if (raw.apiVersion !== undefined && raw.apiVersion !== 'v1') throw new VaultError('invalid', `${where}: apiVersion ${String(raw.apiVersion)} is not v1`);
  const meta = raw.metadata;
  if (!isRecord(meta) || typeof meta.name !== 'string') throw new VaultError('invalid', `${where}: the Secret has no metadata.name`);
  const out: SecretObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: meta.name } };
  if (typeof meta.namespace === 'string') out.metadata.namespace = meta.namespace;
  const labels = stringMap(meta.labels, `${where}: metadata.labels`);
  if (labels && Object.keys(labels).length) out.metadata.labels = labels;
  const annotations = stringMap(meta.annotations, `${where}: metadata.annotations`);
  if (annotations) {
    for (const k of Object.keys(annotations)) if (annotationCarriesData(k)) delete annotations[k];
    if (Object.keys(annotations).length) out.metadata.annotations = annotations;
  }
  out.type = typeof raw.type === 'string' && raw.type ? raw.type : 'Opaque';
  if (raw.immutable === true) out.immutable = true;
  // Names and keys are checked here, with the Kubernetes rule they break: a bad one would make every plan built from them unusable.
  asInvalid(where, () => {
    checkSecretName(out.metadata.name);
    if (out.metadata.namespace !== undefined) checkNamespace(out.metadata.namespace);
  });
  const data = dict();
  for (const [k, v] of Object.entries(stringMap(raw.data, `${where}: data`) ?? {})) {
    if (!STD_B64.test(v)) throw new VaultError('invalid', `${where}: data.${k} is not valid base64`);
    data[k] = v;
  }
  for (const [k, v] of Object.entries(stringMap(raw.stringData, `${where}: stringData`) ?? {})) data[k] = Buffer.from(v, 'utf8').toString('base64');
  asInvalid(where, () => Object.keys(data).forEach((k) => checkSecretKey(k, `${out.metadata.namespace ?? '(no namespace)'}/${out.metadata.name}`)));
  if (Object.keys(data).length) out.data = data;
  return out;
}

function asInvalid(where: string, f: () => void): void {
  try {
    f();
  } catch (e) {
    const err = e as VaultError;
    throw new VaultError('invalid', `${where}: ${err.message}`, err.hint);
  }
}

/**
 * Reads Secret manifests: several YAML documents, `List` objects (as
 * `kubectl get -o yaml` prints them), single Secrets. Other kinds are
 * reported, not silently dropped.
 */
export function parseSecretManifests(text: string, source: string): { secrets: SecretObject[]; ignored: string[] } {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const secrets: SecretObject[] = [];
  const ignored: string[] = [];
  (Array.isArray(docs) ? docs : [docs]).forEach((d, i) => {
    if (d.errors.length) throw new VaultError('invalid', `${source}: YAML document ${i + 1}: ${d.errors[0]!.message.split('\n')[0]}`);
    let v: unknown;
    try {
      v = d.toJS({ maxAliasCount: 100 });
    } catch (e) {
      // An alias bomb ("billion laughs") or another document the YAML library refuses to expand.
      throw new VaultError('invalid', `${source}: YAML document ${i + 1}: ${(e as Error).message.split('\n')[0]}`);
    }
    if (v === null || v === undefined) return;
    const visit = (o: unknown, where: string) => {
      if (!isRecord(o)) throw new VaultError('invalid', `${where}: not a Kubernetes object`);
      if (o.kind === 'List' || (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items))) {
        const items = o.items;
        if (!Array.isArray(items)) throw new VaultError('invalid', `${where}: List without items`);
        items.forEach((it, j) =>
          visit(isRecord(it) && it.kind === undefined && o.kind === 'SecretList' ? { ...it, kind: 'Secret' } : it, `${where} item ${j + 1}`),
        );
        return;
      }
      if (o.kind !== 'Secret') {
        ignored.push(`${where}: ${String(o.kind ?? 'unknown kind')} ${isRecord(o.metadata) ? String(o.metadata.name ?? '') : ''}`.trim());
        return;
      }
      secrets.push(cleanSecret(o, where));
    };
    visit(v, `${source} document ${i + 1}`);
  });
  return { secrets, ignored };
}

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (!isRecord(v)) return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, sortDeep(v[k])]),
  );
}

/** YAML as kubectl prints it: keys sorted, one line per value, no folding. */
export function toYaml(obj: unknown): string {
  return stringify(sortDeep(obj), { lineWidth: 0, minContentWidth: 0, indentSeq: false, defaultStringType: 'PLAIN', defaultKeyType: 'PLAIN' });
}

export function manifestsYaml(secrets: SecretObject[]): string {
  return secrets.map((s) => toYaml(s)).join('---\n');
}

/**
 * The keyed content hash vault-tool writes into CONTENT_HASH_ANNOTATION and
 * compares with: HMAC-SHA-256 over the Secret's type and its data (keys
 * sorted), keyed by a key derived from the vault's fingerprint key.
 */
export function contentHash(hashKey: Buffer, type: string | undefined, data: Record<string, string> | undefined, onlyKeys?: Iterable<string>): string {
  const keys = onlyKeys ? [...new Set(onlyKeys)].filter((k) => data && Object.hasOwn(data, k)) : Object.keys(data ?? {});
  const canonical = JSON.stringify({ type: type ?? 'Opaque', data: keys.sort().map((k) => [k, data![k]]) });
  return 'v1:' + createHmac('sha256', hashKey).update(canonical).digest('hex').slice(0, 32);
}

/** The content-hash key, derived from the vault's fingerprint key. */
export function contentHashKey(fingerprintKey: string): Buffer {
  return createHmac('sha256', Buffer.from(fingerprintKey, 'base64')).update('vault-tool k8s content hash v1').digest();
}
