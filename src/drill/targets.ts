import { VaultError } from '../errors/errors.js';
import type { SecretsPort } from '../k8s/cluster.js';
import {
  scratchDatabase,
  scratchFolder,
  scratchPrefix,
  type DatabaseEntry,
  type FolderEntry,
  type PrefixEntry,
  type RemoveContext,
  type ScratchType,
} from '../backup/scratch.js';

/**
 * The scratch targets a drill journal can name: the backups' (a database,
 * a folder: `backup/scratch.ts`) and the drill's own Kubernetes namespaces
 * and Secrets. A namespace carries a label naming the drill and is deleted
 * with a uid precondition; a Secret is deleted with its uid as
 * precondition.
 */
export const DRILL_LABEL = 'vault-tool.io/drill';

/** Which cluster: enough to reach it again (the kubeconfig file and context), and its server to say which one it was. */
export interface ClusterRef {
  kubeconfig?: string;
  context: string;
  server: string;
}

export type NamespaceEntry = { kind: 'namespace'; name: string; cluster: ClusterRef; state: 'creating' | 'created'; uid?: string };
export type SecretEntry = { kind: 'secret'; namespace: string; name: string; cluster: ClusterRef; uid: string; state: 'created' };

export type Target = DatabaseEntry | FolderEntry | PrefixEntry | NamespaceEntry | SecretEntry;

/** What removing a target needs: the tools, and the cluster a journaled reference names. */
export interface DrillRemove extends RemoveContext {
  portOf(ref: ClusterRef): Promise<SecretsPort>;
}

const str = (x: Record<string, unknown>, k: string) => typeof x[k] === 'string' && (x[k] as string).length > 0;
const cluster = (c: unknown) => !!c && typeof c === 'object' && typeof (c as ClusterRef).context === 'string';

const scratchNamespace: ScratchType<NamespaceEntry, DrillRemove> = {
  kind: 'namespace',
  valid: (x) => str(x, 'name') && cluster(x.cluster),
  describe: (t) => `namespace ${t.name} (context ${t.cluster.context})`,
  async remove(t, c) {
    const port = await c.portOf(t.cluster);
    const live = await port.getNamespace(t.name);
    if (!live) return undefined;
    const ours = t.uid ? live.uid === t.uid : live.labels[DRILL_LABEL] === c.drillId;
    if (!ours) throw new VaultError('exists', 'it is not the namespace the drill created (another uid or label): left alone');
    await port.deleteNamespace(t.name, { uid: live.uid });
    return scratchNamespace.describe(t);
  },
};

const scratchSecret: ScratchType<SecretEntry, DrillRemove> = {
  kind: 'secret',
  valid: (x) => str(x, 'namespace') && str(x, 'name') && str(x, 'uid') && cluster(x.cluster),
  describe: (t) => `Secret ${t.namespace}/${t.name} (context ${t.cluster.context})`,
  async remove(t, c) {
    const port = await c.portOf(t.cluster);
    const live = await port.getSecret(t.namespace, t.name);
    if (!live) return undefined;
    if (live.metadata.uid !== t.uid) throw new VaultError('exists', 'it is not the Secret the drill created (another uid): left alone');
    await port.deleteSecret(t.namespace, t.name, { uid: t.uid }, false);
    return scratchSecret.describe(t);
  },
};

/** Every type of scratch target, by the kind a journal records. */
const TYPES = { database: scratchDatabase, folder: scratchFolder, prefix: scratchPrefix, namespace: scratchNamespace, secret: scratchSecret } as Record<
  string,
  ScratchType<Target, DrillRemove> | undefined
>;

export function scratchType(t: Target): ScratchType<Target, DrillRemove> {
  return TYPES[t.kind]!;
}

/** Whether a journal's entry is a target of a known type, whole. */
export const isTarget = (t: unknown): t is Target => {
  if (!t || typeof t !== 'object') return false;
  const x = t as Record<string, unknown>;
  if (x.state !== 'creating' && x.state !== 'created') return false;
  return typeof x.kind === 'string' && Boolean(TYPES[x.kind]?.valid(x));
};

export const describe = (t: Target): string => scratchType(t).describe(t);
