import { isAbsolute, resolve } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { parseDotenv } from '../vault/dotenv.js';
import { LIMITS, readFileCapped } from '../fs/read.js';
import { checkEntryName } from '../vault/types.js';
import { openCluster, type ClusterTarget } from '../k8s/run.js';

/**
 * Where production keeps a value, to compare with the escrowed one or to
 * make a canary with:
 *   env:/opt/app/.env#MASTER_KEY   a variable of a dotenv file
 *   envvar:NAME                    an environment variable of this process
 *   file:/etc/app/kek.bin          a whole file
 *   k8s:NAMESPACE/SECRET#KEY       a key of a Kubernetes Secret
 */
export type Source =
  | { kind: 'env'; file: string; key: string }
  | { kind: 'envvar'; name: string }
  | { kind: 'file'; path: string }
  | { kind: 'k8s'; namespace: string; secret: string; key: string };

/** A production source and the vault entry it should hold: `SOURCE=ENTRY`. */
export interface Against {
  spec: string;
  source: Source;
  entry: string;
}

export function parseSource(spec: string, cwd = '/'): Source {
  const colon = spec.indexOf(':');
  const kind = spec.slice(0, colon);
  const rest = spec.slice(colon + 1);
  const bad = (rule: string) => new VaultError('usage', `source ${JSON.stringify(spec)}: ${rule}`);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  switch (colon < 0 ? '' : kind) {
    case 'env': {
      const hash = rest.lastIndexOf('#');
      if (hash <= 0 || hash === rest.length - 1) throw bad('expected env:FILE#KEY');
      return { kind: 'env', file: abs(rest.slice(0, hash)), key: rest.slice(hash + 1) };
    }
    case 'envvar':
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(rest)) throw bad('expected envvar:NAME');
      return { kind: 'envvar', name: rest };
    case 'file':
      if (!rest) throw bad('expected file:PATH');
      return { kind: 'file', path: abs(rest) };
    case 'k8s': {
      const m = /^([a-z0-9-]+)\/([a-z0-9.-]+)#([-._a-zA-Z0-9]+)$/.exec(rest);
      if (!m) throw bad('expected k8s:NAMESPACE/SECRET#KEY');
      return { kind: 'k8s', namespace: m[1]!, secret: m[2]!, key: m[3]! };
    }
    default:
      throw bad('a source is env:FILE#KEY, envvar:NAME, file:PATH or k8s:NAMESPACE/SECRET#KEY');
  }
}

/** `SOURCE=ENTRY`: the entry is after the last `=` (entry names hold none). */
export function parseAgainst(spec: string, cwd = '/'): Against {
  const eq = spec.lastIndexOf('=');
  if (eq <= 0) throw new VaultError('usage', `${JSON.stringify(spec)}: expected SOURCE=ENTRY (e.g. env:/opt/app/.env#MASTER_KEY=platform/master)`);
  return { spec: spec.slice(0, eq), source: parseSource(spec.slice(0, eq), cwd), entry: checkEntryName(spec.slice(eq + 1)) };
}

/** What reading a source needs: this process's environment (for envvar:) and a cluster (for k8s:). */
export interface SourceContext {
  env: Record<string, string | undefined>;
  cluster?: ClusterTarget;
}

/** Reads the value production holds; a value that is not there is a `not-found` error naming the source. */
export async function readSource(src: Source, spec: string, ctx: SourceContext): Promise<Buffer> {
  switch (src.kind) {
    case 'env': {
      const pairs = parseDotenv(readFileCapped(src.file, 'dotenv file', LIMITS.text).toString('utf8'));
      const p = pairs.find((x) => x.key === src.key);
      if (!p) throw new VaultError('not-found', `${spec}: ${src.file} has no variable ${src.key}`);
      return Buffer.from(p.value);
    }
    case 'envvar': {
      const v = ctx.env[src.name];
      if (v === undefined) throw new VaultError('not-found', `${spec}: the environment variable ${src.name} is not set`);
      return Buffer.from(v);
    }
    case 'file':
      return readFileCapped(src.path, 'file', LIMITS.value);
    case 'k8s': {
      if (!ctx.cluster) throw new VaultError('usage', `${spec}: a Kubernetes source needs a cluster (kubeconfig and context)`);
      const port = await openCluster({ ...ctx.cluster, namespace: src.namespace });
      const s = await port.getSecret(src.namespace, src.secret);
      if (!s) throw new VaultError('not-found', `${spec}: Secret ${src.namespace}/${src.secret} does not exist (context ${port.target.context})`);
      const b64 = s.data && Object.hasOwn(s.data, src.key) ? s.data[src.key] : undefined;
      if (b64 === undefined) throw new VaultError('not-found', `${spec}: Secret ${src.namespace}/${src.secret} has no key ${src.key}`);
      return Buffer.from(b64, 'base64');
    }
  }
}
