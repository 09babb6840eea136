import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { VaultError } from '../vault/errors.js';
import { existsSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { checkWritableTarget } from '../vault/fs/atomic.js';
import { checkReplace } from '../vault/fs/replace.js';
import { resolveTarget } from '../vault/fs/target.js';
import { makeDirs } from '../vault/fs/dirs.js';
import { verifierFor } from './components.js';
import type { BackupKey } from './keys.js';
import type { BackupManifest } from './manifest.js';
import { consume, type Consumer } from './pipeline.js';
import { createLocalFile, openFile, type Repo } from './repo.js';

const run = promisify(execFile);
type Env = Record<string, string | undefined>;

/**
 * Where a backup goes back to. Restores never pipe unverified plaintext into
 * a live target: the whole backup is decrypted and checked first (a first
 * pass), and only then decrypted into the native tool.
 */
export type RestoreTarget =
  | { kind: 'postgres'; dbname: string; create: boolean; noOwner?: boolean }
  | { kind: 'postgres-globals'; dbname: string }
  | { kind: 'redis'; dir: string; force: boolean }
  | { kind: 'files'; dir: string; force: boolean }
  | { kind: 'file'; out: string; force: boolean };

/** Streams the plaintext into `path` atomically (0600); nothing appears under its name unless whole. */
function intoFile(path: string, force: boolean): Consumer {
  return {
    kind: 'inline',
    label: path,
    consume: async (r) => {
      const f = createLocalFile(path, { exclusive: !force });
      try {
        await pipeline(r, f.stream);
      } catch (e) {
        await f.abort();
        throw e;
      }
      await f.commit();
    },
  };
}

/**
 * A small backup's plaintext in memory, after the same full check as a
 * restore (a Kubernetes backup, applied through the cluster client).
 */
export async function readBackup(repo: Repo, m: BackupManifest, key: BackupKey, env: Env, limit: number): Promise<Buffer> {
  if (m.plaintext.size > limit) throw new VaultError('invalid', `${m.component}/${m.file} holds ${m.plaintext.size} bytes, more than the ${limit} this restore reads into memory`);
  const checked = await consume(openFile(repo, m.component, m.file), [key.identity], verifierFor(m.kind, env));
  if (checked.ciphertext.sha256 !== m.ciphertext.sha256 || checked.plaintext.sha256 !== m.plaintext.sha256) {
    throw new VaultError('verify-failed', `${m.component}/${m.file} is not the backup its manifest describes (SHA-256 differs): nothing was restored`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  await consume(openFile(repo, m.component, m.file), [key.identity], {
    kind: 'inline',
    label: 'memory',
    consume: async (r) => {
      for await (const c of r) {
        n += (c as Buffer).length;
        if (n > limit) throw new VaultError('invalid', `${m.component}/${m.file} is larger than its manifest says`);
        chunks.push(c as Buffer);
      }
    },
  });
  return Buffer.concat(chunks);
}

export async function restoreBackup(repo: Repo, m: BackupManifest, key: BackupKey, t: RestoreTarget, env: Env): Promise<string> {
  const compatible: Record<RestoreTarget['kind'], BackupManifest['kind'][]> = { postgres: ['postgres'], 'postgres-globals': ['postgres-globals'], redis: ['redis'], files: ['files'], file: ['postgres', 'postgres-globals', 'redis', 'files', 'k8s', 'exec'] };
  if (!compatible[t.kind].includes(m.kind)) throw new VaultError('usage', `${m.component}/${m.file} is a ${m.kind} backup; it cannot be restored as ${t.kind}`);
  // Before touching anything: the target, then a full check of the whole backup.
  if (t.kind === 'redis' && existsSync(t.dir)) checkWritableTarget(join(t.dir, 'dump.rdb'), !t.force);
  if (t.kind === 'file') {
    checkWritableTarget(t.out, !t.force);
    if (t.force) checkReplace(resolveTarget(t.out), 'output');
  }
  const checked = await consume(openFile(repo, m.component, m.file), [key.identity], verifierFor(m.kind, env));
  if (checked.ciphertext.sha256 !== m.ciphertext.sha256 || checked.plaintext.sha256 !== m.plaintext.sha256) {
    throw new VaultError('verify-failed', `${m.component}/${m.file} is not the backup its manifest describes (SHA-256 differs): nothing was restored`);
  }
  let into: Consumer;
  switch (t.kind) {
    case 'postgres':
      if (t.create) {
        try {
          await run('createdb', ['--', t.dbname], { env: env as NodeJS.ProcessEnv });
        } catch (e) {
          const err = e as NodeJS.ErrnoException & { stderr?: string };
          throw new VaultError(err.code === 'ENOENT' ? 'not-found' : 'io', `createdb ${t.dbname} failed: ${(err.stderr ?? err.message).trim().split('\n').slice(-1)[0]}`);
        }
      }
      into = { kind: 'process', command: 'pg_restore', args: ['--clean', '--if-exists', '--single-transaction', '--exit-on-error', ...(t.noOwner ? ['--no-owner'] : []), '--dbname', t.dbname], env, label: `pg_restore into ${t.dbname}` };
      break;
    case 'postgres-globals':
      into = { kind: 'process', command: 'psql', args: ['-X', '-q', '-v', 'ON_ERROR_STOP=0', '--dbname', t.dbname], env, label: `psql (the globals) into ${t.dbname}` };
      break;
    case 'files':
      makeDirs(t.dir);
      into = { kind: 'process', command: 'tar', args: ['-x', '-f', '-', '-C', t.dir, t.force ? '--overwrite' : '--keep-old-files'], env, label: `tar -x into ${t.dir}` };
      break;
    case 'redis':
      makeDirs(t.dir);
      into = intoFile(join(t.dir, 'dump.rdb'), t.force);
      break;
    case 'file':
      into = intoFile(t.out, t.force);
      break;
  }
  await consume(openFile(repo, m.component, m.file), [key.identity], into);
  return into.label;
}
