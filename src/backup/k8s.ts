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

/** Objects a list request returns at a time: a Secret may be 1 MiB, so a page of them is what a snapshot holds at most. */
const PAGE = 50;

/**
 * The Secrets and ConfigMaps of the namespaces, as YAML documents (read
 * through the cluster client; `signal` aborts the requests), made a page at
 * a time as the backup reads them: memory holds one page, whatever the
 * namespaces hold.
 */
export async function k8sSnapshot(target: ClusterTarget, namespaces: string[], signal?: AbortSignal): Promise<Readable> {
  const port = await openCluster(target, undefined, signal);
  async function* documents(): AsyncGenerator<Buffer> {
    let sep = '';
    for (const ns of namespaces) {
      let n = 0;
      for await (const page of port.secretPages(ns, PAGE))
        for (const s of page) {
          yield Buffer.from(sep + toYaml(cleanSecret(s, `${ns} Secret ${++n}`)));
          sep = '---\n';
        }
      for await (const page of port.configMapPages(ns, PAGE))
        for (const c of page) {
          yield Buffer.from(sep + toYaml(cleanConfigMap(c)));
          sep = '---\n';
        }
    }
  }
  return Readable.from(documents());
}
