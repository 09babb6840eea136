import { Readable } from 'node:stream';
import { openCluster, type ClusterTarget } from '../k8s/run.js';
import { cleanSecret, toYaml } from '../k8s/secret.js';

/** Server-set fields are dropped: a restore recreates the objects, it does not replay their history. */
function cleanConfigMap(o: Record<string, unknown>): Record<string, unknown> {
  const meta = (o.metadata ?? {}) as Record<string, unknown>;
  const { name, namespace, labels, annotations } = meta;
  const a = annotations && typeof annotations === 'object' ? { ...(annotations as Record<string, string>) } : undefined;
  if (a) delete a['kubectl.kubernetes.io/last-applied-configuration'];
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, ...(labels ? { labels } : {}), ...(a && Object.keys(a).length ? { annotations: a } : {}) },
    ...(o.data ? { data: o.data } : {}),
    ...(o.binaryData ? { binaryData: o.binaryData } : {}),
    ...(o.immutable ? { immutable: true } : {}),
  };
}

/** The Secrets and ConfigMaps of the namespaces, as YAML documents (read through the cluster client; `signal` aborts the requests). */
export async function k8sSnapshot(target: ClusterTarget, namespaces: string[], signal?: AbortSignal): Promise<Readable> {
  const port = await openCluster(target, undefined, signal);
  const docs: string[] = [];
  for (const ns of namespaces) {
    const secrets = await port.listSecrets(ns);
    secrets.forEach((s, i) => docs.push(toYaml(cleanSecret(s, `${ns} Secret ${i + 1}`))));
    for (const c of await port.listConfigMaps(ns)) docs.push(toYaml(cleanConfigMap(c)));
  }
  return Readable.from([Buffer.from(docs.join('---\n'))]);
}
