import { join } from 'node:path';
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
import { asUser, runningOn, stopArgs } from '../tool/postgres.js';
import { envForProcess } from '../tool/user-env.js';
import { runTool } from '../tool/run.js';

/**
 * The scratch targets a drill journal can name: the backups' (a database,
 * a folder: `backup/scratch.ts`), the drill's own Kubernetes namespaces
 * and Secrets, and the throwaway PostgreSQL server of a point-in-time
 * restore. A namespace carries a label naming the drill and is deleted
 * with a uid precondition; a Secret is deleted with its uid as
 * precondition; a server is stopped (an immediate shutdown) when its
 * postmaster.pid, in the data directory the journal names, shows it runs.
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

/** A server on a data directory in a scratch folder: its programs' folder and the user it runs as, to stop it again. */
export type ServerEntry = { kind: 'postgres-server'; data: string; bin: string; user?: string; port: number; state: 'creating' | 'created' };

export type Target = DatabaseEntry | FolderEntry | PrefixEntry | NamespaceEntry | SecretEntry | ServerEntry;

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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const scratchServer: ScratchType<ServerEntry, DrillRemove> = {
  kind: 'postgres-server',
  valid: (x) =>
    str(x, 'data') && (x.data as string).startsWith('/') && str(x, 'bin') && (x.user === undefined || str(x, 'user')) && Number.isSafeInteger(x.port),
  describe: (t) => `PostgreSQL server on ${t.data} (port ${t.port})`,
  async remove(t, c) {
    const pid = runningOn(t.data);
    if (pid === null) return undefined;
    try {
      const [cmd, args] = asUser(t.user ?? null, join(t.bin, 'pg_ctl'), stopArgs(t.data));
      await runTool(cmd, args, { env: envForProcess(c.tools.env), timeoutMs: c.tools.timeoutMs, label: `pg_ctl stop (${t.data})` });
    } catch (e) {
      // pg_ctl could not (gone, or too slow): the immediate shutdown by its signal.
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        /* gone meanwhile */
      }
      for (let i = 0; i < 100 && runningOn(t.data) !== null; i++) await sleep(100);
      if (runningOn(t.data) !== null) throw new VaultError('io', `it still runs (pid ${pid}): ${(e as Error).message}`);
    }
    return scratchServer.describe(t);
  },
};

/** Every type of scratch target, by the kind a journal records. */
const TYPES = {
  database: scratchDatabase,
  folder: scratchFolder,
  prefix: scratchPrefix,
  namespace: scratchNamespace,
  secret: scratchSecret,
  'postgres-server': scratchServer,
} as Record<string, ScratchType<Target, DrillRemove> | undefined>;

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
