import { performance } from 'node:perf_hooks';
import type { OnProgress, Progress } from '../fs/progress.js';
import { formatSeconds } from '../vault/duration.js';
import type { Io } from './io.js';
import { escapeControl } from './report.js';

/**
 * The one progress reporter of the command line. Every long step (a
 * backup, a restore, a full read, a copy, a drill's steps) reports through
 * the library's `OnProgress` callbacks into it, and it shows them:
 *
 * - on a terminal (stderr): one line, rewritten in place, at most four
 *   times a second and once a second while nothing moves: the step and
 *   what it is on, the phase, bytes, rate, elapsed time and an ETA (from
 *   the exact size when it is known, else from the last backup of the same
 *   component); erased before anything else is printed and when the step
 *   ends;
 * - with `--json`: one JSON line per event on stderr (stdout keeps the
 *   command's result), every event of one shape (docs/CLI.md, "Progress"):
 *   `start`, `running` (at most once a second, and at each new phase),
 *   then `done` or `failed`;
 * - anywhere else (a pipe, a log): nothing.
 */
export type ProgressMode = 'tty' | 'json' | 'off';

export interface ProgressEvent {
  type: 'progress';
  /** What kind of work: backup, restore, verify, copy, drill. */
  step: string;
  /** What it is on: a component, a backup, a drill step. */
  item: string;
  state: 'start' | 'running' | 'done' | 'failed';
  phase: string | null;
  bytes: number | null;
  /** The bytes of the phase, when known exactly. */
  total: number | null;
  /** The bytes expected from the last backup of the same component. */
  estimate: number | null;
  /** Since the item started. */
  seconds: number;
  /** Bytes a second in this phase. */
  rate: number | null;
  /** Seconds left in this phase, from `total` or else `estimate` (or, for work counted in items, from `of`). */
  eta: number | null;
  /** Work counted in items (Secrets applied): how many are done, of how many. */
  count: number | null;
  of: number | null;
}

interface Task {
  step: string;
  item: string;
  phase: string | null;
  bytes: number | null;
  total: number | null;
  estimate: number | null;
  count: number | null;
  of: number | null;
  started: number;
  phaseStarted: number;
}

const UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 512 bytes, 3.4 KiB, 172.1 MiB. */
export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(1)} ${UNITS[i]}`;
}

export class ProgressReporter {
  private task: Task | undefined;
  /** The line the terminal shows now ('' when none). */
  private shown = '';
  private lastDraw = -Infinity;
  private lastEvent = -Infinity;
  /** The item moved since its last event. */
  private dirty = false;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly io: Pick<Io, 'stderr'>,
    readonly mode: ProgressMode,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Begins an item of a step (ending the one before it, as done). */
  begin(step: string, item: string, o: { estimate?: number } = {}): void {
    if (this.mode === 'off') return;
    if (this.task) this.end(true);
    const now = this.clock();
    this.task = { step, item, phase: null, bytes: null, total: null, estimate: o.estimate ?? null, count: null, of: null, started: now, phaseStarted: now };
    this.emit('start');
    if (this.mode === 'tty' && !this.timer) {
      // Elapsed time moves on while a phase waits (a server preparing a snapshot): redrawn once a second.
      this.timer = setInterval(() => this.draw(false), 1000);
      this.timer.unref?.();
    }
  }

  /** What the library reports: a new item begins a new one of the same step; a new phase restarts the rate. */
  update(step: string, p: Progress): void {
    if (this.mode === 'off') return;
    if (p.item !== undefined && p.item !== this.task?.item) this.begin(step, p.item);
    const t = this.task;
    if (!t) return;
    if (p.failed) return this.end(false);
    const newPhase = p.phase !== undefined && p.phase !== t.phase;
    if (newPhase) {
      // The phase before ends where it got to: its last bytes are said before the new one starts (JSON).
      if (this.dirty && t.phase !== null) this.emit('running');
      t.phase = p.phase!;
      t.phaseStarted = this.clock();
      t.bytes = null;
      t.total = null;
      t.count = null;
      t.of = null;
    }
    if (p.bytes !== undefined) t.bytes = p.bytes;
    if (p.total !== undefined) t.total = p.total;
    if (p.count !== undefined) t.count = p.count;
    if (p.of !== undefined) t.of = p.of;
    this.dirty = true;
    if (newPhase) this.emit('running');
    else if (this.clock() - this.lastEvent >= 1000) this.emit('running');
    this.draw(newPhase);
  }

  /** The callback a library call is given, for a step. */
  callback(step: string): OnProgress {
    return (p) => this.update(step, p);
  }

  /** The item is over: its line erased, its `done` (or `failed`) event written. */
  end(ok: boolean): void {
    if (!this.task) return;
    this.emit(ok ? 'done' : 'failed');
    this.clear();
    this.task = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Erases the terminal line (before other output is written); the next update draws it again. */
  clear(): void {
    if (!this.shown) return;
    this.io.stderr.write('\r\u001b[K');
    this.shown = '';
    this.lastDraw = -Infinity;
  }

  /** The event the current item stands at. */
  private event(state: ProgressEvent['state']): ProgressEvent {
    const t = this.task!;
    const now = this.clock();
    const phaseSeconds = (now - t.phaseStarted) / 1000;
    const rate = t.bytes !== null && phaseSeconds > 0.05 ? t.bytes / phaseSeconds : null;
    const target = t.total ?? t.estimate;
    const perItem = t.count && phaseSeconds > 0.05 ? phaseSeconds / t.count : null;
    const eta =
      rate && target !== null && t.bytes !== null && target > t.bytes
        ? (target - t.bytes) / rate
        : perItem !== null && t.of !== null && t.count !== null && t.of > t.count
          ? (t.of - t.count) * perItem
          : null;
    return {
      type: 'progress',
      step: t.step,
      item: t.item,
      state,
      phase: t.phase,
      bytes: t.bytes,
      total: t.total,
      estimate: t.estimate,
      seconds: Math.round((now - t.started) / 100) / 10,
      rate: rate === null ? null : Math.round(rate),
      eta: eta === null ? null : Math.round(eta * 10) / 10,
      count: t.count,
      of: t.of,
    };
  }

  private emit(state: ProgressEvent['state']): void {
    if (this.mode !== 'json' || !this.task) return;
    this.lastEvent = this.clock();
    this.dirty = false;
    const e = this.event(state);
    // As on a terminal: a name read from a repository or a path (the item, a phase naming a folder) carries no control character (JSON escapes only C0 ones).
    this.io.stderr.write(`${JSON.stringify({ ...e, item: escapeControl(e.item), phase: e.phase === null ? null : escapeControl(e.phase) })}\n`);
  }

  /** `restore postgres/app: checking in full: 12.0 MiB of 172.1 MiB, 40.2 MiB/s, 3s, ETA 4s`. */
  private line(): string {
    const e = this.event('running');
    const parts: string[] = [];
    if (e.bytes !== null) {
      // ~: the size of the last backup of the component, an estimate; without ~: the exact size.
      const of = e.total !== null ? ` of ${formatBytes(e.total)}` : e.estimate !== null ? ` of ~${formatBytes(e.estimate)}` : '';
      parts.push(`${formatBytes(e.bytes)}${of}`);
      if (e.rate !== null) parts.push(`${formatBytes(e.rate)}/s`);
    }
    if (e.count !== null) parts.push(`${e.count}${e.of !== null ? ` of ${e.of}` : ''}`);
    parts.push(formatSeconds(e.seconds));
    if (e.eta !== null) parts.push(`ETA ${formatSeconds(Math.max(1, Math.round(e.eta)))}`);
    else if (e.total === null && e.estimate !== null && e.bytes !== null && e.bytes > e.estimate) parts.push('more than the last backup');
    // A backup by its component on the line (the file was named when it was chosen; the JSON events name it).
    const item = e.item.replace(/\/\d{8}T\d{6}Z-[0-9a-f]{8}\.[a-z0-9.]+\.age$/, '');
    return `${e.step} ${item}${e.phase ? `: ${e.phase}` : ''}: ${parts.join(', ')}`;
  }

  private draw(now: boolean): void {
    if (this.mode !== 'tty' || !this.task) return;
    if (!now && this.clock() - this.lastDraw < 250) return;
    this.lastDraw = this.clock();
    const columns = (this.io.stderr as { columns?: number }).columns;
    // A terminal that does not say its width (a pty made by script(1) says 0): a line of 100 characters.
    const width = columns && columns > 20 ? columns : 100;
    // A name read from a repository or a path (the item, a phase naming a folder) cannot move the cursor or rewrite the line.
    const text = escapeControl(this.line());
    const line = text.length >= width ? `${text.slice(0, Math.max(10, width - 2))}…` : text;
    if (line === this.shown) return;
    this.io.stderr.write(`\r${line}\u001b[K`);
    this.shown = line;
  }
}

/** The mode a run's progress takes: a terminal on stderr shows it, --json writes its events, anything else is quiet. */
export function progressMode(io: Pick<Io, 'stderrIsTTY'>, json: boolean): ProgressMode {
  return json ? 'json' : io.stderrIsTTY ? 'tty' : 'off';
}
