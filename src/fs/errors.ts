import { dirname } from 'node:path';
import { VaultError } from '../errors/errors.js';

/**
 * Turns a file system error into a one-line classified VaultError: a missing
 * folder is not-found, a folder where a file belongs (or the reverse) is a
 * usage error, permissions and full disks are io errors.
 */
export function fsError(e: unknown, action: string, path: string): VaultError {
  if (e instanceof VaultError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return new VaultError('not-found', `cannot ${action} ${path}: folder ${dirname(path)} does not exist`);
    case 'EISDIR':
      return new VaultError('usage', `cannot ${action} ${path}: it is a folder`);
    case 'ENOTDIR':
      return new VaultError('usage', `cannot ${action} ${path}: a part of the path is not a folder`);
    case 'EACCES':
    case 'EPERM':
      return new VaultError('io', `cannot ${action} ${path}: permission denied`);
    case 'ENOSPC':
      return new VaultError('io', `cannot ${action} ${path}: no space left on the device`);
    case 'EDQUOT':
      return new VaultError('io', `cannot ${action} ${path}: disk quota exceeded`);
    case 'EROFS':
      return new VaultError('io', `cannot ${action} ${path}: read-only file system`);
    case 'ENAMETOOLONG':
      return new VaultError('usage', `cannot ${action} ${path}: the name is too long`);
    case 'EEXIST':
      return new VaultError('exists', `cannot ${action} ${path}: it already exists`);
    default:
      return new VaultError('io', `cannot ${action} ${path}: ${code ?? (e as Error)?.message ?? String(e)}`);
  }
}
