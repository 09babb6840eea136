import { VaultError, type ErrorDetail } from '../errors/errors.js';
import type { ResolvedKubeconfig } from './kubeconfig.js';
import { FIELD_MANAGER, type SecretObject } from './secret.js';

/** An API error, with the HTTP status and the Status reason when the server sent one. */
export class ClusterError extends VaultError {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string, detail?: string | ErrorDetail) {
    super('cluster', message, detail);
    this.status = status;
    this.reason = reason;
  }
}

/** The cluster as the k8s commands see it: Secrets and namespaces, nothing else. */
export interface SecretsPort {
  readonly target: { context: string; server: string; namespace: string };
  getSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  listSecrets(namespace: string | undefined, labelSelector?: string): Promise<SecretObject[]>;
  /** The Secrets of a namespace a page (at most `limit`) at a time: a reader that handles each page holds no more than one. */
  secretPages(namespace: string, limit: number): AsyncIterable<SecretObject[]>;
  /** Server-side apply with field manager vault-tool. */
  applySecret(obj: SecretObject, opts: { force: boolean; dryRun: boolean }): Promise<SecretObject>;
  deleteSecret(namespace: string, name: string, preconditions: { uid?: string; resourceVersion?: string }, dryRun: boolean): Promise<void>;
  /**
   * Creates `obj` with a plain create (POST, field manager vault-tool): the
   * request a recreate sends after its delete, the very one checkCreate
   * tries first.
   */
  createSecret(obj: SecretObject): Promise<SecretObject>;
  /**
   * Whether createSecret(obj) would be allowed (authorization, admission,
   * validation), asked of the server with the same request as a dry run: it
   * answers AlreadyExists once everything else passed. Throws the refusal.
   */
  checkCreate(obj: SecretObject): Promise<void>;
  /** ConfigMaps of a namespace, as plain objects (backups keep them beside the Secrets). */
  listConfigMaps(namespace: string): Promise<Record<string, unknown>[]>;
  /** The same, a page (at most `limit`) at a time. */
  configMapPages(namespace: string, limit: number): AsyncIterable<Record<string, unknown>[]>;
  namespaceExists(namespace: string): Promise<boolean>;
  /** Creates a namespace (with labels, when given); its uid (empty for a dry run). */
  createNamespace(namespace: string, dryRun: boolean, labels?: Record<string, string>): Promise<string>;
  /** A namespace's uid and labels, or undefined when it does not exist. */
  getNamespace(namespace: string): Promise<{ uid: string; labels: Record<string, string> } | undefined>;
  /** Deletes a namespace (and what it holds), only if its uid is still `uid`. */
  deleteNamespace(namespace: string, preconditions: { uid: string }): Promise<void>;
}

/** Turns whatever the client threw into one ClusterError line (never carrying a request body). */
export function toClusterError(e: unknown, what: string, target: { context: string; server: string }): VaultError {
  if (e instanceof VaultError) return e;
  const err = e as { code?: unknown; body?: unknown; message?: string; cause?: { code?: string }; errno?: string; type?: string };
  if (typeof err?.code === 'number' && err.code >= 100) {
    let status: { message?: string; reason?: string } = {};
    try {
      status = typeof err.body === 'string' ? (JSON.parse(err.body) as typeof status) : ((err.body ?? {}) as typeof status);
    } catch {
      status = { message: String(err.body).slice(0, 200) };
    }
    const code = err.code;
    const msg = status.message ?? `HTTP ${code}`;
    const reason = status.reason ?? String(code);
    const hint: ErrorDetail | undefined =
      code === 401
        ? { hint: `the cluster refused the credentials of context ${target.context}; refresh the token or client certificate in the kubeconfig` }
        : code === 403
          ? { code: 'k8s-forbidden' }
          : code === 409 && reason === 'Conflict'
            ? { code: 'k8s-conflict', hint: 'the Secret changed in the cluster meanwhile; run again to re-read it' }
            : undefined;
    return new ClusterError(code, reason, `${what}: ${msg} (HTTP ${code} ${reason})`, hint);
  }
  const sys = (typeof err?.code === 'string' ? err.code : undefined) ?? err?.errno ?? err?.cause?.code;
  const text = err?.message ?? String(e);
  if (
    sys === 'ECONNREFUSED' ||
    sys === 'ENOTFOUND' ||
    sys === 'EHOSTUNREACH' ||
    sys === 'ETIMEDOUT' ||
    sys === 'ECONNRESET' ||
    sys === 'EAI_AGAIN' ||
    err?.type === 'request-timeout'
  ) {
    return new ClusterError(0, sys ?? 'unreachable', `${what}: cannot reach the cluster at ${target.server} (context ${target.context}): ${sys}`, {
      code: 'k8s-unreachable',
    });
  }
  if (/certificate|self[- ]signed|CERT_|SSL|TLS/i.test(text) || (sys ?? '').startsWith('ERR_TLS') || /CERT|SELF_SIGNED|UNABLE_TO/.test(sys ?? '')) {
    return new ClusterError(
      0,
      'tls',
      `${what}: TLS verification of ${target.server} failed: ${sys ?? text.replace(/^.*reason: /, '')}`,
      'check certificate-authority(-data) for this cluster in the kubeconfig',
    );
  }
  return new ClusterError(0, 'error', `${what}: ${text.replace(/request to \S+ failed, reason: /, '')}`);
}

/**
 * One request, bounded: past `ms` (0: never) it is aborted, not just given
 * up on (a request left waiting would hold the connection, and the process,
 * open), as it is when `stop` fires (the caller gave up).
 */
async function bounded<T>(
  f: (signal: AbortSignal) => Promise<T>,
  ms: number,
  stop: AbortSignal | undefined,
  what: string,
  target: { context: string; server: string },
): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let late: ClusterError | undefined;
  const give = () => ac.abort(stop?.reason);
  if (stop?.aborted) give();
  stop?.addEventListener('abort', give, { once: true });
  const t = new Promise<never>((_, rej) => {
    if (!ms) return;
    timer = setTimeout(() => {
      late = new ClusterError(0, 'timeout', `${what}: no answer from ${target.server} (context ${target.context}) within ${ms / 1000} s`, {
        code: 'k8s-timeout',
      });
      rej(late);
      ac.abort(late);
    }, ms);
    timer.unref?.();
  });
  t.catch(() => undefined);
  try {
    return await Promise.race([f(ac.signal), t]);
  } catch (e) {
    // Aborted for being late, or because the caller gave up: that is the reason, not the abort itself.
    if (late) throw late;
    if (stop?.aborted) throw stop.reason;
    throw e;
  } finally {
    clearTimeout(timer);
    stop?.removeEventListener('abort', give);
  }
}

/** Request options that tie a request to `signal`: the client's middleware (its own Observable type) sets it on the request. */
function abortable(k8s: typeof import('@kubernetes/client-node'), signal: AbortSignal): never {
  const pre = (ctx: { setSignal(s: AbortSignal): void }) => {
    ctx.setSignal(signal);
    return new k8s.Observable(Promise.resolve(ctx));
  };
  const post = <R>(r: R) => new k8s.Observable(Promise.resolve(r));
  return { middleware: [{ pre, post }], middlewareMergeStrategy: 'append' } as never;
}

function asSecret(o: unknown, namespace?: string): SecretObject {
  const s = o as SecretObject;
  return { ...s, apiVersion: 'v1', kind: 'Secret', metadata: { ...s.metadata, namespace: s.metadata?.namespace ?? namespace } as SecretObject['metadata'] };
}

/** Connects lazily: @kubernetes/client-node is loaded here and nowhere else. */
export async function connect(cfg: ResolvedKubeconfig, opts: { requestTimeoutMs?: number; signal?: AbortSignal } = {}): Promise<SecretsPort> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromString(cfg.yaml);
  } catch (e) {
    throw new VaultError('invalid', `the kubeconfig for context ${cfg.context} is not usable: ${(e as Error).message}`);
  }
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const target = { context: cfg.context, server: cfg.server, namespace: cfg.namespace };
  const timeout = opts.requestTimeoutMs ?? 30_000;
  // Every request is aborted once it is late, or once the caller gives up (opts.signal): none is left holding the process open.
  const call = async <T>(what: string, f: (o: never) => Promise<T>): Promise<T> => {
    try {
      return await bounded((signal) => f(abortable(k8s, signal)), timeout, opts.signal, what, target);
    } catch (e) {
      if (opts.signal?.aborted && e === opts.signal.reason) throw e;
      throw toClusterError(e, what, target);
    }
  };
  const is404 = (e: unknown) => e instanceof ClusterError && e.status === 404;
  const dry = (d: boolean) => (d ? 'All' : undefined);
  /** One create request, for real or as a dry run: a recreate checks with exactly the request it then sends. */
  const create = async (obj: SecretObject, dryRun: boolean): Promise<SecretObject> => {
    const ns = obj.metadata.namespace!;
    const { resourceVersion: _rv, uid: _uid, ...metadata } = obj.metadata;
    const r = await call(`create secret ${ns}/${obj.metadata.name}`, (o) =>
      api.createNamespacedSecret({ namespace: ns, body: { ...obj, metadata }, fieldManager: FIELD_MANAGER, dryRun: dry(dryRun) }, o),
    );
    return asSecret(r, ns);
  };
  async function* secretPages(namespace: string | undefined, limit: number, labelSelector?: string): AsyncGenerator<SecretObject[]> {
    let cont: string | undefined;
    do {
      const what = `list secrets${namespace ? ` in ${namespace}` : ' in all namespaces'}`;
      const page = await call(what, (o) =>
        namespace
          ? api.listNamespacedSecret({ namespace, labelSelector, limit, _continue: cont }, o)
          : api.listSecretForAllNamespaces({ labelSelector, limit, _continue: cont }, o),
      );
      cont = page.metadata?._continue || undefined;
      yield page.items.map((it) => asSecret(it, namespace));
    } while (cont);
  }
  async function* configMapPages(namespace: string, limit: number): AsyncGenerator<Record<string, unknown>[]> {
    let cont: string | undefined;
    do {
      const page = await call(`list configmaps in ${namespace}`, (o) => api.listNamespacedConfigMap({ namespace, limit, _continue: cont }, o));
      cont = page.metadata?._continue || undefined;
      yield page.items.map((it) => ({ ...(JSON.parse(JSON.stringify(it)) as Record<string, unknown>), apiVersion: 'v1', kind: 'ConfigMap' }));
    } while (cont);
  }
  return {
    target,
    async getSecret(namespace, name) {
      try {
        return asSecret(await call(`get secret ${namespace}/${name}`, (o) => api.readNamespacedSecret({ name, namespace }, o)), namespace);
      } catch (e) {
        if (is404(e)) return undefined;
        throw e;
      }
    },
    async listSecrets(namespace, labelSelector) {
      const out: SecretObject[] = [];
      for await (const page of secretPages(namespace, 250, labelSelector)) out.push(...page);
      return out;
    },
    secretPages: (namespace, limit) => secretPages(namespace, limit),
    async listConfigMaps(namespace) {
      const out: Record<string, unknown>[] = [];
      for await (const page of configMapPages(namespace, 250)) out.push(...page);
      return out;
    },
    configMapPages,
    async applySecret(obj, o) {
      const ns = obj.metadata.namespace!;
      const r = await call(`apply secret ${ns}/${obj.metadata.name}`, (opt) =>
        api.patchNamespacedSecret(
          { name: obj.metadata.name, namespace: ns, body: obj, fieldManager: FIELD_MANAGER, force: o.force, dryRun: dry(o.dryRun) },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply, opt),
        ),
      );
      return asSecret(r, ns);
    },
    async deleteSecret(namespace, name, preconditions, dryRun) {
      await call(`delete secret ${namespace}/${name}`, (o) => api.deleteNamespacedSecret({ name, namespace, dryRun: dry(dryRun), body: { preconditions } }, o));
    },
    async createSecret(obj) {
      return create(obj, false);
    },
    async checkCreate(obj) {
      try {
        await create(obj, true);
      } catch (e) {
        if (e instanceof ClusterError && e.status === 409 && e.reason === 'AlreadyExists') return;
        throw e;
      }
    },
    async namespaceExists(namespace) {
      try {
        await call(`get namespace ${namespace}`, (o) => api.readNamespace({ name: namespace }, o));
        return true;
      } catch (e) {
        if (is404(e)) return false;
        throw e;
      }
    },
    async createNamespace(namespace, dryRun, labels) {
      const r = await call(`create namespace ${namespace}`, (o) =>
        api.createNamespace(
          {
            body: { metadata: { name: namespace, ...(labels ? { labels } : {}) } },
            fieldManager: FIELD_MANAGER,
            dryRun: dry(dryRun),
          },
          o,
        ),
      );
      return dryRun ? '' : (r.metadata?.uid ?? '');
    },
    async getNamespace(namespace) {
      try {
        const r = await call(`get namespace ${namespace}`, (o) => api.readNamespace({ name: namespace }, o));
        return { uid: r.metadata?.uid ?? '', labels: r.metadata?.labels ?? {} };
      } catch (e) {
        if (is404(e)) return undefined;
        throw e;
      }
    },
    async deleteNamespace(namespace, preconditions) {
      await call(`delete namespace ${namespace}`, (o) => api.deleteNamespace({ name: namespace, body: { preconditions } }, o));
    },
  };
}
