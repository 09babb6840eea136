import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { VaultError } from '../errors/errors.js';
import { LIMITS, readFileCapped } from '../fs/read.js';

/**
 * Kubeconfig loading with kubectl's rules (client-go's loading rules):
 * - `--kubeconfig FILE` alone, and it must exist;
 * - otherwise every file in KUBECONFIG (path-list; missing files ignored), or
 *   ~/.kube/config; maps merge by name with the first file winning, and the
 *   first non-empty current-context wins;
 * - relative file paths inside a file are relative to that file;
 * - `--context` overrides the current context; the namespace is `-n`, else
 *   the context's, else "default".
 */
export interface KubeconfigOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  env: Record<string, string | undefined>;
  home?: string;
}

export interface ResolvedKubeconfig {
  /** Merged kubeconfig YAML with absolute paths (holds credentials: never print it). */
  yaml: string;
  context: string;
  cluster: string;
  server: string;
  user: string;
  namespace: string;
  /** Whether the namespace came from -n or the context (rather than the "default" fallback). */
  namespaceExplicit: boolean;
  files: string[];
  /** The other contexts of the kubeconfig whose cluster has the same server address: other names for the same cluster. */
  sameServer: string[];
}

type Named = { name: string; [k: string]: unknown };
interface RawConfig {
  'current-context'?: string;
  clusters?: Named[];
  users?: Named[];
  contexts?: Named[];
}

const PATH_FIELDS: Record<string, string[]> = {
  clusters: ['certificate-authority'],
  users: ['client-certificate', 'client-key', 'tokenFile'],
};

function readConfig(file: string, mustExist: boolean): RawConfig | undefined {
  let text: string;
  try {
    text = readFileCapped(file, 'kubeconfig', LIMITS.text).toString('utf8');
  } catch (e) {
    const err = e as VaultError;
    if (err.kind === 'not-found' && !mustExist) return undefined;
    throw err.kind === 'not-found' ? new VaultError('not-found', `cannot read kubeconfig ${file}: no such file`, { code: 'kubeconfig-missing' }) : err;
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw new VaultError('invalid', `kubeconfig ${file} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new VaultError('invalid', `kubeconfig ${file} is not a kubeconfig (expected a map)`);
  const cfg = raw as RawConfig;
  const dir = dirname(resolve(file));
  for (const section of ['clusters', 'users', 'contexts'] as const) {
    const list = cfg[section];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new VaultError('invalid', `kubeconfig ${file}: ${section} must be a list`);
    for (const item of list) {
      if (!item || typeof item.name !== 'string') throw new VaultError('invalid', `kubeconfig ${file}: an entry of ${section} has no name`);
      const inner = item[section.slice(0, -1)] as Record<string, unknown> | undefined;
      for (const f of PATH_FIELDS[section] ?? []) {
        const v = inner?.[f];
        if (typeof v === 'string' && v && !isAbsolute(v)) inner![f] = join(dir, v);
      }
    }
  }
  return cfg;
}

export function loadKubeconfig(opts: KubeconfigOptions): ResolvedKubeconfig {
  const files: string[] = [];
  const configs: RawConfig[] = [];
  if (opts.kubeconfig) {
    files.push(resolve(opts.kubeconfig));
    configs.push(readConfig(resolve(opts.kubeconfig), true)!);
  } else {
    const list = opts.env.KUBECONFIG ? opts.env.KUBECONFIG.split(delimiter).filter(Boolean) : [join(opts.home ?? opts.env.HOME ?? '', '.kube', 'config')];
    for (const f of list) {
      const cfg = readConfig(resolve(f), false);
      if (cfg) {
        files.push(resolve(f));
        configs.push(cfg);
      }
    }
    if (!configs.length) {
      throw new VaultError('not-found', `no kubeconfig found (looked in ${opts.env.KUBECONFIG ? `KUBECONFIG=${opts.env.KUBECONFIG}` : list[0]})`, {
        code: 'kubeconfig-none',
      });
    }
  }
  const merged: Required<Pick<RawConfig, 'clusters' | 'users' | 'contexts'>> & { 'current-context': string } = {
    'current-context': '',
    clusters: [],
    users: [],
    contexts: [],
  };
  for (const cfg of configs) {
    if (!merged['current-context'] && cfg['current-context']) merged['current-context'] = cfg['current-context'];
    for (const section of ['clusters', 'users', 'contexts'] as const) {
      for (const item of cfg[section] ?? []) if (!merged[section].some((x) => x.name === item.name)) merged[section].push(item);
    }
  }
  const contextName = opts.context ?? merged['current-context'];
  if (!contextName)
    throw new VaultError('usage', 'the kubeconfig sets no current context', {
      code: 'k8s-no-context',
      hint: `contexts: ${merged.contexts.map((c) => c.name).join(', ') || 'none'}`,
      data: { contexts: merged.contexts.map((c) => c.name).join(', ') || 'none' },
    });
  const ctx = merged.contexts.find((c) => c.name === contextName);
  if (!ctx)
    throw new VaultError(
      'not-found',
      `context "${contextName}" does not exist in the kubeconfig`,
      `contexts: ${merged.contexts.map((c) => c.name).join(', ') || 'none'}`,
    );
  const c = (ctx.context ?? {}) as { cluster?: string; user?: string; namespace?: string };
  const cluster = merged.clusters.find((x) => x.name === c.cluster);
  if (!cluster) throw new VaultError('invalid', `context "${contextName}" names cluster "${c.cluster ?? ''}", which the kubeconfig does not define`);
  const server = (cluster.cluster as { server?: string } | undefined)?.server;
  if (!server) throw new VaultError('invalid', `cluster "${cluster.name}" has no server address`);
  const user = merged.users.find((x) => x.name === c.user);
  if (c.user && !user) throw new VaultError('invalid', `context "${contextName}" names user "${c.user}", which the kubeconfig does not define`);
  const namespace = opts.namespace ?? c.namespace ?? 'default';
  const out = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': contextName,
    clusters: [cluster],
    users: user ? [user] : [{ name: 'anonymous', user: {} }],
    contexts: [{ name: contextName, context: { cluster: cluster.name, user: user?.name ?? 'anonymous', namespace } }],
  };
  return {
    yaml: stringify(out),
    context: contextName,
    cluster: cluster.name,
    server,
    user: user?.name ?? 'anonymous',
    namespace,
    namespaceExplicit: Boolean(opts.namespace ?? c.namespace),
    files,
    sameServer: merged.contexts
      .filter((x) => x.name !== contextName)
      .filter((x) => {
        const other = merged.clusters.find((k) => k.name === ((x.context ?? {}) as { cluster?: string }).cluster);
        const s = (other?.cluster as { server?: string } | undefined)?.server;
        return s !== undefined && serverKey(s) === serverKey(server);
      })
      .map((x) => x.name),
  };
}

/** A server address as compared: scheme, host in lowercase, the default port made explicit, no trailing slash. */
function serverKey(server: string): string {
  try {
    const u = new URL(server);
    const port = u.port || (u.protocol === 'http:' ? '80' : '443');
    return `${u.protocol}//${u.hostname.toLowerCase()}:${port}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return server.replace(/\/+$/, '');
  }
}
