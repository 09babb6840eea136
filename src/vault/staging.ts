import { closeSync, constants, fstatSync, fsyncSync, lstatSync, openSync, readdirSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { randomHex } from '../fs/random.js';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { pidAlive, removeQuietly, writeFileAtomic } from '../fs/atomic.js';
import { makeDirs } from '../fs/dirs.js';
import { readFileCapped } from '../fs/read.js';
import type { VaultDocument } from './document-shape.js';
import { readSection } from './sections.js';

/**
 * Where a run that writes secrets into a staging folder (an escrow split:
 * every share in plain text until the set is placed and recorded) says so
 * before writing a byte: one marker file per run in the state folder
 * (`staging/<pid>.<hex>.json` beside seen.json). A run killed before it
 * finished leaves its marker; the next run finds it, removes the staging
 * folder (overwriting each file first), and, once it can see the vault,
 * removes the files the killed run placed if the vault never recorded their
 * share set (nobody received those shares). Only what a marker names is ever
 * removed.
 */
export interface StagingMarker {
  version: 1;
  pid: number;
  host: string;
  vaultId: string;
  /** The staging folder. */
  stage: string;
  /** Where the files go, and each file's final path (the folder itself when it is renamed into place). */
  outDir: string;
  fresh: boolean;
  files: string[];
  /** The share set the staged files belong to. */
  setId: string;
  /** The vault generation the run read (its write, had it happened, made the next one). */
  generation: number;
  createdAt: string;
}

const MARKER = /^(\d+)\.[0-9a-f]{8}\.json$/;
const TMP = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;
const MARKER_LIMIT = 1 << 20;

export const stagingDir = (stateFile: string) => join(dirname(stateFile), 'staging');

/** Writes the marker (before anything is staged); returns a function that removes it once the run is done either way. */
export function writeStagingMarker(stateFile: string, m: Omit<StagingMarker, 'version' | 'pid' | 'host'>): () => void {
  const dir = stagingDir(stateFile);
  makeDirs(dir);
  const path = join(dir, `${process.pid}.${randomHex(4)}.json`);
  const marker: StagingMarker = { version: 1, pid: process.pid, host: hostname(), ...m };
  writeFileAtomic(path, JSON.stringify(marker) + '\n', { ownFile: 'the staging marker' });
  return () => removeQuietly(path);
}

/** Overwrites a regular file with zeros, then unlinks it (best effort: a file that cannot be opened is unlinked as it is). */
export function shredFile(path: string): void {
  try {
    if (!lstatSync(path).isFile()) {
      removeQuietly(path);
      return;
    }
    const fd = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW);
    try {
      const st = fstatSync(fd);
      // A second name (a share linked into place) is judged on its own: only this name goes.
      const size = st.nlink > 1 ? 0 : st.size;
      const zeros = Buffer.alloc(Math.min(size, 1 << 16));
      for (let off = 0; off < size; ) off += writeSync(fd, zeros, 0, Math.min(zeros.length, size - off), off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* unlink it anyway */
  }
  try {
    unlinkSync(path);
  } catch {
    /* gone already */
  }
}

/** shredFile for a file, shredFolder for a folder. */
export function shredPath(path: string): void {
  try {
    if (lstatSync(path).isDirectory()) {
      shredFolder(path);
      return;
    }
  } catch {
    return;
  }
  shredFile(path);
}

/** Removes a folder's files (each overwritten first), then the folder. */
function shredFolder(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(dir, n);
    try {
      if (lstatSync(p).isDirectory()) shredFolder(p);
      else shredFile(p);
    } catch {
      /* gone */
    }
  }
  try {
    rmdirSync(dir);
  } catch {
    removeQuietly(dir);
  }
}

function readMarker(path: string): StagingMarker | null {
  try {
    const m = JSON.parse(readFileCapped(path, 'staging marker', MARKER_LIMIT).toString('utf8')) as StagingMarker;
    const ok =
      m &&
      m.version === 1 &&
      Number.isSafeInteger(m.pid) &&
      typeof m.host === 'string' &&
      typeof m.stage === 'string' &&
      typeof m.outDir === 'string' &&
      typeof m.setId === 'string' &&
      typeof m.vaultId === 'string' &&
      Number.isSafeInteger(m.generation) &&
      Array.isArray(m.files) &&
      m.files.every((f) => typeof f === 'string');
    return ok ? m : null;
  } catch {
    return null;
  }
}

const existing = (p: string) => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

/** The share set ids a vault document has recorded. */
function recordedSets(doc: VaultDocument): Set<string> {
  const e = readSection(doc, 'escrow');
  return new Set([...(e.current ? [e.current.setId] : []), ...e.history.map((h) => h.setId)]);
}

/** The set id a manifest file names, or null. */
function manifestSet(outDir: string): string | null {
  try {
    const m = JSON.parse(readFileCapped(join(outDir, 'manifest.json'), 'the manifest', MARKER_LIMIT).toString('utf8')) as { setId?: unknown };
    return typeof m?.setId === 'string' ? m.setId : null;
  } catch {
    return null;
  }
}

export interface SweepReport {
  /** Staging folders removed. */
  stages: string[];
  /** Placed files removed: a set the vault never recorded. */
  removed: { outDir: string; files: number; setId: string }[];
}

/**
 * Sweeps what runs killed on this host left (see StagingMarker). Without
 * the vault document only staging folders go; with it, the files placed by
 * a run whose set this vault never recorded go too. Best effort: a sweep
 * never fails the command that runs it.
 */
export function sweepStaging(stateFile: string, doc?: VaultDocument): SweepReport {
  const report: SweepReport = { stages: [], removed: [] };
  const dir = stagingDir(stateFile);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return report;
  }
  const host = hostname();
  for (const name of names) {
    const path = join(dir, name);
    const t = TMP.exec(name);
    if (t) {
      if (!pidAlive(Number(t[1]))) removeQuietly(path);
      continue;
    }
    if (!MARKER.test(name)) continue;
    const m = readMarker(path);
    if (!m || m.host !== host || pidAlive(m.pid)) continue;
    if (existing(m.stage)) {
      shredFolder(m.stage);
      report.stages.push(m.stage);
    }
    const placed = m.files.filter(existing);
    if (!placed.length) {
      removeQuietly(path);
      continue;
    }
    // Judged by a run that opens that vault, at the generation the killed run read or later (an older copy cannot tell).
    if (!doc || doc.vaultId !== m.vaultId || !(doc.generation >= m.generation)) continue;
    const set = manifestSet(m.outDir);
    if (!recordedSets(doc).has(m.setId) && (set === null || set === m.setId)) {
      for (const f of placed) shredFile(f);
      if (m.fresh) {
        try {
          rmdirSync(m.outDir);
        } catch {
          /* other files there: not ours */
        }
      }
      report.removed.push({ outDir: m.outDir, files: placed.length, setId: m.setId });
    }
    removeQuietly(path);
  }
  return report;
}
