import { realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * An absolute path with its links resolved: the deepest part of it that
 * exists resolved (`realpath`), the rest appended as written; the path
 * itself when no part of it resolves. A path named through a link and the
 * same path named directly come out the same.
 */
export function resolvedPath(p: string): string {
  let rest = '';
  for (let at = p; ; at = dirname(at)) {
    try {
      return join(realpathSync(at), rest);
    } catch {
      if (at === dirname(at)) return p;
      rest = rest ? join(basename(at), rest) : basename(at);
    }
  }
}
