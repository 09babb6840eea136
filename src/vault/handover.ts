import { VaultError } from '../errors/errors.js';
import { getVersion } from './entries.js';
import { recordEvidence } from './evidence.js';
import { changed, updateVault, type StoreOptions, type VaultPaths } from './store.js';

/** Where a process gets an entry: an environment variable, or a file descriptor it reads. */
export type HandoverTarget = { env: string } | { fd: number };

export interface HandoverRequest {
  to: HandoverTarget;
  entry: string;
  /** An older version; the current one when absent. */
  version?: number;
}

export interface HandedOver {
  to: HandoverTarget;
  entry: string;
  version: number;
  value: Buffer;
}

/** A variable name a shell can expand. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The values of entries for a process that is about to start (a command
 * run with them, a dump tool), read under the vault's lock: nothing in the
 * vault changes but the evidence log, where a `run` record names the
 * command, and each entry, version and where it goes, never a value. The
 * record is written before anything is handed over: a process that gets a
 * key has always been recorded. A value an environment variable cannot
 * carry (a NUL byte, or bytes that are not UTF-8 text) is refused.
 */
export async function handOver(
  paths: VaultPaths,
  store: StoreOptions,
  requests: HandoverRequest[],
  o: { command: string; component?: string; now: Date },
): Promise<HandedOver[]> {
  if (!requests.length) return [];
  return updateVault(paths, store, (doc) => {
    const out = requests.map((r) => {
      const got = getVersion(doc, r.entry, r.version);
      if ('env' in r.to) {
        const text = got.value.toString('utf8');
        if (!Buffer.from(text, 'utf8').equals(got.value) || text.includes('\0'))
          throw new VaultError('invalid', `${r.entry}@${got.version.version} is binary data, which an environment variable cannot carry`, {
            code: 'env-binary',
            data: { entry: r.entry },
          });
      }
      return { to: r.to, entry: r.entry, version: got.version.version, value: got.value };
    });
    recordEvidence(
      doc,
      'run',
      {
        command: o.command,
        ...(o.component ? { component: o.component } : {}),
        entries: out.map((h) => ({ entry: h.entry, version: h.version, ...h.to })),
      },
      o.now,
    );
    return changed(out);
  });
}
