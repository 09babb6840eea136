/**
 * One error type for the whole library. `kind` is what callers branch on; the
 * CLI maps each kind to a stable exit code (src/cli/exit-codes.ts). Messages
 * are short, lowercase and never carry secret material.
 */
export type ErrorKind =
  | 'usage'
  | 'wrong-key'
  | 'integrity'
  | 'not-found'
  | 'too-few-shares'
  | 'bad-share'
  | 'verify-failed'
  | 'locked'
  | 'exists'
  | 'invalid'
  | 'rollback'
  | 'insecure-permissions'
  | 'passphrase'
  | 'io'
  | 'cluster'
  | 'incomplete'
  | 'policy'
  | 'interrupted'
  | 'internal';

export class VaultError extends Error {
  readonly kind: ErrorKind;
  readonly hint?: string;
  constructor(kind: ErrorKind, message: string, hint?: string) {
    super(message);
    this.name = 'VaultError';
    this.kind = kind;
    if (hint !== undefined) this.hint = hint;
  }
}

/** The failure classes of the age format, kept distinct as the spec's test vectors require. */
export type AgeFailure = 'header' | 'hmac' | 'no-match' | 'payload' | 'armor';

export class AgeError extends VaultError {
  readonly failure: AgeFailure;
  constructor(failure: AgeFailure, message: string) {
    super(failure === 'no-match' ? 'wrong-key' : 'integrity', message);
    this.name = 'AgeError';
    this.failure = failure;
  }
}

export function isVaultError(e: unknown): e is VaultError {
  return e instanceof VaultError;
}
