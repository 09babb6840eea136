import { accessSync, constants, lstatSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { makeDirs } from '../fs/dirs.js';
import { runTool } from '../backup/tool.js';
import { openCluster, type ClusterTarget } from '../k8s/run.js';
import type { SecretsPort } from '../k8s/cluster.js';
import { type ClusterRef, type JournalFile, stillRunning, type Target } from './journal.js';

type Env = Record<string, string | undefined>;

/**
 * Scratch targets: made by the drill after they are journaled, removed only
 * when what is there is still what the drill made. A database carries a
 * marker comment naming the drill (set by createdb as it creates it); a
 * namespace carries a label naming the drill and is deleted with a uid
 * precondition; a Secret is deleted with its uid as precondition; a folder
 * is one that did not exist before.
 */
export const DRILL_LABEL = 'vault-tool.io/drill';
export const markerOf = (drillId: string) => `vault-tool drill ${drillId}`;

export interface Tools {
  env: Env;
  timeoutMs: number;
  /** Told every tool's process group (journaled). */
  onStart?: (pid: number, label: string) => void;
}

/** The PostgreSQL server the environment points at, for messages and the journal. */
export const serverOf = (env: Env) => `${env.PGHOST ?? 'local socket'}:${env.PGPORT ?? '5432'}`;

/** psql on the maintenance database, read-only, with the query on stdin (psql variables: :'name' quotes a literal, :"name" an identifier). */
export async function psqlRead(sql: string, vars: Record<string, string>, t: Tools, database = 'postgres'): Promise<string> {
  return (
    await runTool('psql', ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', ...Object.entries(vars).flatMap(([k, v]) => ['-v', `${k}=${v}`]), '-d', database], {
      env: readOnly(t.env),
      timeoutMs: t.timeoutMs,
      input: sql,
      label: 'psql',
      ...(t.onStart ? { onStart: (pid: number) => t.onStart!(pid, 'psql') } : {}),
    })
  ).trim();
}

/** libpq's environment with every transaction read-only (PGOPTIONS is appended to, not replaced). */
export function readOnly(env: Env): Env {
  return { ...env, PGOPTIONS: `${env.PGOPTIONS ? `${env.PGOPTIONS} ` : ''}-c default_transaction_read_only=on` };
}

export async function databaseExists(name: string, t: Tools): Promise<boolean> {
  return (await psqlRead("select count(*) from pg_catalog.pg_database where datname = :'name';\n", { name }, t)) !== '0';
}

/** Whether the role libpq logs in as may create databases. */
export async function mayCreateDatabases(t: Tools): Promise<boolean> {
  return (await psqlRead('select rolcreatedb or rolsuper from pg_catalog.pg_roles where rolname = current_user;\n', {}, t)) === 't';
}

export async function createDatabase(j: JournalFile, name: string, t: Tools): Promise<void> {
  const entry = j.add({ kind: 'database', name, server: serverOf(t.env), state: 'creating' });
  // createdb sets the description (COMMENT ON DATABASE) right after CREATE DATABASE: the marker teardown looks for.
  await runTool('createdb', ['--', name, markerOf(j.data.id)], {
    env: t.env,
    timeoutMs: t.timeoutMs,
    label: `createdb ${name}`,
    ...(t.onStart ? { onStart: (pid: number) => t.onStart!(pid, `createdb ${name}`) } : {}),
  });
  j.created(entry);
}

export function outermostMissing(path: string): string | undefined {
  let missing: string | undefined;
  for (let p = path; p !== dirname(p); p = dirname(p)) {
    try {
      lstatSync(p);
      return missing;
    } catch {
      missing = p;
    }
  }
  return missing;
}

/** Why a scratch folder cannot be made: it exists, or where it would go is not writable; null when it can. */
export function folderProblem(path: string): string | null {
  const top = outermostMissing(path);
  if (!top) return `${path} exists: a drill restores only into a folder it creates`;
  try {
    accessSync(dirname(top), constants.W_OK | constants.X_OK);
  } catch (e) {
    return `${path} cannot be created: ${dirname(top)} is not writable (${(e as NodeJS.ErrnoException).code})`;
  }
  return null;
}

export function createFolder(j: JournalFile, path: string): void {
  const top = outermostMissing(path);
  if (!top) throw new VaultError('exists', `${path} exists: a drill restores only into a folder it creates`);
  const entry = j.add({ kind: 'folder', path: top, state: 'creating' });
  makeDirs(path);
  j.created(entry);
}

export async function createNamespace(j: JournalFile, port: SecretsPort, cluster: ClusterRef, name: string): Promise<void> {
  const entry = j.add({ kind: 'namespace', name, cluster, state: 'creating' });
  const uid = await port.createNamespace(name, false, { [DRILL_LABEL]: j.data.id });
  j.created(entry, { uid });
}

/** Only folders inside (nothing a restore wrote). */
function onlyFolders(path: string): boolean {
  const st = lstatSync(path);
  if (!st.isDirectory()) return false;
  return readdirSync(path).every((n) => onlyFolders(`${path}/${n}`));
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
      const what = await removeTarget(t, j.data.id, tools, portOf);
      j.removed(t);
      if (what) removed.push(what);
    } catch (e) {
      left.push(`${describe(t)}: ${(e as Error).message}`);
    }
  }
  if (!j.data.targets.length) j.close();
  return { removed, left };
}

export function describe(t: Target): string {
  switch (t.kind) {
    case 'database':
      return `database ${t.name} (${t.server})`;
    case 'folder':
      return `folder ${t.path}`;
    case 'namespace':
      return `namespace ${t.name} (context ${t.cluster.context})`;
    case 'secret':
      return `Secret ${t.namespace}/${t.name} (context ${t.cluster.context})`;
  }
}

/** Removes one target if it is still the drill's; what was removed (undefined: it was already gone). */
async function removeTarget(t: Target, drillId: string, tools: Tools, portOf: (ref: ClusterRef) => Promise<SecretsPort>): Promise<string | undefined> {
  switch (t.kind) {
    case 'folder': {
      try {
        lstatSync(t.path);
      } catch {
        return undefined;
      }
      // Journaled but maybe never made: then only an empty folder can be the drill's.
      if (t.state === 'creating' && !onlyFolders(t.path)) throw new VaultError('exists', 'it holds files the drill did not write: left alone');
      if (t.state === 'creating') rmdirTree(t.path);
      else rmSync(t.path, { recursive: true, force: true });
      return describe(t);
    }
    case 'database': {
      const marker = await psqlRead(
        "select coalesce(shobj_description(oid, 'pg_database'), '') from pg_catalog.pg_database where datname = :'name';\n",
        { name: t.name },
        tools,
      );
      if (marker === '') {
        if (!(await databaseExists(t.name, tools))) return undefined;
      }
      if (marker !== markerOf(drillId)) throw new VaultError('exists', 'it is not marked as made by this drill: left alone');
      // WITH (FORCE): connections a killed drill's tools left are ended first.
      await runTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', `name=${t.name}`, '-d', 'postgres'], {
        env: tools.env,
        timeoutMs: tools.timeoutMs,
        input: 'drop database if exists :"name" with (force);\n',
        label: `drop database ${t.name}`,
      });
      return describe(t);
    }
    case 'namespace': {
      const port = await portOf(t.cluster);
      const live = await port.getNamespace(t.name);
      if (!live) return undefined;
      const ours = t.uid ? live.uid === t.uid : live.labels[DRILL_LABEL] === drillId;
      if (!ours) throw new VaultError('exists', 'it is not the namespace the drill created (another uid or label): left alone');
      await port.deleteNamespace(t.name, { uid: live.uid });
      return describe(t);
    }
    case 'secret': {
      const port = await portOf(t.cluster);
      const live = await port.getSecret(t.namespace, t.name);
      if (!live) return undefined;
      if (live.metadata.uid !== t.uid) throw new VaultError('exists', 'it is not the Secret the drill created (another uid): left alone');
      await port.deleteSecret(t.namespace, t.name, { uid: t.uid }, false);
      return describe(t);
    }
  }
}

function rmdirTree(path: string): void {
  for (const n of readdirSync(path)) rmdirTree(`${path}/${n}`);
  rmdirSync(path);
}
