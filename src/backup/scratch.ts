import { accessSync, constants, lstatSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { makeDirs } from '../fs/dirs.js';
import { holdsObjects, parseRemote, purgeObjects, readObject, writeObject } from '../dest/rclone.js';
import { runTool } from '../tool/run.js';
import type { ScratchKind } from './kind.js';
import { quoteIdent } from './sql.js';

type Env = Record<string, string | undefined>;

/**
 * Scratch targets: what the drill makes to restore backups into, journaled
 * before they are made and removed only when what is there is still what
 * the drill made. Each type is one object: how it is checked before the
 * drill runs, made, described, recognized in a journal, and removed. The
 * backups' two are here (a database, which carries a marker comment naming
 * the drill, set by createdb as it creates it; a folder, one that did not
 * exist before); the drill adds its Kubernetes namespaces and Secrets.
 */
export interface ScratchEntry {
  kind: string;
  state: 'creating' | 'created';
}

/** The journal a scratch target is written into before it is made (the drill's, `drill/journal.ts`). */
export interface ScratchJournal {
  /** The drill's id: a database's marker names it. */
  readonly id: string;
  add<T extends ScratchEntry>(t: T): T;
  created(t: ScratchEntry, extra?: Record<string, unknown>): void;
}

export interface Tools {
  env: Env;
  timeoutMs: number;
  /** Told every tool's process group (journaled). */
  onStart?: (pid: number, label: string) => void;
}

/** What a removal needs: the drill whose targets they are, and the tools' environment and bound. */
export interface RemoveContext {
  drillId: string;
  tools: Tools;
}

export interface ScratchType<T extends ScratchEntry = ScratchEntry, C extends RemoveContext = RemoveContext> {
  kind: T['kind'];
  /** Whether a journal's entry is one of these, whole. */
  valid(x: Record<string, unknown>): boolean;
  describe(t: T): string;
  /** Removes it if it is still the drill's: what was removed, or undefined when it was already gone; an error when it is not the drill's. */
  remove(t: T, c: C): Promise<string | undefined>;
}

/** A step's problem, and what to do about it. */
export interface Problem {
  message: string;
  todo?: string;
}

/** A scratch target a backup is restored into. */
export interface BackupScratch<T extends ScratchEntry = ScratchEntry> extends ScratchType<T> {
  kind: ScratchKind;
  /** The tools making it needs, and the package that has them. */
  tools: { command: string; pkg: string }[];
  /** Why it cannot be made (it exists, the server cannot be reached or refuses), or null; `leftover`: a dead drill made it, and it is removed first. */
  problem(at: string, t: Tools, leftover: boolean): Promise<Problem | null>;
  /** What the plan says it will make. */
  planned(at: string, t: Tools): string;
  /** Makes it, journaled first. */
  create(j: ScratchJournal, at: string, t: Tools): Promise<void>;
  /** Whether a journaled target (of a dead drill) is, or holds, `at`. */
  covers(t: T, at: string): boolean;
}

export const markerOf = (drillId: string) => `vault-tool drill ${drillId}`;

/** The PostgreSQL server the environment points at, for messages and the journal. */
export const serverOf = (env: Env) => `${env.PGHOST ?? 'local socket'}:${env.PGPORT ?? '5432'}`;

/** libpq's environment with every transaction read-only (PGOPTIONS is appended to, not replaced). */
export function readOnly(env: Env): Env {
  return { ...env, PGOPTIONS: `${env.PGOPTIONS ? `${env.PGOPTIONS} ` : ''}-c default_transaction_read_only=on` };
}

/** psql on the maintenance database, read-only, with the query on stdin (psql variables: :'name' quotes a literal). */
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

export async function databaseExists(name: string, t: Tools): Promise<boolean> {
  return (await psqlRead("select count(*) from pg_catalog.pg_database where datname = :'name';\n", { name }, t)) !== '0';
}

/** Whether the role libpq logs in as may create databases. */
export async function mayCreateDatabases(t: Tools): Promise<boolean> {
  return (await psqlRead('select rolcreatedb or rolsuper from pg_catalog.pg_roles where rolname = current_user;\n', {}, t)) === 't';
}

export type DatabaseEntry = { kind: 'database'; name: string; server: string; state: 'creating' | 'created' };
export type FolderEntry = { kind: 'folder'; path: string; state: 'creating' | 'created' };

const str = (x: Record<string, unknown>, k: string) => typeof x[k] === 'string' && (x[k] as string).length > 0;

/** A database on the PostgreSQL server libpq's environment names, created by createdb with the drill's marker as its comment. */
export const scratchDatabase: BackupScratch<DatabaseEntry> = {
  kind: 'database',
  tools: [
    { command: 'psql', pkg: 'postgresql-client' },
    { command: 'createdb', pkg: 'postgresql-client' },
  ],
  valid: (x) => str(x, 'name') && typeof x.server === 'string',
  describe: (t) => `database ${t.name} (${t.server})`,
  covers: (t, at) => t.name === at,
  planned: (at, t) => `database ${at} can be created on ${serverOf(t.env)}`,
  async problem(db, t, leftover) {
    let exists: boolean;
    try {
      exists = await databaseExists(db, t);
    } catch (e) {
      return {
        message: `cannot reach the PostgreSQL server ${serverOf(t.env)}: ${(e as Error).message}`,
        todo: 'check PGHOST, PGPORT, PGUSER and the password',
      };
    }
    if (exists && !leftover)
      return {
        message: `database ${db} exists on ${serverOf(t.env)}: a drill restores only into a database it creates`,
        todo: 'name another scratch database in the plan (backups.restore[].database)',
      };
    if (!(await mayCreateDatabases(t)))
      return { message: `the role libpq logs in as may not create databases on ${serverOf(t.env)}`, todo: 'log in as a role with CREATEDB (PGUSER)' };
    return null;
  },
  async create(j, name, t) {
    const entry = j.add<DatabaseEntry>({ kind: 'database', name, server: serverOf(t.env), state: 'creating' });
    // createdb sets the description (COMMENT ON DATABASE) right after CREATE DATABASE: the marker teardown looks for.
    await runTool('createdb', ['--', name, markerOf(j.id)], {
      env: t.env,
      timeoutMs: t.timeoutMs,
      label: `createdb ${name}`,
      ...(t.onStart ? { onStart: (pid: number) => t.onStart!(pid, `createdb ${name}`) } : {}),
    });
    j.created(entry);
  },
  async remove(t, { drillId, tools }) {
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
    await runTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres'], {
      env: tools.env,
      timeoutMs: tools.timeoutMs,
      input: `drop database if exists ${quoteIdent(t.name)} with (force);\n`,
      label: `drop database ${t.name}`,
    });
    return scratchDatabase.describe(t);
  },
};

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

/** Only folders inside (nothing a restore wrote). */
function onlyFolders(path: string): boolean {
  const st = lstatSync(path);
  if (!st.isDirectory()) return false;
  return readdirSync(path).every((n) => onlyFolders(`${path}/${n}`));
}

function rmdirTree(path: string): void {
  for (const n of readdirSync(path)) rmdirTree(`${path}/${n}`);
  rmdirSync(path);
}

/** A folder that did not exist: the outermost missing one is journaled, and removed whole. */
export const scratchFolder: BackupScratch<FolderEntry> = {
  kind: 'folder',
  tools: [],
  valid: (x) => str(x, 'path') && (x.path as string).startsWith('/'),
  describe: (t) => `folder ${t.path}`,
  covers: (t, at) => at === t.path || at.startsWith(`${t.path}/`),
  planned: (at) => `folder ${at} can be created`,
  async problem(path, _t, leftover) {
    const problem = leftover ? null : folderProblem(path);
    return problem
      ? { message: problem, todo: 'name a folder that does not exist yet (backups.restore[].dir): the drill creates it and removes it afterwards' }
      : null;
  },
  async create(j, path) {
    const top = outermostMissing(path);
    if (!top) throw new VaultError('exists', `${path} exists: a drill restores only into a folder it creates`);
    const entry = j.add<FolderEntry>({ kind: 'folder', path: top, state: 'creating' });
    makeDirs(path);
    j.created(entry);
  },
  async remove(t) {
    try {
      lstatSync(t.path);
    } catch {
      return undefined;
    }
    // Journaled but maybe never made: then only an empty folder can be the drill's.
    if (t.state === 'creating' && !onlyFolders(t.path)) throw new VaultError('exists', 'it holds files the drill did not write: left alone');
    if (t.state === 'creating') rmdirTree(t.path);
    else rmSync(t.path, { recursive: true, force: true });
    return scratchFolder.describe(t);
  },
};

export type PrefixEntry = { kind: 'prefix'; spec: string; state: 'creating' | 'created' };

/** The object a scratch prefix holds to say which drill made it (teardown removes only a prefix that holds it). */
export const PREFIX_MARKER = '.vault-tool-drill';

/**
 * A prefix of a bucket on an rclone remote (`remote:bucket/drill-x`) that
 * holds nothing: journaled, then marked by an object naming the drill;
 * removed whole (`rclone purge`) only while that object still names it.
 */
export const scratchPrefix: BackupScratch<PrefixEntry> = {
  kind: 'prefix',
  tools: [{ command: 'rclone', pkg: 'rclone' }],
  valid: (x) => str(x, 'spec') && parseRemote(x.spec as string) !== null,
  describe: (t) => `prefix ${t.spec}`,
  covers: (t, at) => at === t.spec || at.startsWith(`${t.spec}/`),
  planned: (at) => `prefix ${at} holds nothing and can be used`,
  async problem(spec, t, leftover) {
    if (!parseRemote(spec)) return { message: `${spec} is not REMOTE:BUCKET/PREFIX`, todo: 'name a prefix on an rclone remote (backups.restore[].prefix)' };
    if (leftover) return null;
    try {
      if (await holdsObjects({ env: t.env }, spec))
        return {
          message: `${spec} holds objects: a drill restores only into a prefix that holds nothing`,
          todo: 'name another scratch prefix in the plan (backups.restore[].prefix)',
        };
    } catch (e) {
      return { message: `cannot reach ${spec}: ${(e as Error).message}`, todo: 'check the remote name, its credentials and the network' };
    }
    return null;
  },
  async create(j, spec, t) {
    const entry = j.add<PrefixEntry>({ kind: 'prefix', spec, state: 'creating' });
    const marker = Buffer.from(markerOf(j.id));
    const w = writeObject({ env: t.env }, `${spec}/${PREFIX_MARKER}`, marker.length);
    w.stream.end(marker);
    await w.done;
    j.created(entry);
  },
  async remove(t, { drillId, tools }) {
    const io = { env: tools.env };
    if (!(await holdsObjects(io, t.spec))) return undefined;
    const parts: Buffer[] = [];
    const r = readObject(io, `${t.spec}/${PREFIX_MARKER}`, 1024);
    for await (const c of r.stream) parts.push(c as Buffer);
    await r.ended;
    // Decoded whole: a character cut between two reads is kept.
    const marker = Buffer.concat(parts).toString('utf8');
    if (marker !== markerOf(drillId)) throw new VaultError('exists', `it does not hold ${PREFIX_MARKER} naming this drill: left alone`);
    await purgeObjects(io, t.spec);
    return scratchPrefix.describe(t);
  },
};

/** The scratch targets backups are restored into, by kind. */
export const BACKUP_SCRATCH: Record<ScratchKind, BackupScratch> = {
  database: scratchDatabase as unknown as BackupScratch,
  folder: scratchFolder as unknown as BackupScratch,
  prefix: scratchPrefix as unknown as BackupScratch,
};
