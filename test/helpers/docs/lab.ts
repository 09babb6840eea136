import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// @ts-expect-error: plain JavaScript helper shared with the benchmarks
import { startKubeApi } from '../kube-api-server.mjs';
import { type Postgres, type Redis, startPostgres, startRedis } from '../servers.mjs';
import type { Stage } from './scenario.js';

/** The servers a scenario's commands reach: throwaway ones, stopped when it ends. */

export async function postgres(stage: Stage): Promise<Postgres> {
  const pg = await startPostgres();
  stage.onTeardown(() => pg.stop());
  return pg;
}

export async function redis(stage: Stage, dir?: string): Promise<Redis> {
  const r = await startRedis(dir);
  stage.onTeardown(() => r.stop());
  return r;
}

/** libpq's variables for a server, as an operator's shell holds them. */
export const pgEnv = (pg: Postgres) => ({ PGHOST: pg.env.PGHOST!, PGPORT: pg.env.PGPORT!, PGUSER: pg.env.PGUSER! });

export interface KubeApi {
  url: string;
  ca: string;
  token: string;
  state: {
    get(ns: string, name: string): { obj: { data?: Record<string, string> } } | undefined;
    put(obj: unknown): unknown;
    putConfigMap(obj: unknown): unknown;
    addNamespace(ns: string): void;
    secrets: Map<string, unknown>;
  };
  close(): Promise<void>;
}

/**
 * One Kubernetes API test server per context, and a kubeconfig naming them
 * all (KUBECONFIG), `current` its current context.
 */
export async function clusters(stage: Stage, names: string[], current: string): Promise<Record<string, KubeApi>> {
  const out: Record<string, KubeApi> = {};
  for (const n of names) {
    // TLS: kubectl sends no bearer token over plain HTTP.
    out[n] = (await startKubeApi({ tls: true, namespaces: ['default'] })) as KubeApi;
    stage.onTeardown(() => out[n]!.close());
  }
  const file = join(stage.dir, '.kubeconfig');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `current-context: ${current}`,
      'clusters:',
      ...names.flatMap((n) => [`- name: ${n}`, '  cluster:', `    server: ${out[n]!.url}`, `    certificate-authority-data: ${b64(out[n]!.ca)}`]),
      'contexts:',
      ...names.flatMap((n) => [`- name: ${n}`, '  context:', `    cluster: ${n}`, `    user: ${n}`]),
      'users:',
      ...names.flatMap((n) => [`- name: ${n}`, '  user:', `    token: ${out[n]!.token}`]),
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  stage.env.KUBECONFIG = file;
  return out;
}

export const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A Secret as another client wrote it. */
export function secret(api: KubeApi, ns: string, name: string, data: Record<string, string>): void {
  api.state.put({ metadata: { name, namespace: ns }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) });
}

/** A value a Secret holds (decoded). */
export function secretValue(api: KubeApi, ns: string, name: string, key: string): string | undefined {
  const v = api.state.get(ns, name)?.obj.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

/** A new age identity in `file`; its recipient. */
export function ageKey(file: string): string {
  execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
  return execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim();
}

export const hex = (bytes: number) => execFileSync('openssl', ['rand', '-hex', String(bytes)], { encoding: 'utf8' }).trim();
export const base64Key = () => execFileSync('openssl', ['rand', '-base64', '32'], { encoding: 'utf8' }).trim();

/**
 * A custodian at the terminal during `escrow split --ceremony`: confirms
 * the list, and types back the group asked for from their share file
 * (a share encrypted to them opened with their identity).
 */
export function custodians(shareDir: () => string, identities: Record<string, string> = {}): (q: string) => string | undefined {
  return (q) => {
    if (/^Are these the custodians\?/.test(q)) return 'yes';
    const m = /^(.+): type group (\d+) of your share as proof of receipt$/.exec(q);
    if (!m) return undefined;
    const dir = shareDir();
    for (const f of readdirSync(dir).filter((x) => /\.share(\.age)?$/.test(x))) {
      const text = f.endsWith('.age')
        ? (Object.values(identities)
            .map((id) => {
              try {
                return execFileSync('age', ['-d', '-i', id, join(dir, f)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
              } catch {
                return '';
              }
            })
            .find((t) => t) ?? '')
        : readFileSync(join(dir, f), 'utf8');
      if (!text.includes(`# custodian: ${m[1]} (`)) continue;
      const line = text.split('\n').find((l) => l.startsWith('VT1-'))!;
      return line.split('-')[Number(m[2])];
    }
    return undefined;
  };
}

/** The newest file of a repository component (by name: names start with the time). */
export function newest(repo: string, component: string): string {
  const files = readdirSync(join(repo, component))
    .filter((f) => f.endsWith('.age'))
    .sort();
  if (!files.length) throw new Error(`no backup of ${component} in ${repo}`);
  return files[files.length - 1]!;
}
