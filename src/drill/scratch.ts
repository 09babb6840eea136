import type { Tools } from '../backup/scratch.js';
import type { SecretsPort } from '../k8s/cluster.js';
import { openCluster, type ClusterTarget } from '../k8s/run.js';
import { type JournalFile, stillRunning } from './journal.js';
import { type ClusterRef, DRILL_LABEL, describe, scratchType } from './targets.js';

export type { Tools } from '../backup/scratch.js';
export { describe } from './targets.js';

type Env = Record<string, string | undefined>;

/**
 * Making the drill's namespaces, and removing what a journal names. Every
 * scratch target is journaled before it is made and removed only when what
 * is there is still what the drill made; each type says how
 * (`drill/targets.ts`, `backup/scratch.ts`).
 */
export async function createNamespace(j: JournalFile, port: SecretsPort, cluster: ClusterRef, name: string): Promise<void> {
  const entry = j.add({ kind: 'namespace' as const, name, cluster, state: 'creating' as const });
  const uid = await port.createNamespace(name, false, { [DRILL_LABEL]: j.data.id });
  j.created(entry, { uid });
}

/**
 * Removes what a journal names, newest first, each only if it is still the
 * drill's: tool processes still running are killed (their whole group), then
 * Secrets, namespaces, databases and folders. What is removed leaves the
 * journal at once; what cannot be removed stays in it, with the reason in
 * the result. The journal file goes when nothing is left.
 */
export async function teardownJournal(
  j: JournalFile,
  o: { env: Env; timeoutMs: number; cluster: (ref: ClusterRef) => ClusterTarget },
): Promise<{ removed: string[]; left: string[] }> {
  const removed: string[] = [];
  const left: string[] = [];
  for (const p of j.data.processes) {
    if (stillRunning(p.pid, p.start)) {
      try {
        process.kill(-p.pid, 'SIGKILL');
        removed.push(`process ${p.pid} (${p.label})`);
      } catch {
        /* gone meanwhile */
      }
    }
  }
  if (j.data.processes.length) {
    j.data.processes = [];
    j.save();
  }
  const ports = new Map<string, Promise<SecretsPort>>();
  const portOf = (ref: ClusterRef) => {
    const k = `${ref.kubeconfig ?? ''}\0${ref.context}`;
    if (!ports.has(k)) ports.set(k, openCluster(o.cluster(ref)));
    return ports.get(k)!;
  };
  const tools: Tools = { env: o.env, timeoutMs: o.timeoutMs };
  for (const t of [...j.data.targets].reverse()) {
    try {
      const what = await scratchType(t).remove(t, { drillId: j.data.id, tools, portOf });
      j.removed(t);
      if (what) removed.push(what);
    } catch (e) {
      left.push(`${describe(t)}: ${(e as Error).message}`);
    }
  }
  if (!j.data.targets.length) j.close();
  return { removed, left };
}
