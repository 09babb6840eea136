import { createWriteStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VaultError } from '../errors/errors.js';
import { externalTimeoutMs, timeoutText } from '../tool/bound.js';
import { makeFifo } from '../tool/fifo.js';
import { runTool, startTool, toolTimedOut } from '../tool/run.js';
import type { Beside } from './kind.js';
import type { Consumer } from './pipeline.js';

type Env = Record<string, string | undefined>;

/** A dump tool's version (the first line of `--version`), for the manifest; a tool that is missing, hangs or fails says so. */
export async function versionOf(cmd: string, env: Env): Promise<string> {
  const ms = externalTimeoutMs(env);
  try {
    return (await runTool(cmd, ['--version'], { env, timeoutMs: ms })).split('\n')[0]!.trim();
  } catch (e) {
    if (!(e instanceof VaultError) || e.code === 'tool-missing') throw e;
    if (e.code === 'tool-timeout')
      throw new VaultError('backup-failed', `${cmd} did not say its version within ${timeoutText(ms)}: it was stopped`, {
        code: 'external-timeout',
        data: { timeout: timeoutText(ms) },
      });
    throw new VaultError('backup-failed', `${cmd} could not say its version: ${e.message.split('\n')[0]}`);
  }
}

/**
 * A dump tool's version asked beside its dump rather than before it (both
 * start together; `--version` answers long before any dump ends): the
 * manifest's version once the dump is done, and when the dump failed, the
 * version's own failure as the cause (the tool missing).
 */
export function versionBeside(cmd: string, env: Env): Beside {
  const version = versionOf(cmd, env);
  version.catch(() => undefined);
  return {
    estimate: async () => undefined,
    settle: () => version,
    explain: (e) =>
      version.then(
        () => e,
        (cause: unknown) => cause,
      ),
  };
}

/**
 * A process consumer (the pipeline's `process` kind) run as every external
 * program is (`tool/run.ts`): with a time bound, in its own process group.
 * The plaintext goes to its stdin (or a named pipe for `{input}`), and its
 * exit status is the verdict. Other consumers are returned as they are.
 */
export function bounded(c: Consumer, o: { timeoutMs: number; onStart?: (pid: number) => void }): Consumer {
  if (c.kind !== 'process') return c;
  return {
    kind: 'inline',
    label: c.label,
    consume: async (r: Readable) => {
      const pipe = c.fifo ? makeFifo() : undefined;
      const args = pipe ? c.args.map((a) => (a === '{input}' ? pipe.path : a)) : c.args;
      // A checker reading a pipe reports on stdout too (redis-check-rdb does).
      const run = startTool(c.command, args, {
        env: c.env,
        stdin: pipe ? 'ignore' : 'pipe',
        stdoutSays: true,
        bound: { ms: o.timeoutMs },
        onExpire: () => r.destroy(),
        ...(o.onStart ? { onStart: o.onStart } : {}),
      });
      // If the checker dies before opening the pipe, our open would wait for ever: open it once for reading to release it.
      run.exited.finally(() => pipe?.release()).catch(() => undefined);
      const sink: Writable = pipe ? createWriteStream(pipe.path) : run.child.stdin!;
      sink.on('error', () => undefined);
      try {
        const flow = pipeline(r, sink).then(
          () => null,
          (e: unknown) => {
            // Not the tool closing its input: the data stopped (a decryption error, the caller gave up); stop the tool too.
            const code = (e as NodeJS.ErrnoException).code;
            if (code !== 'EPIPE' && code !== 'ERR_STREAM_PREMATURE_CLOSE') run.kill();
            return e;
          },
        );
        const [flowError, exit] = await Promise.all([flow, run.exited]);
        if (run.expired) throw toolTimedOut(c.label, o.timeoutMs);
        if (exit.signal || exit.code !== 0) {
          const why = run.why();
          throw new VaultError(
            'verify-failed',
            `${c.label} failed (${exit.signal ? `killed by ${exit.signal}` : `exit ${exit.code}`})${why ? `: ${why}` : ''}`,
          );
        }
        // The tool succeeded but stopped reading before the end: it has not seen everything.
        if (flowError) {
          const e = flowError as NodeJS.ErrnoException;
          if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_PREMATURE_CLOSE')
            throw new VaultError('verify-failed', `${c.label} stopped reading before the end of the data`);
          throw e;
        }
      } finally {
        run.kill();
        pipe?.remove();
      }
    },
  };
}
