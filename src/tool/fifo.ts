import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VaultError } from '../errors/errors.js';
import { registerCleanup } from '../fs/cleanup.js';

/**
 * A named pipe in a private folder, for a program that opens a path rather
 * than reads its stdin (redis-check-rdb; a child's stdin here is a socket,
 * which /dev/stdin cannot open). Data passes through the kernel, never to
 * disk. `release` opens it once for reading, so that a writer waiting for a
 * reader that died before opening it is let go.
 */
export function makeFifo(): { path: string; release: () => void; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vault-tool-fifo-'));
  const path = join(dir, 'data');
  try {
    execFileSync('mkfifo', ['-m', '600', path], { stdio: 'ignore' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new VaultError('io', `cannot make a named pipe in ${dir}: ${(e as Error).message}`);
  }
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const unregister = registerCleanup(remove);
  return {
    path,
    release: () => {
      try {
        closeSync(openSync(path, constants.O_RDONLY | constants.O_NONBLOCK));
      } catch {
        /* already gone */
      }
    },
    remove: () => {
      remove();
      unregister();
    },
  };
}
