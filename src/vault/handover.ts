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
 * Variables the dynamic loader, a shell or a language runtime reads as its
 * own settings before (or instead of) the command: a key handed over in one
 * is not the command's, and their errors print what they could not use
 * ("ld.so: object '…' from LD_PRELOAD cannot be preloaded", "node: … is not
 * allowed in NODE_OPTIONS"), the value with it, into logs.
 */
const CONFIG_VARIABLES: readonly [RegExp, string][] = [
  [/^(LD_|DYLD_)|^(GCONV_PATH|GLIBC_TUNABLES|LOCPATH|NLSPATH)$/, 'the dynamic loader'],
  [/^(PATH|IFS|ENV|BASH_ENV|SHELLOPTS|BASHOPTS|PS4|CDPATH)$/, 'the shell'],
  [
    /^(NODE_OPTIONS|NODE_PATH|PYTHONSTARTUP|PYTHONPATH|PYTHONHOME|PERL5OPT|PERL5LIB|PERLLIB|RUBYOPT|RUBYLIB|JAVA_TOOL_OPTIONS|_JAVA_OPTIONS|JDK_JAVA_OPTIONS)$/,
    'a language runtime (Node.js, Python, Perl, Ruby, Java)',
  ],
];

/** Refuses to hand a key over in a variable that the loader, a shell or a runtime reads as its own setting. */
export function checkHandoverVariable(name: string): void {
  const by = CONFIG_VARIABLES.find(([re]) => re.test(name))?.[1];
  if (by)
    throw new VaultError('usage', `a key is never handed over in ${name}: ${by} reads it as its own setting, and its errors print the value`, {
      code: 'env-config-variable',
      data: { name },
    });
}

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
  for (const r of requests) if ('env' in r.to) checkHandoverVariable(r.to.env);
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
