import { VaultError } from '../errors/errors.js';

/**
 * An SQL identifier as PostgreSQL reads it back as exactly `name` (the
 * semantics of its quote_ident, always quoted): in double quotes, each
 * double quote doubled, case and spaces kept. The one way an identifier is
 * put into SQL text; a NUL, which no identifier can hold, is refused.
 */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new VaultError('usage', `${JSON.stringify(name)} cannot be an SQL identifier: it holds a NUL`);
  return `"${name.replace(/"/g, '""')}"`;
}
