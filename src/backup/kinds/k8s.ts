import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import { parseAllDocuments } from 'yaml';
import { VaultError } from '../../errors/errors.js';
import type { BackupKind, Component } from '../kind.js';

/**
 * `k8s`: the Secrets and ConfigMaps of namespaces as YAML documents, read
 * in-process through the cluster client (`backup/k8s.ts`), checked by
 * parsing them; restored only through the cluster client and its guard
 * rails (a restore of Secrets, as the k8s restores are), or into a file.
 */
export interface K8sOptions {
  /** The component's name: k8s/NAME. */
  name: string;
  context: string;
  namespaces: string[];
  open: () => Promise<Readable>;
}

async function dump(o: K8sOptions): Promise<Component> {
  return {
    component: `k8s/${o.name}`,
    kind: 'k8s',
    producer: { kind: 'stream', name: 'the Kubernetes API', open: o.open },
    tool: { name: 'vault-tool', version: 'k8s', args: o.namespaces },
    source: { context: o.context, namespaces: o.namespaces.join(' '), machine: hostname() },
    waiting: `reading ${o.namespaces.length === 1 ? 'the namespace' : `${o.namespaces.length} namespaces`} from the cluster`,
  };
}

async function checkYaml(r: Readable): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  const docs = parseAllDocuments(Buffer.concat(chunks).toString('utf8'));
  const bad = (Array.isArray(docs) ? docs : [docs]).find((d) => d.errors.length);
  if (bad) throw new VaultError('verify-failed', `the YAML does not parse: ${bad.errors[0]!.message.split('\n')[0]}`);
}

export const k8s: BackupKind<K8sOptions> = {
  name: 'k8s',
  folder: 'k8s',
  label: 'k8s',
  ext: 'yaml',
  dump,
  shape: (_h, size) => (size === 0 ? 'nothing was read' : null),
  verifier: () => ({ kind: 'inline', label: 'YAML', consume: checkYaml }),
  restoredElsewhere: 'cluster',
  drill: { scratch: 'folder', tools: [], checks: [] },
};
