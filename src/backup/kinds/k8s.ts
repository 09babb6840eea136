import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import { VaultError } from '../../errors/errors.js';
import type { BackupKind, Component } from '../kind.js';
import { defineKind } from './loaded.js';

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
  /** The snapshot; `signal` fires when the backup gives up (its requests are then aborted). */
  open: (signal: AbortSignal) => Promise<Readable>;
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
  // The YAML parser loads only here (through a module of ours: a dynamic import of the package itself finds no named exports once bundled).
  const { yamlStreamError } = await import('../../vault/yaml.js');
  const e = await yamlStreamError(r);
  if (e) throw new VaultError('verify-failed', `the YAML does not parse: ${e}`);
}

export const k8s: BackupKind<K8sOptions> = defineKind({
  name: 'k8s',
  folder: 'k8s',
  label: 'k8s',
  ext: 'yaml',
  dump,
  shape: (_h, size) => (size === 0 ? 'nothing was read' : null),
  verifier: () => ({ kind: 'inline', label: 'YAML', consume: checkYaml }),
  restoredElsewhere: 'cluster',
  drill: { scratch: 'folder', tools: [], checks: [] },
});
