import type { ChildProcess } from 'node:child_process';
import { parseDuration, formatDuration } from '../vault/duration.js';

/**
 * Every external program vault-tool runs (rclone, the dump tools, their
 * checkers, psql, redis-cli) has a bound: it is stopped once it goes this
 * long without making progress (no byte read or written; for a short call,
 * without finishing), and the check or backup it served fails as
 * unreachable. The environment variable VAULT_TOOL_TIMEOUT sets it (one
 * duration, default 5m, as rclone's own --timeout).
 */
export const TIMEOUT_VARIABLE = 'VAULT_TOOL_TIMEOUT';
const DEFAULT_MS = 5 * 60_000;

type Env = Record<string, string | undefined>;

export function externalTimeoutMs(env: Env | undefined): number {
  const v = env?.[TIMEOUT_VARIABLE];
  if (v === undefined || v === '') return DEFAULT_MS;
  return parseDuration(v, { what: TIMEOUT_VARIABLE }).ms || DEFAULT_MS;
}

/** The bound as people read it (`5m`, `2s`). */
export const timeoutText = (ms: number) => formatDuration({ ms, months: 0 });

/**
 * Fires once `ms` pass without a kick. Unreferenced: it never keeps the
 * process alive by itself.
 */
export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  fired = false;
  constructor(
    readonly ms: number,
    private readonly onExpire: () => void,
  ) {
    this.timer = setTimeout(() => this.expire(), ms);
    this.timer.unref();
  }
  private expire(): void {
    if (this.fired || !this.timer) return;
    this.fired = true;
    this.timer = undefined;
    this.onExpire();
  }
  kick(): void {
    this.timer?.refresh();
  }
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Stops a child for good: SIGKILL, and its pipes closed on our side, so a
 * grandchild that kept them open (a shell script's `sleep`) can no longer
 * keep anything waiting.
 */
export function killChild(child: ChildProcess): void {
  try {
    child.kill('SIGKILL');
  } catch {
    /* already gone */
  }
  child.stdin?.destroy();
  child.stdout?.destroy();
  child.stderr?.destroy();
}
