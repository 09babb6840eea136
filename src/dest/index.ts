import { isAbsolute, resolve } from 'node:path';
import { VaultError } from '../errors/errors.js';
import type { Destination, DestOptions } from './dest.js';
import { FolderDestination } from './folder.js';
import { parseRemote, RcloneDestination } from './rclone.js';

export type { Destination, DestOptions, Listed } from './dest.js';

/**
 * The destinations a spec can name, in the order they are tried: a new
 * kind of place is one file implementing `Destination` and one line here.
 */
const KINDS: ((spec: string, cwd: string, io: DestOptions) => Destination | null)[] = [
  // `remote:path` is an rclone remote (a path starting with / or . never is).
  (spec, _cwd, io) => {
    const r = parseRemote(spec);
    return r ? new RcloneDestination(r.remote, r.path, spec, io) : null;
  },
  // Anything else is a local folder, relative to `cwd`.
  (spec, cwd) => new FolderDestination(isAbsolute(spec) ? spec : resolve(cwd, spec)),
];

/** The destination a spec names (`remote:path`, or a folder), reached with `io` (rclone's binary and environment). */
export function parseDestination(spec: string, cwd: string, io: DestOptions): Destination {
  if (!spec) throw new VaultError('usage', 'an empty destination');
  for (const make of KINDS) {
    const d = make(spec, cwd, io);
    if (d) return d;
  }
  throw new VaultError('usage', `${spec}: not a destination`);
}
