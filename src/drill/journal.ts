import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { pidAlive, removeQuietly, sweepTempFiles, writeFileAtomic } from '../fs/atomic.js';
import { makeDirs } from '../fs/dirs.js';
import { randomHex } from '../fs/random.js';
import { LIMITS, readFileCapped } from '../fs/read.js';
import type { ScratchEntry, ScratchJournal } from '../backup/scratch.js';
import { isTarget, type Target } from './targets.js';

export type { ClusterRef, Target } from './targets.js';
import { fileStamp } from '../vault/time.js';

/**
 * The drill's journal: one file per drill in the state folder
 * (`drills/<id>.json` beside seen.json), naming every scratch target the
 * drill makes, written BEFORE the target is created (state `creating`) and
 * again once it exists (state `created`, with what identifies it: a
 * namespace's uid, a database's marker comment), and every tool process
 * group it starts. A drill that is killed outright leaves its journal; the
 * next drill, or `drill teardown`, reads it and removes exactly what it
 * names, and nothing else. Holds names only, never data or secrets.
 */
export interface Journal {
  version: 1;
  id: string;
  pid: number;
  /** The process's start time (Linux: /proc), so a reused pid is not taken for the drill. */
  pidStart?: string;
  host: string;
  startedAt: string;
  plan: string;
  /** The drill ended with --keep: its targets stay until `drill teardown`. */
  kept?: { at: string };
  targets: Target[];
  processes: { pid: number; start?: string; label: string }[];
}

export const journalDir = (stateFile: string) => join(dirname(stateFile), 'drills');

/** A process's start time in clock ticks since boot (field 22 of /proc/PID/stat); undefined where there is no /proc. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote a journal (or started a tool) is still the one running under that pid. */
export function stillRunning(pid: number, start: string | undefined): boolean {
  if (!pidAlive(pid)) return false;
  if (start === undefined) return true;
  const now = processStart(pid);
  return now === undefined || now === start;
}

/** The journals this process has open (a library user may run several drills in one process, one after another). */
const open = new Set<string>();

/** An open journal, written through on every change. */
export class JournalFile implements ScratchJournal {
  readonly path: string;
  readonly data: Journal;
  constructor(path: string, data: Journal) {
    this.path = path;
    this.data = data;
  }

  static create(stateFile: string, plan: string, now: Date): JournalFile {
    const dir = journalDir(stateFile);
    makeDirs(dir);
    const id = `${fileStamp(now)}-${process.pid}-${randomHex(3)}`;
    const start = processStart(process.pid);
    const j = new JournalFile(join(dir, `${id}.json`), {
      version: 1,
      id,
      pid: process.pid,
      ...(start ? { pidStart: start } : {}),
      host: hostname(),
      startedAt: now.toISOString(),
      plan,
      targets: [],
      processes: [],
    });
    j.save();
    open.add(j.path);
    return j;
  }

  get id(): string {
    return this.data.id;
  }

  save(): void {
    writeFileAtomic(this.path, `${JSON.stringify(this.data, null, 2)}\n`, { mode: 0o600, ownFile: 'the drill journal' });
  }

  /** Records a target before it is created; returns the entry, to mark it created. */
  add<T extends ScratchEntry>(t: T): T {
    this.data.targets.push(t as unknown as Target);
    this.save();
    return t;
  }

  created(t: ScratchEntry, extra: Record<string, unknown> = {}): void {
    Object.assign(t, extra, { state: 'created' });
    this.save();
  }

  removed(t: Target): void {
    this.data.targets = this.data.targets.filter((x) => x !== t);
    this.save();
  }

  process(pid: number, label: string): void {
    const start = processStart(pid);
    this.data.processes.push({ pid, ...(start ? { start } : {}), label });
    this.save();
  }

  keep(now: Date): void {
    this.data.kept = { at: now.toISOString() };
    this.data.processes = [];
    this.save();
    open.delete(this.path);
  }

  /** The drill is over but left targets (a teardown that failed): the journal stays for the next one. */
  release(): void {
    open.delete(this.path);
  }

  /** Everything is gone: the journal goes too. */
  close(): void {
    removeQuietly(this.path);
    open.delete(this.path);
  }
}

/** The journals in the state folder: those of drills that are over (killed, or kept), and those still running. */
export function readJournals(stateFile: string): { over: JournalFile[]; running: Journal[] } {
  const dir = journalDir(stateFile);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^[0-9TZ]+-\d+-[0-9a-f]{6}\.json$/.test(n));
  } catch {
    return { over: [], running: [] };
  }
  // A drill killed while it rewrote its journal leaves the temp file beside it.
  sweepTempFiles(...names.map((n) => join(dir, n)));
  const over: JournalFile[] = [];
  const running: Journal[] = [];
  for (const n of names.sort()) {
    const path = join(dir, n);
    let j: Journal;
    try {
      j = JSON.parse(readFileCapped(path, 'a drill journal', LIMITS.state).toString('utf8')) as Journal;
    } catch (e) {
      throw new VaultError('invalid', `the drill journal ${path} cannot be read (${(e as Error).message}): move it away once its targets are checked by hand`);
    }
    if (j?.version !== 1 || !Array.isArray(j.targets) || !Array.isArray(j.processes) || !j.targets.every(isTarget))
      throw new VaultError('invalid', `the drill journal ${path} is not one this vault-tool wrote: move it away once its targets are checked by hand`);
    const mine = j.pid === process.pid && j.host === hostname();
    if (!j.kept && (mine ? open.has(path) : j.host === hostname() && stillRunning(j.pid, j.pidStart))) running.push(j);
    else over.push(new JournalFile(path, j));
  }
  return { over, running };
}
