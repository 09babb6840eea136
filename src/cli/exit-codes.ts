import type { ErrorKind } from '../errors/errors.js';

/**
 * The stable exit codes scripts rely on. docs/CLI.md prints this same table;
 * test/unit/cli-docs.test.ts checks that the two agree.
 */
export const EXIT_CODES: Record<ErrorKind | 'ok', { code: number; meaning: string }> = {
  ok: { code: 0, meaning: 'success' },
  internal: { code: 1, meaning: 'unexpected error (a bug; rerun with VAULT_TOOL_DEBUG=1 for the stack)' },
  io: { code: 1, meaning: 'file system or system error (permission denied, disk full…)' },
  usage: { code: 2, meaning: 'bad command line, missing or conflicting options, refused unsafe request' },
  'wrong-key': { code: 3, meaning: 'wrong key: the key file (or passphrase) does not open this file' },
  integrity: { code: 4, meaning: 'integrity failure: the file is damaged, truncated, modified or not a vault' },
  'not-found': { code: 5, meaning: 'not found: file, entry, version or recipient' },
  'too-few-shares': { code: 6, meaning: 'too few shares to recover the key' },
  'bad-share': { code: 7, meaning: 'a share is malformed, mistyped, from another set, or does not fit' },
  'verify-failed': { code: 8, meaning: 'verification failed: a check found a difference or a copy that does not open' },
  locked: { code: 9, meaning: 'the vault is locked by another process' },
  exists: { code: 10, meaning: 'refusing to overwrite something that exists' },
  invalid: { code: 11, meaning: "invalid value: a value or file breaks its type's rule" },
  rollback: {
    code: 12,
    meaning: 'rollback refused: this vault copy is older than (or forked from) one seen before (reads with --strict; writes always, unless --allow-rollback)',
  },
  'insecure-permissions': { code: 13, meaning: 'the key file is readable by group or others' },
  passphrase: { code: 14, meaning: 'a passphrase is needed and none could be read' },
  cluster: { code: 15, meaning: 'Kubernetes API error or unreachable cluster' },
  incomplete: { code: 16, meaning: 'not everything was applied: some Secrets were skipped or failed (the summary says which)' },
  policy: { code: 17, meaning: 'refused by the restore policy: confirmation, TOTP code or --break-glass --reason needed' },
  overdue: { code: 18, meaning: 'overdue: no successful verification within the interval' },
  'backup-failed': { code: 19, meaning: 'backup failed: the dump tool failed, was killed, or gave no or malformed output; nothing was kept' },
  inconclusive: {
    code: 20,
    meaning: 'inconclusive: nothing failed, but some check could not be judged on this host (a checker missing, too old or killed; a source out of reach)',
  },
  deleted: {
    code: 21,
    meaning: 'a Secret was deleted and could not be created again (k8s restore --recreate): the cluster lacks it until the restore runs again',
  },
  interrupted: { code: 130, meaning: 'interrupted (SIGINT/SIGTERM)' },
};

export function exitCodeFor(kind: ErrorKind): number {
  return EXIT_CODES[kind]?.code ?? 1;
}
