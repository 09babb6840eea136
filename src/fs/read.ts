import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { VaultError } from '../errors/errors.js';
import { fsError } from './errors.js';

/**
 * The most vault-tool reads of each kind of input, checked before reading
 * (a device such as /dev/zero is read up to the cap, never without bound).
 * docs/CLI.md, "Limits", lists them.
 */
export const LIMITS = {
  vaultFile: 256 << 20,
  keyFile: 64 << 10,
  /** A value file or stdin: read up to 4 MiB, then refused by the 1 MiB rule of values (MAX_VALUE_BYTES) with its message. */
  value: 4 << 20,
  share: 64 << 10,
  /** Manifests, plans, policies, mapping files, dotenv files, kubeconfigs, Secret manifests. */
  text: 16 << 20,
  evidenceLog: 256 << 20,
  stdin: 64 << 20,
  /** seen.json, staging markers. */
  state: 4 << 20,
  /** A lock file: pid, host and time. */
  lock: 4 << 10,
} as const;

export const formatBytes = (n: number) =>
  n >= 1 << 20 && n % (1 << 20) === 0 ? `${n >> 20} MiB` : n >= 1 << 10 && n % (1 << 10) === 0 ? `${n >> 10} KiB` : `${n} bytes`;

/**
 * Reads a whole file, refusing one larger than `limit` before reading it
 * (devices are read up to the limit, never without bound). It is opened
 * without blocking, so a named pipe or socket never hangs the reader (and
 * a signal still stops it): those are refused, as standard input is read
 * only where `-` names it (`dash`: this input takes `-`, and the refusal
 * says so; a vault or key file does not).
 */
export function readFileCapped(path: string, what: string, limit: number = LIMITS.text, o: { dash?: boolean } = {}): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // "share file not found", never "the share file not found".
    if (code === 'ENOENT') throw new VaultError('not-found', `${what.replace(/^(the|a|an) /, '')} not found: ${path}`);
    if (code === 'EACCES') throw new VaultError('io', `${what} is not readable: ${path} (permission denied)`);
    throw fsError(e, `read ${what}`, path);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new VaultError('usage', `${what} is a folder: ${path}`);
    if (st.isFIFO() || st.isSocket())
      throw new VaultError(
        'usage',
        `${what} ${path} is ${st.isFIFO() ? 'a named pipe' : 'a socket'}, not a regular file${o.dash ? ' (give - to read standard input)' : ''}`,
      );
    const tooBig = () => new VaultError('invalid', `${what} ${path} is larger than ${formatBytes(limit)}, the most vault-tool reads for it`);
    if (st.isFile()) {
      if (st.size > limit) throw tooBig();
      return readFileSync(fd);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const b = Buffer.allocUnsafe(Math.min(1 << 20, limit + 1 - total));
      const n = readSync(fd, b, 0, b.length, null);
      if (n === 0) break;
      chunks.push(b.subarray(0, n));
      total += n;
      if (total > limit) throw tooBig();
    }
    return Buffer.concat(chunks, total);
  } catch (e) {
    throw fsError(e, `read ${what}`, path);
  } finally {
    closeSync(fd);
  }
}
