import { basename } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { GUARDED, KIND_NAME, sniffFile } from '../fs/replace.js';
import { resolvePaths } from '../fs/target.js';

/**
 * The files a vault and its key bring beside them, each as a test of a path:
 * the vault's lock and evidence log (and logs set aside), the key's pending
 * rekey (`.new`), the keys kept after a rekey (`.old-<id>`) or a combine
 * (`.replaced-<time>`), and its evidence waiting for a vault.
 */
const companions = (file: string, of: string, names: readonly string[], prefixes: readonly string[]): boolean =>
  names.some((n) => file === of + n) || prefixes.some((p) => file.startsWith(of + p));
const OF_VAULT = { names: ['.lock', '.evidence.jsonl'], prefixes: ['.evidence.jsonl.rolled-back-'] } as const;
const OF_KEY = { names: ['.new', '.lock', '.evidence-pending.jsonl'], prefixes: ['.old-', '.replaced-'] } as const;

/**
 * The vault and key files a path pair names (links followed,
 * src/fs/target.ts), refused before anything is read or written when the two
 * cannot live side by side: the same file, one at the name of a file the
 * other brings (the vault's lock, which every write takes and removes; the
 * key's `.new`, which a rekey writes), or a name vault-tool reads as its own
 * whatever the file holds (an evidence log, a lock). Any such pair loses a
 * file: a key file at the vault's lock is removed by the first write.
 */
export function vaultPaths<P extends { vaultFile: string; keyFile: string }>(given: P): P {
  const paths = resolvePaths(given);
  const { vaultFile, keyFile } = paths;
  const clash = (why: string) =>
    new VaultError('usage', `the vault ${vaultFile} and its key file ${keyFile} cannot be kept so: ${why}`, { code: 'vault-paths-clash' });
  if (vaultFile === keyFile) throw clash('they are the same file');
  for (const [file, what] of [
    [vaultFile, 'the vault'],
    [keyFile, 'the key file'],
  ] as const) {
    const byName = sniffFile(Buffer.alloc(0), file);
    if (byName !== 'empty' && GUARDED.has(byName))
      throw clash(`${what} is named as ${KIND_NAME[byName]} (${basename(file)}), which vault-tool reads as its own`);
  }
  if (companions(keyFile, vaultFile, OF_VAULT.names, OF_VAULT.prefixes))
    throw clash(`the key file is at the name of a file the vault brings beside it (${basename(keyFile)})`);
  if (companions(vaultFile, keyFile, OF_KEY.names, OF_KEY.prefixes))
    throw clash(`the vault is at the name of a file the key brings beside it (${basename(vaultFile)})`);
  return paths;
}
