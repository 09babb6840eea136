import type * as NodeCrypto from 'node:crypto';

/**
 * The STREAM work on a run of whole chunks: seal or open many 64 KiB chunks
 * into a buffer the caller gives. The same two functions run in-process and
 * in the worker threads (workers.ts sends their source text to each
 * worker), so they are self-contained: they use only their arguments and
 * globals (no imports, no constants from outside, no inner functions), and
 * they report failures as codes instead of throwing the library's errors.
 *
 * node:crypto hands every chunk's output back in a fresh buffer; the kernel
 * copies it into `out` and gives it to `release` at once (see release.ts),
 * so that its memory is reused by the next chunk instead of waiting for the
 * garbage collector.
 */
export type CipherFns = Pick<typeof NodeCrypto, 'createCipheriv' | 'createDecipheriv'>;

/** Frees a buffer the kernel no longer needs (or does nothing: the garbage collector then frees it). */
export type Release = (b: Uint8Array) => void;

/** The result of opening a run of chunks: how much plaintext verified (written to the start of `out`), and why it stopped. */
export interface Opened {
  /** Bytes of plaintext whose tags verified. */
  len: number;
  /** Chunks whose tag verified (the last chunk included). */
  chunks: number;
  /** A chunk verified as the final one. */
  last: boolean;
  /** Why opening stopped early: see openFailure in stream.ts. */
  failure: '' | 'auth' | 'short' | 'empty-final' | 'trailing' | 'no-final';
  /** The counter of the chunk that failed. */
  at: number;
}

/**
 * Seals `input` as chunks counter, counter+1, … into `out` (at least
 * input.length + 16 bytes per chunk) and returns the bytes written; with
 * `final`, the last chunk (possibly empty, possibly short) carries the
 * last-chunk flag, otherwise input.length must be a multiple of 64 KiB.
 */
export function sealChunks(c: CipherFns, key: Uint8Array, counter: number, input: Uint8Array, final: boolean, out: Uint8Array, release: Release): number {
  const size = 65536;
  const len = input.byteLength;
  const n = final ? Math.max(1, Math.ceil(len / size)) : len / size;
  const nonce = Buffer.alloc(12);
  let o = 0;
  for (let i = 0; i < n; i++) {
    const start = i * size;
    const end = Math.min(len, start + size);
    nonce.writeUIntBE(counter + i, 5, 6);
    nonce[11] = final && i === n - 1 ? 1 : 0;
    const cipher = c.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    const ct = cipher.update(input.subarray(start, end));
    cipher.final();
    out.set(ct, o);
    o += ct.byteLength;
    release(ct);
    out.set(cipher.getAuthTag(), o);
    o += 16;
  }
  return o;
}

/**
 * Opens `input` as chunks counter, counter+1, …, writing a chunk's
 * plaintext into `out` (at least as long as `input`) only after its tag
 * verifies. A full-size chunk is tried as a middle chunk, then as the final
 * one (as age does); a short chunk can only be the final one, so it appears
 * only with `final`. Without `final`, input.length must be a multiple of
 * 64 KiB + 16. Stops at the first failure, keeping what verified before it.
 */
export function openChunks(c: CipherFns, key: Uint8Array, counter: number, input: Uint8Array, final: boolean, out: Uint8Array, release: Release): Opened {
  const full = 65536 + 16;
  const len = input.byteLength;
  const nonce = Buffer.alloc(12);
  let o = 0;
  let pos = 0;
  let i = 0;
  while (pos < len) {
    const clen = Math.min(full, len - pos);
    if (clen < 17 && !(clen === 16 && counter + i === 0)) {
      // Shorter than a tag, or an empty final chunk after data.
      const failure = clen < 16 ? 'short' : 'empty-final';
      return { len: o, chunks: i, last: false, failure, at: counter + i };
    }
    const ct = input.subarray(pos, pos + clen - 16);
    const tag = input.subarray(pos + clen - 16, pos + clen);
    let ok = false;
    let last = false;
    // A full chunk is first tried as a middle chunk; a short one is the final chunk or nothing.
    for (let attempt = clen === full ? 0 : 1; attempt < 2 && !ok; attempt++) {
      nonce.writeUIntBE(counter + i, 5, 6);
      nonce[11] = attempt;
      const d = c.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      d.setAuthTag(tag);
      const p = d.update(ct);
      try {
        d.final();
        out.set(p, o);
        o += p.byteLength;
        ok = true;
        last = attempt === 1;
      } catch {
        ok = false;
      }
      release(p);
    }
    if (!ok) return { len: o, chunks: i, last: false, failure: 'auth', at: counter + i };
    pos += clen;
    i++;
    if (last) {
      const failure = pos < len ? 'trailing' : '';
      return { len: o, chunks: i, last: true, failure, at: counter + i };
    }
  }
  return { len: o, chunks: i, last: false, failure: final ? 'no-final' : '', at: counter + i };
}
