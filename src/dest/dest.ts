import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { VaultError } from '../errors/errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { makeDirs } from '../fs/dirs.js';
import { readFileCapped } from '../fs/read.js';

/**
 * Where copies and backups go: a local folder, or an rclone remote
 * (`remote:path`, the way users already reach S3, GCS, Azure, SFTP). A file
 * reaches a remote under a temp name first and is moved into place, so a
 * failed upload never leaves a partial file under the final name.
 */
export type Destination = { kind: 'folder'; path: string; spec: string } | { kind: 'rclone'; remote: string; path: string; spec: string };

/** The rclone binary and the environment it runs with (RCLONE_CONFIG_* remotes, credentials). */
export interface DestOptions {
  env: Record<string, string | undefined>;
  rclone?: string;
}

const REMOTE = /^(:?[A-Za-z0-9_][A-Za-z0-9_. -]*):(.*)$/;

/** `remote:path` is an rclone remote; anything else (or a path starting with / or .) a local folder. */
export function parseDestination(spec: string, cwd: string): Destination {
  const m = spec.startsWith('/') || spec.startsWith('.') ? null : REMOTE.exec(spec);
  if (m) return { kind: 'rclone', remote: m[1]!, path: m[2]!.replace(/\/+$/, ''), spec };
  if (!spec) throw new VaultError('usage', 'an empty destination');
  const path = isAbsolute(spec) ? spec : resolve(cwd, spec);
  return { kind: 'folder', path, spec: path };
}

/** Two destinations in the same place: the same folder, or the same rclone remote (whatever the path). */
export function samePlace(a: Destination, b: Destination): boolean {
  if (a.kind === 'folder' && b.kind === 'folder') return resolve(a.path) === resolve(b.path);
  if (a.kind === 'rclone' && b.kind === 'rclone') return a.remote === b.remote;
  return false;
}

const remotePath = (d: Extract<Destination, { kind: 'rclone' }>, name: string) => `${d.remote}:${d.path ? `${d.path}/` : ''}${name}`;

/** Where `name` lives, as a user would type it. */
export function locate(d: Destination, name: string): string {
  return d.kind === 'folder' ? join(d.path, name) : remotePath(d, name);
}

interface RcloneRun {
  stdout: Buffer;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs rclone with an argument array (no shell); stderr is kept to its last 2 KiB for messages. */
function rclone(o: DestOptions, args: string[], input?: Readable | Uint8Array, limit = 1 << 30): Promise<RcloneRun> {
  return new Promise((res, rej) => {
    const p = spawn(o.rclone ?? 'rclone', args, { env: o.env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let size = 0;
    let err = '';
    p.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      rej(
        code === 'ENOENT'
          ? new VaultError('not-found', 'rclone is not installed, and the destination is an rclone remote', {
              hint: 'install rclone (Debian: apt-get install rclone), or use a local folder',
            })
          : new VaultError('io', `rclone: ${(e as Error).message}`),
      );
    });
    p.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        p.kill();
        rej(new VaultError('invalid', `rclone ${args[0]}: more than ${limit} bytes`));
        return;
      }
      out.push(c);
    });
    p.stderr.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-2048)));
    p.on('close', (code, signal) => res({ stdout: Buffer.concat(out), stderr: err.trim(), code, signal }));
    p.stdin.on('error', () => undefined);
    if (input instanceof Readable) input.pipe(p.stdin);
    else p.stdin.end(input ?? Buffer.alloc(0));
  });
}

function rcloneFailed(what: string, r: RcloneRun): VaultError {
  const last = r.stderr
    .split('\n')
    .filter((l) => !/NOTICE: Config file .* not found/.test(l))
    .slice(-3)
    .join('; ');
  return new VaultError('io', `${what} failed (rclone ${r.signal ? `killed by ${r.signal}` : `exit ${r.code}`}): ${last || 'no message'}`, {
    hint: 'check the remote name, its credentials (rclone config, RCLONE_CONFIG_* variables) and the network',
  });
}

/** Whether `name` exists at the destination. */
export async function exists(d: Destination, name: string, o: DestOptions): Promise<boolean> {
  if (d.kind === 'folder') {
    try {
      statSync(join(d.path, name));
      return true;
    } catch {
      return false;
    }
  }
  return (await list(d, o)).some((f) => f.name === name);
}

export interface Listed {
  name: string;
  size: number;
  modTime: string;
}

/** The files directly in the destination (none if it does not exist yet). */
export async function list(d: Destination, o: DestOptions): Promise<Listed[]> {
  if (d.kind === 'folder') {
    let names: string[];
    try {
      names = readdirSync(d.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new VaultError('io', `cannot list ${d.path}: ${(e as NodeJS.ErrnoException).code}`);
    }
    return names.flatMap((name) => {
      const st = statSync(join(d.path, name));
      return st.isFile() ? [{ name, size: st.size, modTime: st.mtime.toISOString() }] : [];
    });
  }
  const r = await rclone(o, ['lsjson', '--files-only', `${d.remote}:${d.path}`]);
  if (r.code !== 0) {
    if (/directory not found/i.test(r.stderr)) return [];
    throw rcloneFailed(`listing ${d.spec}`, r);
  }
  return (JSON.parse(r.stdout.toString('utf8')) as { Name: string; Size: number; ModTime: string }[]).map((f) => ({
    name: f.Name,
    size: f.Size,
    modTime: f.ModTime,
  }));
}

/** Writes a whole file: atomically into a folder (0600), or to a remote under a temp name then moved into place. */
export async function writeFile(
  d: Destination,
  name: string,
  data: Uint8Array,
  o: DestOptions & { exclusive?: boolean },
): Promise<{ location: string; sha256: string }> {
  const sha256 = createHash('sha256').update(data).digest('hex');
  if (o.exclusive && (await exists(d, name, o))) throw new VaultError('exists', `${locate(d, name)} already exists; refusing to overwrite it`);
  if (d.kind === 'folder') {
    makeDirs(d.path);
    writeFileAtomic(join(d.path, name), data, { exclusive: Boolean(o.exclusive) });
    return { location: join(d.path, name), sha256 };
  }
  const tmp = `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const up = await rclone(o, ['rcat', '--size', String(data.byteLength), remotePath(d, tmp)], data);
  if (up.code !== 0) {
    await rclone(o, ['deletefile', remotePath(d, tmp)]).catch(() => undefined);
    throw rcloneFailed(`uploading ${remotePath(d, name)}`, up);
  }
  const mv = await rclone(o, ['moveto', remotePath(d, tmp), remotePath(d, name)]);
  if (mv.code !== 0) {
    await rclone(o, ['deletefile', remotePath(d, tmp)]).catch(() => undefined);
    throw rcloneFailed(`moving ${remotePath(d, name)} into place`, mv);
  }
  return { location: remotePath(d, name), sha256 };
}

/** Reads a whole file back (at most `limit` bytes). */
export async function readFile(d: Destination, name: string, o: DestOptions, limit: number, what = 'file'): Promise<Buffer> {
  if (d.kind === 'folder') return readFileCapped(join(d.path, name), what, limit);
  const r = await rclone(o, ['cat', remotePath(d, name)], undefined, limit);
  if (r.code !== 0) {
    if (/not found|doesn't exist|no such/i.test(r.stderr)) throw new VaultError('not-found', `${what} not found: ${remotePath(d, name)}`);
    throw rcloneFailed(`reading ${remotePath(d, name)}`, r);
  }
  return r.stdout;
}

/** Deletes a file (a missing one is not an error). */
export async function remove(d: Destination, name: string, o: DestOptions): Promise<void> {
  if (d.kind === 'folder') {
    const { rmSync } = await import('node:fs');
    rmSync(join(d.path, name), { force: true });
    return;
  }
  const r = await rclone(o, ['deletefile', remotePath(d, name)]);
  if (r.code !== 0 && !/not found|doesn't exist/i.test(r.stderr)) throw rcloneFailed(`deleting ${remotePath(d, name)}`, r);
}

export { rclone as runRclone };
