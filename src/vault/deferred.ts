import { closeSync, constants, lstatSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { sweepTempFiles } from '../fs/atomic.js';
import { makeDirs } from '../fs/dirs.js';
import { acquireLock } from '../fs/lock.js';

/**
 * Evidence that could not go into the vault's log when it happened (this
 * copy could not be written: a stale copy, read-only media, a lock held too
 * long, a full disk), kept in the state folder as one JSON line per record
 * (`evidence-deferred/<vault id>.jsonl`, mode 0600; names and places only,
 * never a value) until the next write to that vault on this machine
 * appends it to the log, with the time it happened (docs/FORMAT.md,
 * "Recorded events").
 */
export interface DeferredRecord {
  at: string;
  event: string;
  data: Record<string, unknown>;
  host: string;
  pid: number;
  why: string;
}

const deferredFile = (stateFile: string, vaultId: string) => join(dirname(stateFile), 'evidence-deferred', `${vaultId}.jsonl`);
const VAULT_ID = /^[0-9a-f]{32}$/;
// The file is the tool's own: never written through a link (open fails on one).
const APPEND = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
const REPLACE = constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW;

function writeWith(file: string, flags: number, text: string): void {
  const fd = openSync(file, flags, 0o600);
  try {
    const buf = Buffer.from(text);
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
  } finally {
    closeSync(fd);
  }
}

/**
 * Keeps a record for the next write; returns the file it is kept in. Under
 * the file's lock, as the write that takes records out of it: a record kept
 * while another process carries the earlier ones in is never lost.
 */
export async function deferEvidence(stateFile: string, vaultId: string, r: Omit<DeferredRecord, 'host' | 'pid'>): Promise<string> {
  if (!VAULT_ID.test(vaultId)) throw new Error(`not a vault id: ${vaultId}`);
  const file = deferredFile(stateFile, vaultId);
  makeDirs(dirname(file));
  sweepTempFiles(file);
  const release = await acquireLock(file, 5_000, `the deferred evidence ${file}`);
  try {
    writeWith(file, APPEND, JSON.stringify({ ...r, host: hostname(), pid: process.pid }) + '\n');
  } finally {
    release();
  }
  return file;
}

/**
 * The records kept for a vault, for a write to stage into its log; `done()`
 * once the write went through removes them (records kept meanwhile by
 * another process stay for the next write). Lines that are not records are
 * reported in `bad` and dropped with them.
 */
export function takeDeferred(stateFile: string, vaultId: string): { records: DeferredRecord[]; bad: number; done: () => Promise<void> } | null {
  const file = deferredFile(stateFile, vaultId);
  let text: string;
  try {
    const st = lstatSync(file);
    if (!st.isFile() || st.size > 4 << 20) return null;
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const records: DeferredRecord[] = [];
  let bad = 0;
  for (const line of text.split('\n').filter(Boolean)) {
    try {
      const r = JSON.parse(line) as DeferredRecord;
      if (typeof r.at !== 'string' || typeof r.event !== 'string' || !r.data || typeof r.data !== 'object') throw new Error('shape');
      records.push(r);
    } catch {
      bad++;
    }
  }
  return {
    records,
    bad,
    // Under the file's lock: only the records taken go; those kept meanwhile (appended after them) stay.
    done: async () => {
      let release: (() => void) | undefined;
      try {
        release = await acquireLock(file, 5_000);
        const now = readFileSync(file, 'utf8');
        if (now === text) rmSync(file, { force: true });
        else if (now.startsWith(text)) writeWith(file, REPLACE, now.slice(text.length));
      } catch {
        /* gone already, or locked too long: the next write takes them (again) */
      } finally {
        release?.();
      }
    },
  };
}
