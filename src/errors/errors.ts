import type { ErrorCode } from './codes.js';

export type { ErrorCode } from './codes.js';

/**
 * One error type for the whole library. `kind` is what callers branch on; the
 * CLI maps each kind to a stable exit code (src/cli/exit-codes.ts). Messages
 * are short, lowercase, never carry secret material, and never name a
 * command-line flag or command: where the next step is a command, the error
 * carries a `code` (one of the closed set in codes.ts) and the CLI supplies
 * the hint (src/cli/hints.ts).
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
  | 'overdue'
  | 'backup-failed'
  | 'deleted'
  | 'inconclusive'
  | 'interrupted'
  | 'internal';

export interface ErrorDetail {
  /** Advice that needs no command-line knowledge (a chmod, a file to check). */
  hint?: string;
  /** A stable name for the condition, for callers and for the CLI's hints. */
  code?: ErrorCode;
  /** Names the hint may use (a context, an entry): never secret values. */
  data?: Record<string, string>;
}

export class VaultError extends Error {
  readonly kind: ErrorKind;
  readonly hint?: string;
  readonly code?: ErrorCode;
  readonly data?: Record<string, string>;
  constructor(kind: ErrorKind, message: string, detail?: string | ErrorDetail) {
    super(message);
    this.name = 'VaultError';
    this.kind = kind;
    const d = typeof detail === 'string' ? { hint: detail } : (detail ?? {});
    if (d.hint !== undefined) this.hint = d.hint;
    if (d.code !== undefined) this.code = d.code;
    if (d.data !== undefined) this.data = d.data;
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
