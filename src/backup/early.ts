import { PassThrough, pipeline, type Readable } from 'node:stream';
import { type Running, startTool } from '../tool/run.js';

/** A producer's process started before its run, and when. */
export interface Early {
  run: Running;
  at: Date;
  /** Its stdout, taken from the tick it started: what it writes waits here (a pipe's worth, then the tool waits) until the run reads it. */
  out: Readable;
  /** The component's checker, started beside it when it reads stdin: it waits for its input. */
  checker?: Running;
}

/**
 * Starts a producer's process now, as the run would (in vault-tool's own
 * process group, its output taken by the run): a dump tool that only reads
 * starts while the rest is made ready (the vault opened, the repository
 * file made), its first bytes kept in the pipe. Whoever starts one kills it
 * (`run.kill()`) if the run never takes it.
 */
export function startEarly(
  p: { command: string; args: string[]; env: Record<string, string | undefined> },
  at: Date,
  checker?: { kind: string; command?: string; args?: string[]; env?: Record<string, string | undefined>; label: string; fifo?: boolean },
): Early {
  const run = startTool(p.command, p.args, { env: p.env, stdin: 'ignore', group: false, stdoutSays: false, purpose: 'this backup' });
  // Taken in the tick it starts, so nothing it writes is missed (a child's unread stdout is resumed, and lost, when it exits).
  const out = new PassThrough();
  pipeline(run.child.stdout!, out, () => undefined);
  // The checker as the run starts it (pipeline.ts): in vault-tool's process group, what it prints on stdout kept with stderr.
  const check =
    checker?.kind === 'process' && !checker.fifo
      ? startTool(checker.command!, checker.args!, { env: checker.env!, stdin: 'pipe', group: false, stdoutSays: true, purpose: checker.label })
      : undefined;
  return { run, at, out, ...(check ? { checker: check } : {}) };
}

/** Stops what was started early and never taken by its run. */
export function stopEarly(e: Early): void {
  e.run.kill();
  e.checker?.kill();
}
