import { parseYaml } from '../vault/yaml.js';
import { boolean, isRecord, list, object, optional, parseShape, record, string } from '../vault/shape.js';
import { VaultError } from '../errors/errors.js';
import type { VaultDocument } from '../vault/document.js';
import { getVersion, listEntries, requireEntry } from '../vault/entries.js';
import { parseRef } from '../vault/types.js';
import {
  annotationCarriesData,
  checkNamespace,
  checkSecret,
  checkSecretKey,
  checkSecretName,
  CONTENT_HASH_ANNOTATION,
  contentHash,
  dict,
  type SecretObject,
} from './secret.js';

/**
 * A restore plan: which vault entry goes to which key of which Secret, and
 * the Secrets' type, labels and annotations (docs/FORMAT.md, "Restore plan").
 *
 *   apiVersion: vault-tool/v1
 *   kind: RestorePlan
 *   secrets:
 *     - namespace: infisical
 *       name: infisical-bootstrap-secret
 *       type: Opaque
 *       labels: { app.kubernetes.io/name: infisical }
 *       data:
 *         ENCRYPTION_KEY: infisical/encryption-key
 *   entries:                      # the same thing, one line per key
 *     - entry: infisical/auth-secret
 *       to: infisical/infisical-bootstrap-secret#AUTH_SECRET
 */
export interface PlanSecret {
  namespace: string;
  name: string;
  type: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  immutable?: boolean;
  /** Secret key → vault entry reference (NAME, NAME@VERSION, NAME#cert, NAME#key). */
  data: Record<string, string>;
}

export interface RestorePlan {
  secrets: PlanSecret[];
}

export const PLAN_API_VERSION = 'vault-tool/v1';

/** Annotations less those that can carry a Secret's data (entries imported before they were dropped on import may hold them). */
function withoutData(m: Record<string, string>): Record<string, string> {
  for (const k of Object.keys(m)) if (annotationCarriesData(k)) delete m[k];
  return m;
}

function strMap(v: unknown, where: string): Record<string, string> {
  const out = dict();
  if (v === undefined || v === null) return out;
  if (!isRecord(v)) throw new VaultError('invalid', `${where} must be a map`);
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw new VaultError('invalid', `${where}.${k} must be a string`);
    out[k] = x;
  }
  return out;
}

/** Copies own keys one by one (into a plain object, Object.assign would take a __proto__ key for the prototype). */
const merge = (into: Record<string, string>, from: Record<string, string>) => {
  for (const [k, v] of Object.entries(from)) into[k] = v;
};
const copyOf = (m: Record<string, string>) => {
  const out = dict();
  merge(out, m);
  return out;
};

/** A name the cluster would refuse, found in a file: an error of that file at that field (its path), keeping the rule as hint. */
function atField(where: string, check: () => void): void {
  try {
    check();
  } catch (e) {
    if (!(e instanceof VaultError)) throw e;
    throw new VaultError('invalid', `${where}: ${e.message}`, e.hint);
  }
}

/** Parses `namespace/secret#key`. */
export function parseTarget(s: string, where: string): { namespace: string; name: string; key: string } {
  const m = /^([^/#\s]+)\/([^/#\s]+)#([^#\s]+)$/.exec(s);
  if (!m) throw new VaultError('invalid', `${where}: target ${JSON.stringify(s)} is not namespace/secret#key`);
  atField(where, () => checkNamespace(m[1]!));
  atField(where, () => checkSecretName(m[2]!));
  checkSecretKey(m[3]!, where);
  return { namespace: m[1]!, name: m[2]!, key: m[3]! };
}

const SecretItem = object({
  namespace: string(),
  name: string(),
  type: optional(string()),
  labels: optional(record(string({ nonEmpty: false }))),
  annotations: optional(record(string({ nonEmpty: false }))),
  immutable: optional(boolean),
  data: optional(record(string())),
});
const PlanShape = object({
  apiVersion: string(),
  kind: string(),
  metadata: optional(
    object({ name: optional(string()), labels: optional(record(string({ nonEmpty: false }))), annotations: optional(record(string({ nonEmpty: false }))) }),
  ),
  secrets: optional(list(SecretItem)),
  entries: optional(list(object({ entry: string(), to: string() }))),
});

export function parsePlan(text: string, source: string): RestorePlan {
  const raw: unknown = parseYaml(text, source);
  if (!isRecord(raw)) throw new VaultError('invalid', `${source}: a restore plan is a YAML map`);
  if (raw.apiVersion !== PLAN_API_VERSION || raw.kind !== 'RestorePlan') {
    throw new VaultError('invalid', `${source}: not a restore plan (expected apiVersion: ${PLAN_API_VERSION} and kind: RestorePlan)`, {
      code: 'k8s-plan-format',
    });
  }
  // The shape first, strict at every depth (an unknown field anywhere names its path); then the rules of names and keys.
  const doc = parseShape(raw, PlanShape, source);
  const byRef = new Map<string, PlanSecret>();
  const secretOf = (namespace: string, name: string): PlanSecret => {
    const id = `${namespace}/${name}`;
    let s = byRef.get(id);
    if (!s) byRef.set(id, (s = { namespace, name, type: 'Opaque', labels: dict(), annotations: dict(), data: dict() }));
    return s;
  };
  const setKey = (s: PlanSecret, key: string, entry: string, where: string) => {
    atField(`${where}.data`, () => checkSecretKey(key, `${s.namespace}/${s.name}`));
    if (Object.hasOwn(s.data, key)) throw new VaultError('invalid', `${where}: ${s.namespace}/${s.name}#${key} is given twice`);
    checkEntryRef(entry, where);
    s.data[key] = entry;
  };
  (doc.secrets ?? []).forEach((item, i) => {
    const where = `${source}: secrets[${i}]`;
    atField(`${where}.namespace`, () => checkNamespace(item.namespace));
    atField(`${where}.name`, () => checkSecretName(item.name));
    const s = secretOf(item.namespace, item.name);
    if (item.type !== undefined) s.type = item.type;
    merge(s.labels, item.labels ?? dict());
    merge(s.annotations, item.annotations ?? dict());
    if (item.immutable !== undefined) s.immutable = item.immutable;
    for (const [k, v] of Object.entries(item.data ?? dict())) setKey(s, k, v, where);
  });
  (doc.entries ?? []).forEach((item, i) => {
    const where = `${source}: entries[${i}]`;
    const t = parseTarget(item.to, where);
    setKey(secretOf(t.namespace, t.name), t.key, item.entry, where);
  });
  const plan = { secrets: [...byRef.values()] };
  for (const s of plan.secrets) {
    if (!Object.keys(s.data).length) throw new VaultError('invalid', `${source}: Secret ${s.namespace}/${s.name} has no keys`);
    if (Object.hasOwn(s.annotations, CONTENT_HASH_ANNOTATION))
      throw new VaultError('invalid', `${source}: ${s.namespace}/${s.name}: the annotation ${CONTENT_HASH_ANNOTATION} is vault-tool's own`);
    const leaky = Object.keys(s.annotations).find(annotationCarriesData);
    if (leaky)
      throw new VaultError(
        'invalid',
        `${source}: ${s.namespace}/${s.name}: the annotation ${leaky} can hold the Secret's data in clear (kubectl writes it): remove it from the plan`,
      );
  }
  if (!plan.secrets.length) throw new VaultError('invalid', `${source}: the plan names no Secrets`);
  return plan;
}

/** NAME, NAME@VERSION, and for tls entries NAME#cert / NAME#key (one half of the PEM bundle). */
function splitEntryRef(ref: string): { name: string; version?: number; part?: 'cert' | 'key' } {
  const hash = ref.lastIndexOf('#');
  const part = hash >= 0 ? ref.slice(hash + 1) : undefined;
  if (part !== undefined && part !== 'cert' && part !== 'key')
    throw new VaultError('invalid', `entry reference ${JSON.stringify(ref)}: #${part} is not #cert or #key`);
  return { ...parseRef(hash >= 0 ? ref.slice(0, hash) : ref), ...(part ? { part } : {}) };
}

function checkEntryRef(ref: string, where: string): void {
  try {
    splitEntryRef(ref);
  } catch (e) {
    throw new VaultError('invalid', `${where}: ${(e as Error).message}`);
  }
}

function pemPart(value: Buffer, part: 'cert' | 'key', ref: string): Buffer {
  const blocks = [...value.toString('utf8').matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----\n?/g)];
  const want = blocks.filter((b) => (part === 'cert' ? b[1] === 'CERTIFICATE' : /PRIVATE KEY$/.test(b[1]!)));
  if (!want.length) throw new VaultError('invalid', `${ref}: the entry holds no ${part === 'cert' ? 'certificate' : 'private key'}`);
  return Buffer.from(want.map((b) => (b[0].endsWith('\n') ? b[0] : b[0] + '\n')).join(''));
}

/** Applies --namespace-map old:new pairs; a pair whose old namespace is not in the plan is refused (a typo would restore into the original namespace). */
export function mapNamespaces(plan: RestorePlan, pairs: Record<string, string>): RestorePlan {
  const inPlan = new Set(plan.secrets.map((s) => s.namespace));
  for (const [from, to] of Object.entries(pairs)) {
    checkNamespace(to);
    if (!inPlan.has(from)) {
      throw new VaultError(
        'usage',
        `the namespace mapping ${from}:${to} matches no namespace of the plan`,
        `the plan's namespaces: ${[...inPlan].sort().join(', ')}`,
      );
    }
  }
  return { secrets: plan.secrets.map((s) => ({ ...s, namespace: Object.hasOwn(pairs, s.namespace) ? pairs[s.namespace]! : s.namespace })) };
}

export interface DesiredSecret {
  obj: SecretObject;
  /** Secret key → the vault entry (name@version) it comes from: names only, for reports. */
  sources: Record<string, string>;
}

/**
 * The Secrets the plan asks for, with values from the vault, checked (names,
 * keys, 1 MiB) before any API call. With `hashKey`, each carries the
 * content-hash annotation a restore writes; without, they are plain manifests.
 */
export function desiredSecrets(doc: VaultDocument, plan: RestorePlan, hashKey?: Buffer): DesiredSecret[] {
  const seen = new Set<string>();
  return plan.secrets.map((s) => {
    const id = `${s.namespace}/${s.name}`;
    if (seen.has(id)) throw new VaultError('invalid', `the plan writes Secret ${id} twice (check the namespace mappings)`);
    seen.add(id);
    const data = dict();
    const sources = dict();
    for (const [key, ref] of Object.entries(s.data)) {
      const r = splitEntryRef(ref);
      const { entry, version, value } = getVersion(doc, r.name, r.version);
      if (r.part && entry.type !== 'tls') throw new VaultError('invalid', `${ref}: #${r.part} needs a tls entry, and ${entry.name} is of type ${entry.type}`);
      data[key] = (r.part ? pemPart(value, r.part, ref) : value).toString('base64');
      sources[key] = `${entry.name}@${version.version}${r.part ? `#${r.part}` : ''}`;
    }
    const annotations = dict();
    merge(annotations, s.annotations);
    if (hashKey) annotations[CONTENT_HASH_ANNOTATION] = contentHash(hashKey, s.type, data);
    const obj: SecretObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: s.name,
        namespace: s.namespace,
        ...(Object.keys(s.labels).length ? { labels: copyOf(s.labels) } : {}),
        ...(Object.keys(annotations).length ? { annotations } : {}),
      },
      type: s.type,
      ...(s.immutable !== undefined ? { immutable: s.immutable } : {}),
      data,
    };
    checkSecret(obj);
    return { obj, sources };
  });
}

interface K8sMeta {
  namespace: string;
  secret: string;
  key: string;
  type?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  immutable?: boolean;
}

export function k8sMetaOf(meta: Record<string, unknown> | undefined): K8sMeta | undefined {
  const k = meta?.k8s;
  if (!isRecord(k) || typeof k.namespace !== 'string' || typeof k.secret !== 'string' || typeof k.key !== 'string') return undefined;
  return k as unknown as K8sMeta;
}

/** A plan recreating every Secret the vault's entries were imported from (entries carrying Kubernetes origin). */
export function planFromVault(doc: VaultDocument, filter: (name: string) => boolean = () => true): RestorePlan {
  const byRef = new Map<string, PlanSecret>();
  for (const l of listEntries(doc)) {
    if (!filter(l.name)) continue;
    const e = requireEntry(doc, l.name);
    const k = k8sMetaOf(e.meta);
    if (!k) continue;
    const id = `${k.namespace}/${k.secret}`;
    let s = byRef.get(id);
    if (!s) {
      byRef.set(
        id,
        (s = {
          namespace: k.namespace,
          name: k.secret,
          type: k.type ?? 'Opaque',
          labels: strMap(k.labels, `${e.name}: meta.k8s.labels`),
          annotations: withoutData(strMap(k.annotations, `${e.name}: meta.k8s.annotations`)),
          data: dict(),
        }),
      );
      if (k.immutable) s.immutable = true;
    }
    s.data[k.key] = e.name;
  }
  return { secrets: [...byRef.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)) };
}

export function planYaml(plan: RestorePlan): string {
  // Written by hand so the order reads naturally (namespace, name, type, …, data).
  const q = (s: string) => (/^[A-Za-z0-9_./-]+$/.test(s) && !/^(true|false|null|yes|no|on|off|~|[-+]?[0-9.]+)$/i.test(s) ? s : JSON.stringify(s));
  const lines = [`apiVersion: ${PLAN_API_VERSION}`, 'kind: RestorePlan', 'secrets:'];
  for (const s of plan.secrets) {
    lines.push(`  - namespace: ${q(s.namespace)}`, `    name: ${q(s.name)}`, `    type: ${q(s.type)}`);
    const map = (label: string, m: Record<string, string>) => {
      if (!Object.keys(m).length) return;
      lines.push(`    ${label}:`);
      for (const [k, v] of Object.entries(m).sort(([a], [b]) => a.localeCompare(b))) lines.push(`      ${q(k)}: ${q(v)}`);
    };
    map('labels', s.labels);
    map('annotations', s.annotations);
    if (s.immutable !== undefined) lines.push(`    immutable: ${s.immutable}`);
    map('data', s.data);
  }
  return lines.join('\n') + '\n';
}
