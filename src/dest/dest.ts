import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, rmSync, statSync, type Stats } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { VaultError } from '../errors/errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { makeDirs } from '../fs/dirs.js';
import { fsError } from '../fs/errors.js';
import { readFileCapped } from '../fs/read.js';
import { externalTimeoutMs, killChild, timeoutText, Watchdog } from './timeout.js';

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

/**
 * Remotes that did not answer in this run (keyed by the run's environment
 * object): later calls to them fail at once with the same error, so a dead
 * remote costs one timeout, not one per file.
 */
const unreachable = new WeakMap<object, Map<string, VaultError>>();

const remoteIn = (args: string[]) => {
  for (const a of args) {
    const m = a.startsWith('-') || a.startsWith('/') ? null : REMOTE.exec(a);
    if (m) return m[1]!;
  }
  return undefined;
};

/** A remote known not to answer in this run: the error to fail with at once, or undefined. */
export function knownUnreachable(o: DestOptions, args: string[]): VaultError | undefined {
  const remote = remoteIn(args);
  const e = remote ? unreachable.get(o.env)?.get(remote) : undefined;
  return e
    ? new VaultError('io', `rclone ${args[0]} ${remote}: the remote did not answer earlier in this run (${e.message})`, {
        code: 'external-timeout',
        ...(e.data ? { data: e.data } : {}),
      })
    : undefined;
}

/** The error of an rclone call stopped by its watchdog; the remote is then known unreachable for the rest of the run. */
export function rcloneTimedOut(o: DestOptions, args: string[], ms: number): VaultError {
  const remote = remoteIn(args);
  const e = new VaultError('io', `rclone ${args[0]}${remote ? ` ${remote}` : ''}: no answer within ${timeoutText(ms)}: the remote is unreachable; stopped`, {
    code: 'external-timeout',
    data: { timeout: timeoutText(ms) },
  });
  if (remote) {
    if (!unreachable.has(o.env)) unreachable.set(o.env, new Map());
    unreachable.get(o.env)!.set(remote, e);
  }
  return e;
}

/**
 * Starts rclone with an argument array (no shell reads them): with umask 077,
 * so what it creates on a local or mounted backend is private to its owner
 * whatever the caller's umask, and with its own connection and I/O timeouts
 * at the run's bound (VAULT_TOOL_TIMEOUT).
 */
export function spawnRclone(o: DestOptions, args: string[], stdio: StdioOptions): ChildProcess {
  const ms = externalTimeoutMs(o.env);
  const secs = (n: number) => `${Math.max(1, Math.ceil(n / 1000))}s`;
  const full = [args[0]!, '--contimeout', secs(Math.min(ms, 60_000)), '--timeout', secs(ms), ...args.slice(1)];
  const bin = o.rclone ?? 'rclone';
  const env = o.env as NodeJS.ProcessEnv;
  if (process.platform === 'win32') return spawn(bin, full, { env, stdio });
  // The shell only sets the umask and execs rclone: "$0" "$@" pass the arguments untouched.
  return spawn('/bin/sh', ['-c', 'umask 077 && exec "$0" "$@"', bin, ...full], { env, stdio });
}

const notInstalled = () =>
  new VaultError('not-found', 'rclone is not installed, and the destination is an rclone remote', {
    hint: 'install rclone (Debian: apt-get install rclone), or use a local folder',
  });

/** Whether rclone could not be started (the shell that starts it says so with exit 127). */
export const rcloneMissing = (code: number | null, stderr: string) => code === 127 && /not found|No such file/i.test(stderr);

/**
 * Runs rclone and collects its output (stderr kept to its last 2 KiB for
 * messages). A call that makes no progress (no output, no input taken)
 * within the run's bound is stopped and fails as unreachable.
 */
function rclone(o: DestOptions, args: string[], input?: Readable | Uint8Array, limit = 1 << 30): Promise<RcloneRun> {
  const known = knownUnreachable(o, args);
  if (known) return Promise.reject(known);
  return new Promise((res, rej) => {
    const p = spawnRclone(o, args, ['pipe', 'pipe', 'pipe']);
    const out: Buffer[] = [];
    let size = 0;
    let err = '';
    let settled = false;
    const fail = (e: VaultError) => {
      if (settled) return;
      settled = true;
      dog.stop();
      killChild(p);
      rej(e);
    };
    const dog = new Watchdog(externalTimeoutMs(o.env), () => fail(rcloneTimedOut(o, args, dog.ms)));
    p.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      fail(code === 'ENOENT' ? notInstalled() : new VaultError('io', `rclone: ${(e as Error).message}`));
    });
    p.stdout!.on('data', (c: Buffer) => {
      dog.kick();
      size += c.length;
      if (size > limit) {
        fail(new VaultError('invalid', `rclone ${args[0]}: more than ${limit} bytes`));
        return;
      }
      out.push(c);
    });
    p.stderr!.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-2048)));
    p.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      dog.stop();
      if (rcloneMissing(code, err)) return rej(notInstalled());
      res({ stdout: Buffer.concat(out), stderr: err.trim(), code, signal });
    });
    p.stdin!.on('error', () => undefined);
    const source = input instanceof Readable ? input : Readable.from(chunksOf(input ?? new Uint8Array(0)));
    source.on('data', () => dog.kick());
    source.pipe(p.stdin!);
  });
}

/** A buffer in 1 MiB pieces (each one taken by rclone is progress). */
function* chunksOf(b: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < b.byteLength; i += 1 << 20) yield b.subarray(i, Math.min(b.byteLength, i + (1 << 20)));
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
      lstatSync(join(d.path, name));
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

/**
 * The regular files directly in a folder. An entry that is gone by the time
 * it is looked at (removed meanwhile by a concurrent prune) or that is a
 * link to nothing is not a file there: it is left out, never an error.
 */
function listFolder(path: string): Listed[] {
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsError(e, 'list', path);
  }
  return names.flatMap((name) => {
    let st: Stats;
    try {
      st = statSync(join(path, name));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') return [];
      throw fsError(e, 'read', join(path, name));
    }
    return st.isFile() ? [{ name, size: st.size, modTime: st.mtime.toISOString() }] : [];
  });
}

/** rclone lsjson output, checked: a list of objects with a Name, a Size and a ModTime. */
function parseListing(text: string, where: string): Listed[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new VaultError('io', `listing ${where}: rclone lsjson gave output that is not JSON (${JSON.stringify(text.slice(0, 60))}…)`, {
      hint: 'check the rclone binary in use (rclone version) and the remote',
    });
  }
  if (!Array.isArray(raw)) throw new VaultError('io', `listing ${where}: rclone lsjson gave JSON that is not a list of files`);
  return raw.map((f, i) => {
    const x = f as { Name?: unknown; Size?: unknown; ModTime?: unknown };
    if (!f || typeof f !== 'object' || typeof x.Name !== 'string' || !x.Name || x.Name.includes('/') || typeof x.Size !== 'number')
      throw new VaultError('io', `listing ${where}: rclone lsjson entry ${i + 1} is not a file (a Name and a Size)`);
    return { name: x.Name, size: x.Size, modTime: typeof x.ModTime === 'string' ? x.ModTime : '' };
  });
}

/** The files directly in the destination (none if it does not exist yet). */
export async function list(d: Destination, o: DestOptions): Promise<Listed[]> {
  if (d.kind === 'folder') return listFolder(d.path);
  const r = await rclone(o, ['lsjson', '--files-only', `${d.remote}:${d.path}`]);
  if (r.code !== 0) {
    if (/directory not found/i.test(r.stderr)) return [];
    throw rcloneFailed(`listing ${d.spec}`, r);
  }
  return parseListing(r.stdout.toString('utf8'), d.spec);
}

/**
 * The permission bits of a file (0600, 0644…), where the destination keeps
 * them: a folder, or a remote whose backend reports a mode (rclone's local
 * backend, through its metadata); undefined where it does not (object
 * stores) or the file is not there.
 */
export async function fileMode(d: Destination, name: string, o: DestOptions): Promise<number | undefined> {
  if (d.kind === 'folder') {
    try {
      return statSync(join(d.path, name)).mode & 0o7777;
    } catch {
      return undefined;
    }
  }
  const r = await rclone(o, ['lsjson', '--stat', '-M', remotePath(d, name)]).catch(() => undefined);
  if (r?.code !== 0) return undefined;
  try {
    const mode = (JSON.parse(r.stdout.toString('utf8')) as { Metadata?: { mode?: unknown } })?.Metadata?.mode;
    return typeof mode === 'string' && /^[0-7]+$/.test(mode) ? Number.parseInt(mode, 8) & 0o7777 : undefined;
  } catch {
    return undefined;
  }
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
  const up = await rclone(o, ['rcat', ...PRIVATE, '--size', String(data.byteLength), remotePath(d, tmp)], data);
  if (up.code !== 0) {
    await rclone(o, ['deletefile', remotePath(d, tmp)]).catch(() => undefined);
    throw rcloneFailed(`uploading ${remotePath(d, name)}`, up);
  }
  const mv = await rclone(o, ['moveto', '-M', remotePath(d, tmp), remotePath(d, name)]);
  if (mv.code !== 0) {
    await rclone(o, ['deletefile', remotePath(d, tmp)]).catch(() => undefined);
    throw rcloneFailed(`moving ${remotePath(d, name)} into place`, mv);
  }
  return { location: remotePath(d, name), sha256 };
}

/** rclone flags for a file vault-tool writes: mode 0600 where the backend keeps modes (besides the umask it runs with). */
export const PRIVATE = ['-M', '--metadata-set', 'mode=0600'];

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
    try {
      rmSync(join(d.path, name), { force: true });
    } catch (e) {
      throw fsError(e, 'remove', join(d.path, name));
    }
    return;
  }
  const r = await rclone(o, ['deletefile', remotePath(d, name)]);
  if (r.code !== 0 && !/not found|doesn't exist/i.test(r.stderr)) throw rcloneFailed(`deleting ${remotePath(d, name)}`, r);
}

export { rclone as runRclone };
