// A test double of the Kubernetes core/v1 Secrets API, small and honest:
// it serves what a kube-apiserver serves for Secrets and namespaces (the
// discovery documents, create/get/list/replace/patch/delete, resourceVersion
// and its preconditions, Status objects for 401/403/404/409/422, dryRun=All,
// labelSelector, limit/continue, immutable Secrets, server-side apply with
// field managers) over HTTP or HTTPS, and records every request on the wire.
// It is used by the contract tests and by the restore benchmark; it is not
// part of vault-tool.
import { createServer as createHttp } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

const MAX_SECRET_BYTES = 1024 * 1024;
const KEY_RE = /^[-._a-zA-Z0-9]+$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A self-signed CA and a server certificate for 127.0.0.1 and localhost, made with openssl. */
export function makeTlsMaterial() {
  const dir = mkdtempSync(join(tmpdir(), 'vt-kube-tls-'));
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    run(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=vault-tool test CA',
    );
    run(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=kube-apiserver',
    );
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
    return {
      ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
      cert: readFileSync(join(dir, 'server.crt'), 'utf8'),
      key: readFileSync(join(dir, 'server.key'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

class ApiError extends Error {
  constructor(code, reason, message, details) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}

const status = (code, reason, message, details) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  ...(details ? { details } : {}),
  code,
});
const notFound = (kind, name) => new ApiError(404, 'NotFound', `${kind} "${name}" not found`, { name, kind });
const conflict = (name) =>
  new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on secrets "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, kind: 'secrets' },
  );
const invalid = (name, causes) =>
  new ApiError(422, 'Invalid', `Secret "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, {
    name,
    kind: 'Secret',
    causes: causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field })),
  });
const badRequest = (message) => new ApiError(400, 'BadRequest', message);

const clone = (o) => (o === undefined ? undefined : JSON.parse(JSON.stringify(o)));
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function b64decode(_name, key, v) {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
    throw badRequest(`Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0 (data[${key}])`);
  }
  return Buffer.from(v, 'base64');
}

/** The fields of a Secret that field managers own: type, immutable, data.K, metadata.labels.K, metadata.annotations.K. */
function fieldsOf(obj) {
  const f = new Set();
  if (obj.type !== undefined) f.add('type');
  if (obj.immutable !== undefined) f.add('immutable');
  for (const k of Object.keys(obj.data ?? {})) f.add(`data.${k}`);
  for (const k of Object.keys(obj.metadata?.labels ?? {})) f.add(`labels.${k}`);
  for (const k of Object.keys(obj.metadata?.annotations ?? {})) f.add(`annotations.${k}`);
  return f;
}

function getField(obj, f) {
  if (f === 'type') return obj.type;
  if (f === 'immutable') return obj.immutable;
  const [group, ...rest] = f.split('.');
  const k = rest.join('.');
  if (group === 'data') return obj.data?.[k];
  return obj.metadata?.[group]?.[k];
}

function setField(obj, f, v) {
  if (f === 'type' || f === 'immutable') {
    if (v === undefined) delete obj[f];
    else obj[f] = v;
    return;
  }
  const [group, ...rest] = f.split('.');
  const k = rest.join('.');
  const holder = group === 'data' ? obj : obj.metadata;
  const name = group === 'data' ? 'data' : group;
  if (v === undefined) {
    if (holder[name]) delete holder[name][k];
    if (holder[name] && !Object.keys(holder[name]).length) delete holder[name];
  } else {
    holder[name] ??= {};
    holder[name][k] = v;
  }
}

function fieldsV1(fields) {
  const out = {};
  for (const f of fields) {
    if (f === 'type' || f === 'immutable') out[`f:${f}`] = {};
    else {
      const [group, ...rest] = f.split('.');
      const k = rest.join('.');
      if (group === 'data') (out['f:data'] ??= {})[`f:${k}`] = {};
      else ((out['f:metadata'] ??= {})[`f:${group}`] ??= {})[`f:${k}`] = {};
    }
  }
  return out;
}

/** Label selectors: k=v, k==v, k!=v, k, !k, k in (a,b), k notin (a,b). */
export function parseSelector(sel) {
  const reqs = [];
  const parts = [];
  let depth = 0;
  let cur = '';
  for (const ch of sel) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() || parts.length) parts.push(cur);
  for (const raw of parts) {
    const p = raw.trim();
    let m;
    if ((m = /^([A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p))) reqs.push({ key: m[1], op: m[2], values: m[3].split(',').map((s) => s.trim()) });
    else if ((m = /^([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)$/.exec(p))) reqs.push({ key: m[1], op: m[2] === '!=' ? '!=' : '=', values: [m[3]] });
    else if ((m = /^!([A-Za-z0-9_./-]+)$/.exec(p))) reqs.push({ key: m[1], op: '!' });
    else if ((m = /^([A-Za-z0-9_./-]+)$/.exec(p))) reqs.push({ key: m[1], op: 'exists' });
    else throw badRequest(`unable to parse requirement: ${JSON.stringify(p)}`);
  }
  return (labels = {}) =>
    reqs.every((r) => {
      const has = Object.hasOwn(labels, r.key);
      const v = labels[r.key];
      switch (r.op) {
        case '=':
          return has && v === r.values[0];
        case '!=':
          return !has || v !== r.values[0];
        case 'in':
          return has && r.values.includes(v);
        case 'notin':
          return !has || !r.values.includes(v);
        case 'exists':
          return has;
        case '!':
          return !has;
      }
      return false;
    });
}

function applyJsonPatch(doc, ops) {
  if (!Array.isArray(ops)) throw badRequest('json patch must be an array of operations');
  const unescapePointer = (s) => s.replace(/~1/g, '/').replace(/~0/g, '~');
  const walk = (path) => {
    const parts = path.split('/').slice(1).map(unescapePointer);
    const last = parts.pop();
    let node = doc;
    for (const p of parts) {
      if (!isObj(node) || !(p in node))
        throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: doc is missing path: "${path}"`);
      node = node[p];
    }
    return { node, last };
  };
  for (const op of ops) {
    const { node, last } = walk(op.path);
    switch (op.op) {
      case 'add':
      case 'replace':
        if (op.op === 'replace' && !(last in node))
          throw new ApiError(
            422,
            'Invalid',
            `the server rejected our request due to an error in our request: replace operation does not apply: doc is missing key: ${op.path}`,
          );
        node[last] = clone(op.value);
        break;
      case 'remove':
        if (!(last in node))
          throw new ApiError(
            422,
            'Invalid',
            `the server rejected our request due to an error in our request: remove operation does not apply: doc is missing path: "${op.path}"`,
          );
        delete node[last];
        break;
      case 'test':
        if (JSON.stringify(node[last]) !== JSON.stringify(op.value))
          throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: testing value ${op.path} failed: test failed`);
        break;
      default:
        throw badRequest(`unsupported json patch operation ${JSON.stringify(op.op)}`);
    }
  }
  return doc;
}

function mergePatch(target, patch) {
  if (!isObj(patch)) return clone(patch);
  const out = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export class KubeApiState {
  constructor() {
    this.rv = 100;
    this.secrets = new Map();
    /** ConfigMaps: seeded by tests and listed (backups read them); no writes. */
    this.configMaps = new Map();
    this.namespaces = new Map();
  }
  nextRv() {
    return String(++this.rv);
  }
  addNamespace(name, labels) {
    if (!this.namespaces.has(name)) {
      this.namespaces.set(name, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          name,
          uid: randomUUID(),
          resourceVersion: this.nextRv(),
          creationTimestamp: new Date().toISOString(),
          ...(labels && Object.keys(labels).length ? { labels: { ...labels } } : {}),
        },
        spec: { finalizers: ['kubernetes'] },
        status: { phase: 'Active' },
      });
    }
  }
  get(ns, name) {
    return this.secrets.get(`${ns}/${name}`);
  }
  putConfigMap(obj) {
    const o = structuredClone(obj);
    o.apiVersion = 'v1';
    o.kind = 'ConfigMap';
    o.metadata.resourceVersion = String(++this.rv);
    o.metadata.uid ??= randomUUID();
    this.configMaps.set(`${o.metadata.namespace}/${o.metadata.name}`, o);
    return o;
  }

  /** Direct seeding for tests (as if another client had written it). */
  put(obj, manager = 'kubectl-create') {
    const ns = obj.metadata.namespace ?? 'default';
    this.addNamespace(ns);
    const o = clone(obj);
    o.apiVersion = 'v1';
    o.kind = 'Secret';
    o.metadata = { ...o.metadata, namespace: ns, uid: randomUUID(), resourceVersion: this.nextRv(), creationTimestamp: new Date().toISOString() };
    o.type ??= 'Opaque';
    const owners = new Map([[manager, { op: 'Update', fields: fieldsOf(o) }]]);
    o.metadata.managedFields = [
      {
        manager,
        operation: 'Update',
        apiVersion: 'v1',
        time: o.metadata.creationTimestamp,
        fieldsType: 'FieldsV1',
        fieldsV1: fieldsV1(owners.get(manager).fields),
      },
    ];
    this.secrets.set(`${ns}/${o.metadata.name}`, { obj: o, owners });
    return o;
  }
}

function validate(obj, old) {
  const name = obj.metadata?.name ?? '';
  const causes = [];
  if (!name) causes.push({ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' });
  else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name))
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'metadata.name',
      message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    });
  let size = 0;
  for (const [k, v] of Object.entries(obj.data ?? {})) {
    if (!KEY_RE.test(k) || k.length > 253)
      causes.push({
        reason: 'FieldValueInvalid',
        field: `data[${k}]`,
        message: `Invalid value: "${k}": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
      });
    size += b64decode(name, k, v).length;
  }
  if (size > MAX_SECRET_BYTES) causes.push({ reason: 'FieldValueTooLong', field: 'data', message: `Too long: may not be more than ${MAX_SECRET_BYTES} bytes` });
  if (obj.type === 'kubernetes.io/tls') {
    for (const k of ['tls.crt', 'tls.key']) if (!obj.data?.[k]) causes.push({ reason: 'FieldValueRequired', field: `data[${k}]`, message: 'Required value' });
  }
  if (obj.type === 'kubernetes.io/dockerconfigjson' && !obj.data?.['.dockerconfigjson'])
    causes.push({ reason: 'FieldValueRequired', field: 'data[.dockerconfigjson]', message: 'Required value' });
  if (old) {
    if ((old.type ?? 'Opaque') !== (obj.type ?? 'Opaque'))
      causes.push({ reason: 'FieldValueInvalid', field: 'type', message: `Invalid value: "${obj.type}": field is immutable` });
    if (old.immutable === true) {
      if (JSON.stringify(old.data ?? {}) !== JSON.stringify(obj.data ?? {}))
        causes.push({ reason: 'FieldValueForbidden', field: 'data', message: 'Forbidden: field is immutable when `immutable` is set' });
      if (obj.immutable !== true)
        causes.push({ reason: 'FieldValueForbidden', field: 'immutable', message: 'Forbidden: field is immutable when `immutable` is set' });
    }
  }
  if (causes.length) throw invalid(name, causes);
}

function stripForRead(entry) {
  return clone(entry.obj);
}

/**
 * Starts the server. Options: tls (boolean), token (bearer token the server
 * accepts), authorize(verb, namespace, name) → boolean, intercept(req) →
 * optional { code, reason, message } to inject a failure, namespaces (created
 * at start).
 */
export async function startKubeApi(opts = {}) {
  const state = opts.state ?? new KubeApiState();
  for (const ns of opts.namespaces ?? ['default']) state.addNamespace(ns);
  const token = opts.token ?? 'vault-tool-test-token';
  const requests = [];
  const tls = opts.tls ? makeTlsMaterial() : undefined;
  const user = opts.user ?? 'system:serviceaccount:ops:restorer';

  const authorize = (verb, ns, name) => {
    if (opts.authorize && !opts.authorize(verb, ns, name)) {
      const where = ns ? ` in the namespace "${ns}"` : ' at the cluster scope';
      throw new ApiError(
        403,
        'Forbidden',
        `secrets${name ? ` "${name}"` : ''} is forbidden: User "${user}" cannot ${verb} resource "secrets" in API group ""${where}`,
        { ...(name ? { name } : {}), kind: 'secrets' },
      );
    }
  };

  const owned = (entry) =>
    [...entry.owners.entries()]
      .filter(([, o]) => o.fields.size)
      .map(([manager, o]) => ({
        manager,
        operation: o.op,
        apiVersion: 'v1',
        time: new Date().toISOString(),
        fieldsType: 'FieldsV1',
        fieldsV1: fieldsV1(o.fields),
      }));

  function persist(ns, name, entry, dryRun, bump = true) {
    if (bump) entry.obj.metadata.resourceVersion = dryRun ? entry.obj.metadata.resourceVersion : state.nextRv();
    entry.obj.metadata.managedFields = owned(entry);
    if (!dryRun) state.secrets.set(`${ns}/${name}`, entry);
    return clone(entry.obj);
  }

  function create(ns, body, manager, dryRun) {
    if (!state.namespaces.has(ns)) throw notFound('namespaces', ns);
    if (!isObj(body) || (body.kind !== undefined && body.kind !== 'Secret') || (body.apiVersion !== undefined && body.apiVersion !== 'v1'))
      throw badRequest('the body of the request was in an unknown format: expected a v1 Secret');
    const obj = clone(body);
    obj.apiVersion = 'v1';
    obj.kind = 'Secret';
    obj.metadata ??= {};
    if (obj.metadata.namespace && obj.metadata.namespace !== ns)
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    if (obj.metadata.resourceVersion) throw new ApiError(400, 'BadRequest', 'resourceVersion should not be set on objects to be created');
    for (const [k, v] of Object.entries(obj.stringData ?? {})) (obj.data ??= {})[k] = Buffer.from(String(v)).toString('base64');
    delete obj.stringData;
    obj.type ??= 'Opaque';
    validate(obj);
    const name = obj.metadata.name;
    if (state.get(ns, name)) throw new ApiError(409, 'AlreadyExists', `secrets "${name}" already exists`, { name, kind: 'secrets' });
    obj.metadata = { ...obj.metadata, namespace: ns, uid: randomUUID(), creationTimestamp: new Date().toISOString() };
    delete obj.metadata.managedFields;
    const entry = { obj, owners: new Map([[manager, { op: 'Update', fields: fieldsOf(obj) }]]) };
    return persist(ns, name, entry, dryRun);
  }

  /** Replaces the object's content with `next`; managers lose fields whose value changed, and `manager` gains them. */
  function update(ns, name, entry, next, manager, op, dryRun) {
    const old = entry.obj;
    for (const [k, v] of Object.entries(next.stringData ?? {})) (next.data ??= {})[k] = Buffer.from(String(v)).toString('base64');
    delete next.stringData;
    next.type ??= old.type;
    validate(next, old);
    const after = fieldsOf(next);
    const changed = new Set([...after].filter((f) => JSON.stringify(getField(old, f)) !== JSON.stringify(getField(next, f))));
    const owners = new Map([...entry.owners].map(([m, o]) => [m, { op: o.op, fields: new Set(o.fields) }]));
    for (const [, o] of owners) for (const f of [...o.fields]) if (changed.has(f) || !after.has(f)) o.fields.delete(f);
    const mine = owners.get(manager) ?? { op, fields: new Set() };
    mine.op = op;
    for (const f of changed) mine.fields.add(f);
    owners.set(manager, mine);
    next.metadata = {
      ...next.metadata,
      namespace: ns,
      name,
      uid: old.metadata.uid,
      creationTimestamp: old.metadata.creationTimestamp,
      resourceVersion: old.metadata.resourceVersion,
    };
    next.apiVersion = 'v1';
    next.kind = 'Secret';
    const noop =
      JSON.stringify({ ...old, metadata: { ...old.metadata, managedFields: undefined } }) ===
      JSON.stringify({ ...next, metadata: { ...next.metadata, managedFields: undefined } });
    return persist(ns, name, { obj: next, owners }, dryRun, !noop);
  }

  function apply(ns, name, body, manager, force, dryRun) {
    if (!manager) throw badRequest('PATCH with an apply patch requires a fieldManager');
    if (!isObj(body) || body.apiVersion !== 'v1' || body.kind !== 'Secret') throw badRequest('apply patches must set apiVersion: v1 and kind: Secret');
    if (body.metadata?.name !== name) throw badRequest(`the name of the object (${body.metadata?.name}) does not match the name on the URL (${name})`);
    if (body.metadata?.namespace && body.metadata.namespace !== ns)
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    const config = clone(body);
    for (const [k, v] of Object.entries(config.stringData ?? {})) (config.data ??= {})[k] = Buffer.from(String(v)).toString('base64');
    delete config.stringData;
    const want = fieldsOf(config);
    const entry = state.get(ns, name);
    if (!entry) {
      authorize('create', ns, name);
      if (!state.namespaces.has(ns)) throw notFound('namespaces', ns);
      if (config.metadata.resourceVersion) throw conflict(name);
      const obj = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name,
          namespace: ns,
          ...(config.metadata.labels ? { labels: config.metadata.labels } : {}),
          ...(config.metadata.annotations ? { annotations: config.metadata.annotations } : {}),
        },
        ...(config.data ? { data: config.data } : {}),
        type: config.type ?? 'Opaque',
        ...(config.immutable !== undefined ? { immutable: config.immutable } : {}),
      };
      validate(obj);
      obj.metadata.uid = randomUUID();
      obj.metadata.creationTimestamp = new Date().toISOString();
      return { created: true, obj: persist(ns, name, { obj, owners: new Map([[manager, { op: 'Apply', fields: want }]]) }, dryRun) };
    }
    if (config.metadata.resourceVersion && config.metadata.resourceVersion !== entry.obj.metadata.resourceVersion) throw conflict(name);
    const conflicts = [];
    for (const f of want) {
      const same = JSON.stringify(getField(entry.obj, f)) === JSON.stringify(getField(config, f));
      if (same) continue;
      for (const [m, o] of entry.owners) if (m !== manager && o.fields.has(f)) conflicts.push({ m, f });
    }
    if (conflicts.length && !force) {
      const path = (f) =>
        f.startsWith('data.') ? `.data.${f.slice(5)}` : f.startsWith('labels.') || f.startsWith('annotations.') ? `.metadata.${f}` : `.${f}`;
      throw new ApiError(
        409,
        'Conflict',
        `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? 's' : ''}: ${conflicts.map((c) => `conflict with "${c.m}" using v1: ${path(c.f)}`).join('\n')}`,
        {
          name,
          kind: 'secrets',
          causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.m}" using v1`, field: path(c.f) })),
        },
      );
    }
    const next = clone(entry.obj);
    const previous = entry.owners.get(manager)?.op === 'Apply' ? entry.owners.get(manager).fields : new Set();
    for (const f of previous) {
      const sharedWithOthers = [...entry.owners].some(([m, o]) => m !== manager && o.fields.has(f));
      if (!want.has(f) && !sharedWithOthers) setField(next, f, undefined);
    }
    for (const f of want) setField(next, f, getField(config, f));
    validate(next, entry.obj);
    const owners = new Map([...entry.owners].map(([m, o]) => [m, { op: o.op, fields: new Set(o.fields) }]));
    for (const [m, o] of owners)
      if (m !== manager) for (const f of want) if (JSON.stringify(getField(entry.obj, f)) !== JSON.stringify(getField(config, f))) o.fields.delete(f);
    owners.set(manager, { op: 'Apply', fields: want });
    const noop =
      JSON.stringify(next) === JSON.stringify(entry.obj) &&
      JSON.stringify([...(entry.owners.get(manager)?.fields ?? [])].sort()) === JSON.stringify([...want].sort());
    return { created: false, obj: persist(ns, name, { obj: next, owners }, dryRun, !noop) };
  }

  function list(ns, query) {
    authorize('list', ns, undefined);
    if (ns && !state.namespaces.has(ns)) return { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: String(state.rv) }, items: [] };
    const match = query.get('labelSelector') ? parseSelector(query.get('labelSelector')) : () => true;
    let all = [...state.secrets.entries()].filter(([k]) => !ns || k.startsWith(`${ns}/`)).sort(([a], [b]) => (a < b ? -1 : 1));
    let start = 0;
    const cont = query.get('continue');
    if (cont) {
      let token;
      try {
        token = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8'));
      } catch {
        throw badRequest('continue key is not valid: illegal base64 data');
      }
      start = all.findIndex(([k]) => k > token.after);
      if (start < 0) start = all.length;
    }
    all = all.slice(start).filter(([, e]) => match(e.obj.metadata.labels));
    const limit = Number(query.get('limit') ?? 0);
    const page = limit > 0 ? all.slice(0, limit) : all;
    const more = limit > 0 && all.length > limit;
    const items = page.map(([, e]) => {
      const o = stripForRead(e);
      delete o.apiVersion;
      delete o.kind;
      return o;
    });
    const metadata = { resourceVersion: String(state.rv) };
    if (more) {
      metadata.continue = Buffer.from(JSON.stringify({ after: page[page.length - 1][0], rv: state.rv })).toString('base64url');
      metadata.remainingItemCount = all.length - limit;
    }
    return { kind: 'SecretList', apiVersion: 'v1', metadata, items };
  }

  async function handle(req, body) {
    const url = new URL(req.url, 'http://x');
    const q = url.searchParams;
    const path = url.pathname.replace(/\/+$/, '');
    const dryRunParam = q.getAll('dryRun');
    if (dryRunParam.some((d) => d !== 'All')) throw badRequest(`Invalid dryRun value: ${dryRunParam.join(',')}; only All is supported`);
    const dryRun = dryRunParam.includes('All');
    const manager = q.get('fieldManager') ?? (req.headers['user-agent'] ?? 'unknown').split('/')[0];

    if (req.method === 'GET' && path === '/api')
      return [200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host }] }];
    if (req.method === 'GET' && path === '/apis') return [200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] }];
    if (req.method === 'GET' && path === '/version') return [200, { major: '1', minor: '31', gitVersion: 'v1.31.0', platform: 'linux/amd64' }];
    if (req.method === 'GET' && path === '/api/v1') {
      return [
        200,
        {
          kind: 'APIResourceList',
          groupVersion: 'v1',
          resources: [
            {
              name: 'namespaces',
              singularName: 'namespace',
              namespaced: false,
              kind: 'Namespace',
              verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
              shortNames: ['ns'],
            },
            {
              name: 'secrets',
              singularName: 'secret',
              namespaced: true,
              kind: 'Secret',
              verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
            },
          ],
        },
      ];
    }
    if (path === '/api/v1/namespaces') {
      if (req.method === 'GET')
        return [200, { kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: String(state.rv) }, items: [...state.namespaces.values()] }];
      if (req.method === 'POST') {
        const name = body?.metadata?.name;
        if (!name || !DNS1123_LABEL.test(name) || name.length > 63)
          throw new ApiError(
            422,
            'Invalid',
            `Namespace "${name}" is invalid: metadata.name: Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'`,
            { name, kind: 'Namespace' },
          );
        if (state.namespaces.has(name)) throw new ApiError(409, 'AlreadyExists', `namespaces "${name}" already exists`, { name, kind: 'namespaces' });
        if (!dryRun) state.addNamespace(name, body?.metadata?.labels);
        return [201, state.namespaces.get(name) ?? { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }];
      }
    }
    let m;
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path)) && req.method === 'GET') {
      const ns = decodeURIComponent(m[1]);
      if (!state.namespaces.has(ns)) throw notFound('namespaces', ns);
      return [200, state.namespaces.get(ns)];
    }
    // Deleting a namespace deletes what it holds (at once: no finalizers here); a uid precondition is honoured as the API server does.
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path)) && req.method === 'DELETE') {
      const ns = decodeURIComponent(m[1]);
      const entry = state.namespaces.get(ns);
      if (!entry) throw notFound('namespaces', ns);
      const pre = body?.preconditions ?? {};
      if (pre.uid && pre.uid !== entry.metadata.uid)
        throw new ApiError(
          409,
          'Conflict',
          `Operation cannot be fulfilled on namespaces "${ns}": Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${entry.metadata.uid}`,
          { name: ns, kind: 'namespaces' },
        );
      if (!dryRun) {
        state.namespaces.delete(ns);
        for (const k of [...state.secrets.keys()]) if (k.startsWith(`${ns}/`)) state.secrets.delete(k);
      }
      return [200, { ...entry, status: { phase: 'Terminating' } }];
    }
    if (path === '/api/v1/secrets' && req.method === 'GET') return [200, list(undefined, q)];
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps$/.exec(path)) && req.method === 'GET') {
      const ns = decodeURIComponent(m[1]);
      authorize('list', ns, undefined);
      const all = [...state.configMaps.entries()].filter(([k]) => k.startsWith(`${ns}/`)).sort(([a], [b]) => (a < b ? -1 : 1));
      const start = q.get('continue') ? Number(Buffer.from(q.get('continue'), 'base64url').toString('utf8')) : 0;
      const limit = Number(q.get('limit') ?? 0) || all.length;
      const page = all.slice(start, start + limit).map(([, o]) => {
        const x = structuredClone(o);
        delete x.apiVersion;
        delete x.kind;
        return x;
      });
      const metadata = {
        resourceVersion: String(state.rv),
        ...(start + limit < all.length ? { continue: Buffer.from(String(start + limit)).toString('base64url') } : {}),
      };
      return [200, { kind: 'ConfigMapList', apiVersion: 'v1', metadata, items: page }];
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets$/.exec(path))) {
      const ns = decodeURIComponent(m[1]);
      if (req.method === 'GET') return [200, list(ns, q)];
      if (req.method === 'POST') {
        authorize('create', ns, body?.metadata?.name);
        return [201, create(ns, body, manager, dryRun)];
      }
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(path))) {
      const ns = decodeURIComponent(m[1]);
      const name = decodeURIComponent(m[2]);
      const entry = state.get(ns, name);
      switch (req.method) {
        case 'GET':
          authorize('get', ns, name);
          if (!entry) throw notFound('secrets', name);
          return [200, stripForRead(entry)];
        case 'PUT': {
          authorize('update', ns, name);
          if (!entry) throw notFound('secrets', name);
          if (body?.metadata?.name !== name) throw badRequest(`the name of the object (${body?.metadata?.name}) does not match the name on the URL (${name})`);
          const rv = body.metadata.resourceVersion;
          if (rv && rv !== entry.obj.metadata.resourceVersion) throw conflict(name);
          return [200, update(ns, name, entry, clone(body), manager, 'Update', dryRun)];
        }
        case 'PATCH': {
          authorize('patch', ns, name);
          const ct = (req.headers['content-type'] ?? '').split(';')[0].trim();
          if (ct === 'application/apply-patch+yaml') {
            const force = q.get('force') === 'true';
            const r = apply(ns, name, body, q.get('fieldManager'), force, dryRun);
            return [r.created ? 201 : 200, r.obj];
          }
          if (!entry) throw notFound('secrets', name);
          let next;
          if (ct === 'application/json-patch+json') next = applyJsonPatch(clone(entry.obj), body);
          else if (ct === 'application/merge-patch+json' || ct === 'application/strategic-merge-patch+json') {
            if (!isObj(body)) throw badRequest('merge patch must be a JSON object');
            next = mergePatch(clone(entry.obj), body);
          } else
            throw new ApiError(
              415,
              'UnsupportedMediaType',
              `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
            );
          const rv = next.metadata?.resourceVersion;
          if (rv && rv !== entry.obj.metadata.resourceVersion) throw conflict(name);
          return [200, update(ns, name, entry, next, manager, 'Update', dryRun)];
        }
        case 'DELETE': {
          authorize('delete', ns, name);
          if (!entry) throw notFound('secrets', name);
          const pre = body?.preconditions ?? {};
          if (pre.uid && pre.uid !== entry.obj.metadata.uid)
            throw new ApiError(
              409,
              'Conflict',
              `Operation cannot be fulfilled on secrets "${name}": Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${entry.obj.metadata.uid}`,
              { name, kind: 'secrets' },
            );
          if (pre.resourceVersion && pre.resourceVersion !== entry.obj.metadata.resourceVersion)
            throw new ApiError(
              409,
              'Conflict',
              `Operation cannot be fulfilled on secrets "${name}": Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${entry.obj.metadata.resourceVersion}`,
              { name, kind: 'secrets' },
            );
          if (!dryRun) state.secrets.delete(`${ns}/${name}`);
          return [200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: 'secrets', uid: entry.obj.metadata.uid } }];
        }
      }
    }
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }

  const listener = async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString('utf8');
    const record = {
      method: req.method,
      path: req.url.split('?')[0],
      query: Object.fromEntries(new URL(req.url, 'http://x').searchParams),
      contentType: req.headers['content-type'],
      userAgent: req.headers['user-agent'],
      body: undefined,
      status: 0,
    };
    requests.push(record);
    let code;
    let payload;
    try {
      if (req.headers.authorization !== `Bearer ${token}`) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      let body;
      if (raw.length) {
        try {
          body = (record.contentType ?? '').includes('yaml') ? parseYaml(raw) : JSON.parse(raw);
        } catch {
          throw badRequest('the body of the request was in an unknown format');
        }
      }
      record.body = body;
      const injected = opts.intercept?.(record);
      if (injected) throw new ApiError(injected.code, injected.reason, injected.message);
      [code, payload] = await handle(req, body);
    } catch (e) {
      if (!(e instanceof ApiError)) {
        code = 500;
        payload = status(500, 'InternalError', `Internal error occurred: ${e.message}`);
      } else {
        code = e.code;
        payload = status(e.code, e.reason, e.message, e.details);
      }
    }
    record.status = code;
    const text = JSON.stringify(payload);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = tls ? createHttps({ cert: tls.cert, key: tls.key }, listener) : createHttp(listener);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    url,
    ca: tls?.ca,
    token,
    state,
    requests,
    /** A kubeconfig for this server: YAML text. */
    kubeconfig({ context = 'test', cluster = 'test-cluster', user = 'test-user', namespace, withToken = true } = {}) {
      // Plain HTTP needs insecure-skip-tls-verify: the client refuses http:// otherwise.
      const clusterEntry = {
        server: url,
        ...(tls ? { 'certificate-authority-data': Buffer.from(tls.ca).toString('base64') } : { 'insecure-skip-tls-verify': true }),
      };
      return [
        'apiVersion: v1',
        'kind: Config',
        `current-context: ${context}`,
        'clusters:',
        `- name: ${cluster}`,
        '  cluster:',
        ...Object.entries(clusterEntry).map(([k, v]) => `    ${k}: ${v}`),
        'contexts:',
        `- name: ${context}`,
        '  context:',
        `    cluster: ${cluster}`,
        `    user: ${user}`,
        ...(namespace ? [`    namespace: ${namespace}`] : []),
        'users:',
        `- name: ${user}`,
        '  user:',
        `    token: ${withToken ? token : 'wrong-token'}`,
        '',
      ].join('\n');
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}
