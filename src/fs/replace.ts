import { VaultError } from '../errors/errors.js';
import { readHead, resolveTarget } from './target.js';

export type FileKind = 'vault' | 'key' | 'protected' | 'other';

const AGE = 'age-encryption.org/v1\n';
const ARMOR = '-----BEGIN AGE ENCRYPTED FILE-----';

/** What an existing file holds, judged by its first bytes: a vault, a key file (plain or passphrase-protected), or anything else. */
export function sniffFile(head: Buffer): FileKind {
  const text = head.toString('latin1');
  if (text.startsWith(AGE)) {
    const header = text.slice(0, text.indexOf('\n---') >= 0 ? text.indexOf('\n---') : text.length);
    if (/\n-> vault-tool /.test(header)) return 'vault';
    if (/\n-> scrypt /.test(header)) return 'protected';
    return 'other';
  }
  if (text.trimStart().startsWith(ARMOR)) {
    const body = text
      .trimStart()
      .split('\n')
      .slice(1)
      .filter((l) => !l.startsWith('-----'))
      .join('');
    const inner = Buffer.from(body.slice(0, 1024 - (1024 % 4)), 'base64').toString('latin1');
    if (inner.startsWith(AGE) && /\n-> vault-tool /.test(inner)) return 'vault';
    if (inner.startsWith(AGE) && /\n-> scrypt /.test(inner)) return 'protected';
    return 'other';
  }
  if (/^AGE-SECRET-KEY-1/m.test(text)) return 'key';
  return 'other';
}

const KIND_NAME: Record<FileKind, string> = {
  vault: 'a vault file',
  key: 'a key file',
  protected: 'a passphrase-protected file (a key file?)',
  other: 'not a key file',
};

/**
 * Before a forced overwrite: what is there may be replaced. An output (a
 * value, a dotenv file, manifests, a plan) never replaces a vault or a key
 * file; a key file (`escrow combine --force`) replaces only a key file.
 * Devices, pipes and other non-regular files are never replaced.
 */
export function checkReplace(path: string, as: 'output' | 'key'): void {
  const target = resolveTarget(path);
  const head = readHead(target, 'the file to replace', 64 << 10);
  if (head === null) return;
  const kind = sniffFile(head);
  if (as === 'output' && (kind === 'vault' || kind === 'key' || kind === 'protected')) {
    throw new VaultError('exists', `refusing to replace ${path}: it is ${KIND_NAME[kind]}`, { code: 'replace-refused' });
  }
  if (as === 'key' && kind !== 'key' && kind !== 'protected') {
    throw new VaultError('exists', `refusing to replace ${path}: it is ${KIND_NAME[kind]}, and only a key file is replaced by a recovered key`, {
      code: 'replace-refused',
    });
  }
}
