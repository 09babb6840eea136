import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VaultError } from '../errors/errors.js';
import { writeOutput } from '../fs/output.js';

/**
 * The built recovery kit (dist/recovery-kit.html), as shipped with this
 * vault-tool: found beside the bundled code (dist/, and so in the installed
 * package), or in dist/ of a source tree. The page itself is src/kit/.
 */
export const KIT_FILE = 'recovery-kit.html';

export function kitCandidates(): string[] {
  return ['./', '../', '../../dist/'].map((d) => fileURLToPath(new URL(d + KIT_FILE, import.meta.url)));
}

let cached: { path: string; bytes: Buffer; sha256: string } | undefined;

export function readKit(): { path: string; bytes: Buffer; sha256: string } {
  if (cached) return cached;
  for (const path of kitCandidates()) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      continue;
    }
    cached = { path, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
    return cached;
  }
  throw new VaultError('not-found', `the recovery kit (${KIT_FILE}) is not part of this vault-tool: it is made when vault-tool is built`, {
    code: 'kit-not-built',
  });
}

/** The kit's SHA-256, or null when this vault-tool runs without its built files. */
export function kitSha256(): string | null {
  try {
    return readKit().sha256;
  } catch {
    return null;
  }
}

/** Writes the kit (mode 0644: it holds no secret, and is meant to be copied); an existing file is replaced only with `force`. */
export function writeKit(out: string, force = false): { bytes: number; sha256: string } {
  const kit = readKit();
  writeOutput(out, kit.bytes, 'kit', { force });
  return { bytes: kit.bytes.length, sha256: kit.sha256 };
}
