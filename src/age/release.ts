import type * as WorkerThreads from 'node:worker_threads';
import type { Release } from './kernel.js';

/**
 * Frees a buffer now rather than at the next garbage collection.
 *
 * node:crypto returns every 64 KiB chunk it seals or opens in a fresh
 * buffer, and V8 frees such buffers only when a collection runs, which it
 * starts after about 64 MiB of them per thread: a stream would hold that
 * much dead ciphertext in every thread. Transferring a buffer through a
 * closed MessagePort detaches it and drops its memory on the spot (a
 * transfer always detaches, whether or not the port can deliver, as HTML's
 * postMessage requires), so the next chunk reuses the same memory, already
 * mapped. Only buffers that own their whole memory are released (never a
 * slice of a pool); when a transfer is refused, the garbage collector frees
 * the buffer as before.
 *
 * Self-contained (its argument and globals only): the worker threads run its
 * source text too.
 */
export function makeRelease(channel: typeof WorkerThreads.MessageChannel): Release {
  const { port1, port2 } = new channel();
  port1.close();
  port2.close();
  return (b) => {
    if (b.byteLength < 4096 || b.byteOffset !== 0 || b.buffer.byteLength !== b.byteLength) return;
    try {
      port1.postMessage(null, [b.buffer as ArrayBuffer]);
    } catch {
      // Not transferable: the garbage collector frees it.
    }
  };
}

let mine: Release | null = null;

/** The calling thread's release (worker_threads is loaded only when a stream first needs it: it costs start-up time). */
export function release(b: Uint8Array): void {
  mine ??= makeRelease((process.getBuiltinModule('node:worker_threads') as typeof WorkerThreads).MessageChannel);
  mine(b);
}
