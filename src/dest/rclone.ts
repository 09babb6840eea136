import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { VaultError } from '../errors/errors.js';
import type { PendingFile } from '../fs/pending.js';
import { readFileCapped } from '../fs/read.js';
import { externalTimeoutMs, timeoutText } from '../tool/bound.js';
import { startTool, type Running } from '../tool/run.js';
import type { Destination, DestOptions, Listed } from './dest.js';
import { ObjectList, type ObjectListed } from './object-list.js';
import { DAY, TEMP, tempName } from './temp.js';

/**
 * An rclone remote as a destination (`remote:path`): rclone runs with an
 * argument array (a shell only to set umask 077), with its own connection
 * and I/O timeouts at the run's bound, and every call is bounded by
 * progress. A file reaches the remote under a temp name and is moved into
 * place (`rcat`, then `moveto`).
 *
 * Failures are classified by rclone's exit code and the object asked for,
 * never by words in its log (which may name a config file "not found"):
 * exit 3 (directory not found) and 4 (file not found) mean the remote
 * answered that the object is not there; anything else (1: a remote that is
 * not configured, refuses the connection or rejects the credentials) means
 * it could not be asked, and fails as `io`: inconclusive. A `deletefile`
 * that fails is followed by a look at the object: gone is done, anything
 * else is the failure.
 */
export class RcloneDestination implements Destination {
  readonly kind = 'rclone';
  readonly place: string;
  constructor(
    readonly remote: string,
    /** The path on the remote, without a trailing slash ('' for its root). */
    readonly path: string,
    readonly spec: string,
    readonly io: DestOptions,
  ) {
    this.place = `remote ${remote}`;
  }

  /** The one way a path on the remote is written: `remote:path/name`. */
  locate(name: string): string {
    return `${this.remote}:${this.path ? `${this.path}/` : ''}${name}`;
  }

  /** The destination itself, as rclone is given it. */
  private get here(): string {
    return `${this.remote}:${this.path}`;
  }

  child(sub: string): RcloneDestination {
    return new RcloneDestination(this.remote, this.path ? `${this.path}/${sub}` : sub, this.locate(sub), this.io);
  }

  parent(): { dest: Destination; name: string } {
    const cut = this.path.lastIndexOf('/');
    const up = cut < 0 ? '' : this.path.slice(0, cut);
    return { dest: new RcloneDestination(this.remote, up, `${this.remote}:${up}`, this.io), name: this.path.slice(cut + 1) };
  }

  samePlace(other: Destination): boolean {
    return other instanceof RcloneDestination && other.remote === this.remote;
  }

  async present(): Promise<boolean> {
    const r = await rclone(this.io, ['lsf', '--max-depth', '1', this.here]);
    if (r.code === 0) return true;
    if (notThere(r)) return false;
    throw new VaultError('io', `cannot list ${this.spec}: ${said(r.stderr).split('\n').slice(-1)[0] || `rclone exit ${r.code}`}`);
  }

  async list(): Promise<Listed[]> {
    const r = await rclone(this.io, ['lsjson', '--files-only', this.here]);
    if (r.code !== 0) {
      if (notThere(r)) return [];
      throw rcloneFailed(`listing ${this.spec}`, r);
    }
    return parseListing(r.stdout.toString('utf8'), this.spec);
  }

  async folders(): Promise<string[]> {
    const r = await rclone(this.io, ['lsf', '--dirs-only', this.here]);
    if (r.code !== 0) {
      if (notThere(r)) return [];
      throw rcloneFailed(`listing ${this.spec}`, r);
    }
    return r.stdout
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/\/$/, ''))
      .filter((n) => !n.startsWith('.'));
  }

  /** The remote asked about that one file, not listed whole (a folder of the WAL archive holds thousands). */
  async has(name: string): Promise<boolean> {
    const r = await rclone(this.io, ['lsjson', '--stat', '--files-only', this.locate(name)]);
    if (r.code === 0) return statsAnObject(r.stdout);
    if (notThere(r)) return false;
    throw rcloneFailed(`looking for ${this.locate(name)}`, r);
  }

  /** Where the backend reports one (rclone's local backend, through its metadata); undefined on object stores, or when it cannot be asked. */
  async mode(name: string): Promise<number | undefined> {
    const r = await rclone(this.io, ['lsjson', '--stat', '-M', this.locate(name)]).catch(() => undefined);
    if (r?.code !== 0) return undefined;
    try {
      const mode = (JSON.parse(r.stdout.toString('utf8')) as { Metadata?: { mode?: unknown } })?.Metadata?.mode;
      return typeof mode === 'string' && /^[0-7]+$/.test(mode) ? Number.parseInt(mode, 8) & 0o7777 : undefined;
    } catch {
      return undefined;
    }
  }

  async read(name: string, limit: number, what = 'file'): Promise<Buffer> {
    const r = await rclone(this.io, ['cat', this.locate(name)], undefined, limit);
    if (r.code !== 0) {
      if (notThere(r)) throw new VaultError('not-found', `${what} not found: ${this.locate(name)}`);
      throw rcloneFailed(`reading ${this.locate(name)}`, r);
    }
    return r.stdout;
  }

  async write(name: string, data: Uint8Array, o: { exclusive?: boolean } = {}): Promise<{ location: string; sha256: string }> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (o.exclusive && (await this.has(name))) throw new VaultError('exists', `${this.locate(name)} already exists; refusing to overwrite it`);
    const tmp = `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const up = await rclone(this.io, ['rcat', ...PRIVATE, '--size', String(data.byteLength), this.locate(tmp)], data);
    if (up.code !== 0) {
      await this.drop(tmp);
      throw rcloneFailed(`uploading ${this.locate(name)}`, up);
    }
    const mv = await rclone(this.io, ['moveto', '-M', this.locate(tmp), this.locate(name)]);
    if (mv.code !== 0) {
      await this.drop(tmp);
      throw rcloneFailed(`moving ${this.locate(name)} into place`, mv);
    }
    return { location: this.locate(name), sha256 };
  }

  async remove(name: string): Promise<void> {
    const r = await rclone(this.io, ['deletefile', this.locate(name)]);
    if (r.code === 0) return;
    // rclone says exit 1 both for an object that is not there and for a remote it could not reach: ask the remote about the object.
    const after = await rclone(this.io, ['lsjson', '--stat', this.locate(name)]);
    if (notThere(after) || (after.code === 0 && !statsAnObject(after.stdout))) return;
    throw rcloneFailed(`deleting ${this.locate(name)}`, r);
  }

  /** `rclone copy --files-from` into a private temp folder: one process for all of them. */
  async readMany(names: string[], limit: number, what = 'file'): Promise<Map<string, Buffer | Error>> {
    const out = new Map<string, Buffer | Error>();
    if (!names.length) return out;
    const tmp = mkdtempSync(join(tmpdir(), 'vault-tool-read-'));
    try {
      const r = await rclone(this.io, ['copy', '--files-from', '-', '--max-size', String(limit), this.here, tmp], Buffer.from(`${names.join('\n')}\n`));
      if (r.code !== 0) throw rcloneFailed(`reading ${names.length} file(s) from ${this.spec}`, r);
      for (const n of names) {
        try {
          out.set(n, readFileCapped(join(tmp, n), what, limit));
        } catch (e) {
          out.set(n, e instanceof VaultError && e.kind === 'not-found' ? new VaultError('not-found', `${what} not found: ${this.locate(n)}`) : (e as Error));
        }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    return out;
  }

  /** `rclone delete --files-from`: one process for all of them. */
  async removeMany(names: string[]): Promise<void> {
    if (!names.length) return;
    const r = await rclone(this.io, ['delete', '--files-from', '-', this.here], Buffer.from(`${names.join('\n')}\n`));
    if (r.code !== 0) throw rcloneFailed(`removing ${names.length} file(s) from ${this.spec}`, r);
  }

  /** A temp file removed, best effort (the run is failing already). */
  private async drop(name: string): Promise<void> {
    await rclone(this.io, ['deletefile', this.locate(name)]).catch(() => undefined);
  }

  /** `rclone cat`, stopped when it makes no progress within the run's bound (the stream then fails as unreachable) and when the reader stops reading. */
  open(name: string): Readable {
    const args = ['cat', this.locate(name)];
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const known = knownUnreachable(this.io, args);
    if (known) {
      process.nextTick(() => out.destroy(known));
      return out;
    }
    const ms = externalTimeoutMs(this.io.env);
    const p = start(this.io, args, 'ignore', { ms, idle: true }, () => out.destroy(rcloneTimedOut(this.io, args, ms)));
    p.child.stdout!.pipe(out);
    p.exited.then(
      ({ code }) => {
        if (code === 0 || out.destroyed) return;
        out.destroy(
          rcloneMissing(code, p.said())
            ? new VaultError('not-found', 'rclone could not be run: it is not installed', { hint: 'install rclone, or use a local folder as the repository' })
            : new VaultError('io', `reading ${this.locate(name)} failed (rclone exit ${code}): ${said(p.said()).split('\n').slice(-1)[0] ?? ''}`, {
                hint: hintOf(p.said()),
              }),
        );
      },
      (e: Error) => out.destroy(new VaultError('not-found', `rclone could not be run: ${(e as NodeJS.ErrnoException).code ?? e.message}`)),
    );
    // A reader that stops early (an error downstream) leaves no rclone behind.
    out.on('close', () => {
      if (p.child.exitCode === null && p.child.signalCode === null) p.kill();
    });
    return out;
  }

  /** `rclone rcat` into a temp name, moved into place on commit; temp names a day old that runs never finished are swept then. */
  create(name: string, o: { sizeEstimate?: number } = {}): PendingFile {
    const tmpName = tempName(name);
    const args = ['rcat', ...PRIVATE, ...chunkFor(o.sizeEstimate), this.locate(tmpName)];
    const known = knownUnreachable(this.io, args);
    if (known) throw known;
    const p = start(this.io, args, 'pipe');
    const exited = p.exited.then(
      (x) => x.code,
      (e: Error) => {
        throw new VaultError('not-found', `rclone could not be run: ${(e as NodeJS.ErrnoException).code ?? e.message}`, {
          hint: 'install rclone, or use a local folder as the repository',
        });
      },
    );
    exited.catch(() => undefined);
    const message = () => said(p.said()).split('\n').slice(-2).join('; ');
    const uploadFailed = (code: number | null) =>
      rcloneMissing(code, p.said())
        ? new VaultError('not-found', 'rclone could not be run: it is not installed', { hint: 'install rclone, or use a local folder as the repository' })
        : new VaultError('io', `uploading ${this.locate(name)} failed (rclone exit ${code}): ${message() || 'no message'}`, {
            hint: hintOf(p.said()),
          });
    p.child.stdin!.on('error', () => undefined);
    return {
      stream: p.child.stdin!,
      commit: async () => {
        // The upload's end (rclone sends what it holds, then exits) is bounded as every call is.
        const ms = externalTimeoutMs(this.io.env);
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((res) => {
          timer = setTimeout(() => res('late'), ms);
          timer.unref();
        });
        const code = await Promise.race([exited, late]).finally(() => clearTimeout(timer));
        if (code === 'late') {
          p.kill();
          // Known unreachable from now on: the clean-up below fails at once rather than wait again.
          const e = rcloneTimedOut(this.io, args, ms);
          await this.drop(tmpName);
          throw e;
        }
        if (code !== 0) {
          await this.drop(tmpName);
          throw uploadFailed(code);
        }
        const mv = await rclone(this.io, ['moveto', '-M', this.locate(tmpName), this.locate(name)]);
        if (mv.code !== 0) throw new VaultError('io', `moving ${this.locate(name)} into place failed: ${mv.stderr.split('\n').slice(-1)[0]}`);
        await this.sweep();
        return this.locate(name);
      },
      explain: async (e) => {
        // rclone stopped reading (it failed): its exit status and message say why.
        const code = await Promise.race([exited, new Promise<'running'>((res) => setTimeout(() => res('running'), 2000).unref())]).catch(
          () => 'failed' as const,
        );
        if (typeof code === 'number' && code !== 0) return uploadFailed(code);
        if (code === null) return uploadFailed(code);
        return new VaultError('io', `uploading ${this.locate(name)} failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
          hint: 'check the remote name, its credentials and the network',
        });
      },
      abort: async () => {
        p.kill();
        await Promise.race([exited.catch(() => undefined), new Promise((res) => setTimeout(res, 2000).unref())]);
        await this.drop(tmpName);
      },
    };
  }

  /** On a remote, where no process can be judged: temp names a day old or more, left by writes that never finished. Best effort. */
  private async sweep(now = Date.now()): Promise<void> {
    try {
      for (const f of await this.list()) {
        if (TEMP.test(f.name) && now - Date.parse(f.modTime) > DAY) await this.remove(f.name).catch(() => undefined);
      }
    } catch {
      /* best effort: the write itself is done */
    }
  }

  localPath(): undefined {
    return undefined;
  }
}

const HINT = 'check the remote name, its credentials (rclone config, RCLONE_CONFIG_* variables) and the network';

/**
 * The hint for what rclone said: rclone's S3 backend (1.60) cannot load a
 * CA bundle named by AWS_CA_BUNDLE and fails at once, whatever the
 * endpoint; anything else, the remote's name, credentials and network.
 */
export function hintOf(stderr: string): string {
  if (stderr.includes('LoadCustomCABundleError'))
    return "rclone's S3 backend cannot load the CA bundle AWS_CA_BUNDLE names: unset AWS_CA_BUNDLE for vault-tool (rclone reads its CA from RCLONE_CA_CERT)";
  return HINT;
}

/**
 * An upload streamed without its size goes in chunks of `--s3-chunk-size`
 * (5 MiB by default), and S3 takes at most 10,000 parts: 48.8 GiB. With a
 * size hint past 40 GiB, the chunks grow so that 1.5 times the hint fits
 * in 9,000 parts (rclone holds up to 4 chunks in memory per upload).
 * Without a hint the ceiling stands (docs/RUNBOOK.md says how to raise it).
 */
export function chunkFor(sizeHint: number | undefined): string[] {
  return sizeHint && sizeHint > 40 * 2 ** 30 ? ['--s3-chunk-size', `${Math.ceil((sizeHint * 1.5) / 9000 / 2 ** 20)}M`] : [];
}

/** rclone flags for a file vault-tool writes: mode 0600 where the backend keeps modes (besides the umask it runs with). */
export const PRIVATE = ['-M', '--metadata-set', 'mode=0600'];

/** The remote answered that the object (or its folder) is not there: rclone's exit 3 (directory not found) or 4 (file not found). */
const notThere = (r: RcloneRun) => r.code === 3 || r.code === 4;

/** Whether `lsjson --stat` showed an object (a JSON object with a Name): only then is it there. */
function statsAnObject(stdout: Buffer): boolean {
  try {
    const x = JSON.parse(stdout.toString('utf8')) as { Name?: unknown } | null;
    return Boolean(x) && typeof x === 'object' && !Array.isArray(x) && typeof x!.Name === 'string';
  } catch {
    return false;
  }
}

/** What rclone said, without its notice that it runs without a config file (it says nothing about the call). */
const said = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.trim() && !/NOTICE: Config file .* not found/.test(l))
    .join('\n');

interface RcloneRun {
  stdout: Buffer;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

const REMOTE = /^(:?[A-Za-z0-9_][A-Za-z0-9_. -]*):(.*)$/;

/** rclone's connection string: a remote (or `:backend`) with settings in its name, `remote,key=value:path`. */
const CONNECTION_STRING = /^(:?[A-Za-z0-9_][A-Za-z0-9_. -]*),.*:/;

/**
 * `remote:path` as rclone reads it (a leading `:` names a backend on the
 * fly); null for anything else. A connection string (`s3,secret_access_key=…:bucket`,
 * `:s3,…:bucket`) is refused, naming only the remote: its settings, keys
 * among them, would be on rclone's command line (ps) and in every record of
 * the destination; and read as a folder, it made one named after the key.
 */
export function parseRemote(spec: string): { remote: string; path: string } | null {
  const c = spec.startsWith('/') || spec.startsWith('.') ? null : CONNECTION_STRING.exec(spec);
  if (c)
    throw new VaultError(
      'usage',
      `the destination ${c[1]},…: a remote with rclone settings in its name is refused: they would be on rclone's command line (ps) and in the destination's records`,
      "give the remote's settings in rclone's configuration (rclone config) or its RCLONE_CONFIG_<REMOTE>_<KEY> variables, and name it as remote:path",
    );
  const m = spec.startsWith('/') || spec.startsWith('.') ? null : REMOTE.exec(spec);
  return m ? { remote: m[1]!, path: m[2]!.replace(/\/+$/, '') } : null;
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
function knownUnreachable(o: DestOptions, args: string[]): VaultError | undefined {
  const remote = remoteIn(args);
  const e = remote ? unreachable.get(o.env)?.get(remote) : undefined;
  return e
    ? new VaultError('io', `rclone ${args[0]} ${remote}: the remote did not answer earlier in this run (${e.message})`, {
        code: 'external-timeout',
        ...(e.data ? { data: e.data } : {}),
      })
    : undefined;
}

/** The error of an rclone call stopped by its bound; the remote is then known unreachable for the rest of the run. */
function rcloneTimedOut(o: DestOptions, args: string[], ms: number): VaultError {
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
 * Starts rclone as every external program is started (`tool/run.ts`): with
 * umask 077, so what it creates on a local or mounted backend is private to
 * its owner whatever the caller's umask, and with its own connection and
 * I/O timeouts at the run's bound (VAULT_TOOL_TIMEOUT).
 */
function start(o: DestOptions, args: string[], stdin: 'pipe' | 'ignore', bound?: { ms: number; idle: true }, onExpire?: () => void): Running {
  const ms = externalTimeoutMs(o.env);
  const secs = (n: number) => `${Math.max(1, Math.ceil(n / 1000))}s`;
  const full = [args[0]!, '--contimeout', secs(Math.min(ms, 60_000)), '--timeout', secs(ms), ...args.slice(1)];
  const bin = o.rclone ?? 'rclone';
  const opts = { env: o.env, stdin, group: false, ...(bound ? { bound } : {}), ...(onExpire ? { onExpire } : {}) };
  if (process.platform === 'win32') return startTool(bin, full, opts);
  // The shell only sets the umask and execs rclone: "$0" "$@" pass the arguments untouched.
  return startTool('/bin/sh', ['-c', 'umask 077 && exec "$0" "$@"', bin, ...full], opts);
}

const notInstalled = () =>
  new VaultError('not-found', 'rclone is not installed, and the destination is an rclone remote', {
    hint: 'install rclone (Debian: apt-get install rclone), or use a local folder',
  });

/** Whether rclone could not be started (the shell that starts it says so with exit 127). */
const rcloneMissing = (code: number | null, stderr: string) => code === 127 && /not found|No such file/i.test(stderr);

/**
 * Runs rclone and collects its output. A call that makes no progress (no
 * output, no input taken) within the run's bound is stopped and fails as
 * unreachable.
 */
function rclone(o: DestOptions, args: string[], input?: Readable | Uint8Array, limit = 1 << 30, onStdout?: (c: Buffer) => void): Promise<RcloneRun> {
  const known = knownUnreachable(o, args);
  if (known) return Promise.reject(known);
  return new Promise((res, rej) => {
    let settled = false;
    const ms = externalTimeoutMs(o.env);
    const fail = (e: VaultError) => {
      if (settled) return;
      settled = true;
      p.kill();
      rej(e);
    };
    const p = start(o, args, 'pipe', { ms, idle: true }, () => fail(rcloneTimedOut(o, args, ms)));
    const out: Buffer[] = [];
    let size = 0;
    p.child.stdout!.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        fail(new VaultError('invalid', `rclone ${args[0]}: more than ${limit} bytes`));
        return;
      }
      if (!onStdout) out.push(c);
      else if (!settled)
        try {
          onStdout(c);
        } catch (e) {
          fail(e instanceof VaultError ? e : new VaultError('io', `rclone ${args[0]}: ${(e as Error).message}`));
        }
    });
    p.exited.then(
      ({ code, signal }) => {
        if (settled) return;
        settled = true;
        if (rcloneMissing(code, p.said())) return rej(notInstalled());
        res({ stdout: Buffer.concat(out), stderr: p.said().trim(), code, signal });
      },
      (e: VaultError) => fail(e.code === 'tool-missing' ? notInstalled() : new VaultError('io', `rclone: ${e.message}`)),
    );
    p.child.stdin!.on('error', () => undefined);
    const source = input instanceof Readable ? input : Readable.from(chunksOf(input ?? new Uint8Array(0)));
    source.on('data', () => p.kick());
    source.pipe(p.child.stdin!);
  });
}

/** A buffer in 1 MiB pieces (each one taken by rclone is progress). */
function* chunksOf(b: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < b.byteLength; i += 1 << 20) yield b.subarray(i, Math.min(b.byteLength, i + (1 << 20)));
}

function rcloneFailed(what: string, r: RcloneRun): VaultError {
  const last = said(r.stderr).split('\n').slice(-3).join('; ');
  return new VaultError('io', `${what} failed (rclone ${r.signal ? `killed by ${r.signal}` : `exit ${r.code}`}): ${last || 'no message'}`, {
    hint: hintOf(r.stderr),
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

/**
 * Objects of a bucket (`remote:bucket/prefix`), one by one, for the bucket
 * backup kind: the listing (every object under it, its size, modification
 * time and the MD5 the store keeps, where it keeps one), one object read,
 * one object written, whether a prefix holds anything, objects removed.
 */
export type { ObjectListed };

/**
 * `rclone lsjson -R --files-only --hash --hash-type md5`: every object under
 * `spec`, sorted by key; none when it does not exist. Parsed as rclone
 * writes it, an entry at a time, into a compact list (object-list.ts): the
 * output is never held whole, nor parsed into one tree.
 */
export async function listObjects(io: DestOptions, spec: string): Promise<ObjectList> {
  const list = new ObjectList();
  const parser = new LsjsonParser(spec, (f, i) => {
    const x = f as { Path?: unknown; Size?: unknown; ModTime?: unknown; Hashes?: { md5?: unknown } };
    if (!x || typeof x.Path !== 'string' || !x.Path || typeof x.Size !== 'number' || x.Size < 0)
      throw new VaultError('io', `listing ${spec}: rclone lsjson entry ${i + 1} is not an object (a Path and a Size)`);
    const md5 = x.Hashes?.md5;
    list.push({
      key: x.Path,
      size: x.Size,
      modTime: typeof x.ModTime === 'string' ? x.ModTime : '',
      ...(typeof md5 === 'string' && /^[0-9a-f]{32}$/.test(md5) ? { md5 } : {}),
    });
  });
  const r = await rclone(io, ['lsjson', '-R', '--files-only', '--hash', '--hash-type', 'md5', '--no-mimetype', spec], undefined, 2 ** 31, (c) =>
    parser.push(c),
  );
  if (r.code !== 0) {
    if (notThere(r)) return new ObjectList();
    throw rcloneFailed(`listing ${spec}`, r);
  }
  parser.end();
  return list.sortByKey();
}

/**
 * The entries of `rclone lsjson` output, as it arrives. rclone writes one
 * entry a line (`[`, then `{…},` lines, then `]`): each line is parsed and
 * handed to `onEntry` at once. Output of any other layout (told by its
 * first two lines) is kept and parsed whole at the end.
 */
export class LsjsonParser {
  private partial: Buffer | null = null;
  private lineNo = 0;
  private count = 0;
  private mode: 'lines' | 'whole' | 'closed' = 'lines';
  /** The output so far, while its layout is not known yet (the first two lines), and all of it once it is not one entry a line. */
  private kept: Buffer[] = [];

  constructor(
    private readonly spec: string,
    private readonly onEntry: (entry: unknown, index: number) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.whole() || this.lineNo < 2) this.kept.push(chunk);
    if (this.whole()) return;
    let at = 0;
    for (let nl = chunk.indexOf(10); nl >= 0 && !this.whole(); nl = chunk.indexOf(10, at)) {
      const piece = chunk.subarray(at, nl);
      at = nl + 1;
      const line = this.partial ? Buffer.concat([this.partial, piece]) : piece;
      this.partial = null;
      this.line(line.toString('utf8').trim());
    }
    if (!this.whole() && at < chunk.length) this.partial = this.partial ? Buffer.concat([this.partial, chunk.subarray(at)]) : Buffer.from(chunk.subarray(at));
  }

  end(): void {
    if (this.mode === 'lines' && this.partial) {
      const last = this.partial.toString('utf8').trim();
      this.partial = null;
      if (last !== '') this.line(last);
    }
    if (this.mode === 'closed') return;
    if (this.mode === 'lines' && this.lineNo > 2) throw notJson(this.spec);
    // Another layout, or output cut short before its end: parsed whole (which says what is wrong with it).
    const raw = whole(Buffer.concat(this.kept), this.spec);
    this.kept = [];
    raw.forEach((e, i) => this.onEntry(e, i));
  }

  /** The bytes of output it holds: the line being read, and the output itself while its layout is not known or not one entry a line. */
  keptBytes(): number {
    return (this.partial?.length ?? 0) + this.kept.reduce((n, b) => n + b.length, 0);
  }

  /** Whether the output is of another layout, kept to be parsed whole. */
  private whole(): boolean {
    return this.mode === 'whole';
  }

  private line(text: string): void {
    const n = this.lineNo++;
    if (this.mode === 'closed') {
      if (text !== '') throw notJson(this.spec);
      return;
    }
    if (n === 0) {
      if (text !== '[') this.mode = 'whole';
      return;
    }
    if (text === ']') {
      this.mode = 'closed';
      this.kept = [];
      return;
    }
    let entry: unknown;
    try {
      entry = JSON.parse(text.endsWith(',') ? text.slice(0, -1) : text);
    } catch {
      // The second line tells the layout; past it, a line that is not an entry is output cut or garbled.
      if (n === 1) {
        this.mode = 'whole';
        return;
      }
      throw notJson(this.spec);
    }
    if (n === 1) this.kept = [];
    this.onEntry(entry, this.count++);
  }
}

const notJson = (spec: string) => new VaultError('io', `listing ${spec}: rclone lsjson gave output that is not JSON`);

/** The entries of `rclone lsjson` output held whole (LsjsonParser, collected). */
export function lsjsonEntries(stdout: Buffer, spec: string): unknown[] {
  const out: unknown[] = [];
  const p = new LsjsonParser(spec, (e) => out.push(e));
  p.push(stdout);
  p.end();
  return out;
}

function whole(stdout: Buffer, spec: string): unknown[] {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout.toString('utf8'));
  } catch {
    throw notJson(spec);
  }
  if (!Array.isArray(raw)) throw new VaultError('io', `listing ${spec}: rclone lsjson gave JSON that is not a list of objects`);
  return raw;
}

/** Whether `spec` holds any object or folder (one `lsf` of its first level). */
export async function holdsObjects(io: DestOptions, spec: string): Promise<boolean> {
  const r = await rclone(io, ['lsf', '--max-depth', '1', spec]);
  if (r.code !== 0) {
    if (notThere(r)) return false;
    throw rcloneFailed(`listing ${spec}`, r);
  }
  return r.stdout.toString('utf8').trim() !== '';
}

/**
 * One call of the bucket kind's (a read, a batch copy, an upload) started
 * bounded: refused at once when its remote did not answer earlier in this
 * run, and stopped when it makes no progress (output, input taken, a
 * `kick`) within the run's bound. `exit` is its exit code; it fails when
 * the bound stopped it (the remote is then known unreachable), when rclone
 * is not installed, or when it could not be started. Its stdin, when a
 * pipe, takes no error of its own: the exit code says how it went.
 */
function startBounded(io: DestOptions, args: string[], stdin: 'pipe' | 'ignore'): { p: Running; exit: Promise<number | null> } {
  const known = knownUnreachable(io, args);
  if (known) throw known;
  const ms = externalTimeoutMs(io.env);
  let expired: VaultError | undefined;
  const p = start(io, args, stdin, { ms, idle: true }, () => {
    expired = rcloneTimedOut(io, args, ms);
  });
  p.child.stdin?.on('error', () => undefined);
  const exit = p.exited.then(
    ({ code }) => {
      if (expired) throw expired;
      if (rcloneMissing(code, p.said())) throw notInstalled();
      return code;
    },
    (e: VaultError) => {
      throw e.code === 'tool-missing' ? notInstalled() : e;
    },
  );
  exit.catch(() => undefined);
  return { p, exit };
}

/**
 * One object read, at most `count` bytes: its bytes (at most 1 MiB held
 * ahead of the reader, so reads may be started before their turn), how the
 * read ended (`gone`: the store answered that it is not there), and `kick`:
 * progress elsewhere (a read started ahead waits its turn without being
 * taken for a remote that stopped answering).
 */
export function readObject(io: DestOptions, spec: string, count: number): { stream: Readable; ended: Promise<'ok' | 'gone'>; kill(): void; kick(): void } {
  // No read-ahead buffer of its own (16 MiB by default): the pipe and the reader's 1 MiB are buffer enough.
  const args = ['cat', '--buffer-size', '0', '--count', String(count), spec];
  const { p, exit } = startBounded(io, args, 'ignore');
  const ended = exit.then((code) => {
    if (code === 0) return 'ok' as const;
    if (code === 3 || code === 4) return 'gone' as const;
    throw new VaultError('io', `reading ${spec} failed (rclone exit ${code}): ${said(p.said()).split('\n').slice(-1)[0] ?? ''}`, { hint: hintOf(p.said()) });
  });
  ended.catch(() => undefined);
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  p.child.stdout!.pipe(out);
  return { stream: out, ended, kill: () => p.kill(), kick: () => p.kick() };
}

/**
 * Many small objects read by one process: `rclone copy --files-from-raw`
 * of `keys` (relative to `spec`) into the folder `into` (private: rclone
 * runs with umask 077), at most `maxBytes` in all (`--max-transfer`, cut
 * off hard: objects that grew since they were listed cannot fill the
 * disk). `done` says how it ended: `ok` (every object there was copied;
 * one not there is silently left out), `failed` (some may be missing or
 * incomplete, the bytes ran out: the
 * caller reads them another way), or it throws when the remote did not
 * answer within the run's bound. Each object copied is progress, and is
 * told to `onProgress`.
 */
export function copyObjects(
  io: DestOptions,
  spec: string,
  keys: string[],
  into: string,
  maxBytes: number,
  onProgress?: () => void,
): { done: Promise<'ok' | 'failed'>; kill(): void } {
  const args = [
    'copy',
    '-v',
    '--files-from-raw',
    '-',
    '--no-check-dest',
    '--max-transfer',
    `${maxBytes}B`,
    '--cutoff-mode',
    'hard',
    // Small objects: many at once; no HEAD before each GET on S3 (the caller checks every object's size and hash itself).
    '--transfers',
    '16',
    '--checkers',
    '16',
    '--s3-no-head-object',
    spec,
    into,
  ];
  const { p, exit } = startBounded(io, args, 'pipe');
  // Each object copied is a line on stderr (-v): progress.
  p.child.stderr!.on('data', () => {
    p.kick();
    onProgress?.();
  });
  p.child.stdin!.end(`${keys.join('\n')}\n`);
  const done = exit.then((code) => (code === 0 ? ('ok' as const) : ('failed' as const)));
  done.catch(() => undefined);
  return { done, kill: () => p.kill() };
}

/**
 * One object written (`rclone rcat --size`, its modification time set as
 * metadata): its input, and the upload's end. Object stores show an object
 * only once its upload completed.
 */
export function writeObject(
  io: DestOptions,
  spec: string,
  size: number,
  modTime?: string,
): { stream: NodeJS.WritableStream; done: Promise<void>; kill(): void } {
  // Streamed, not `--size` (rclone 1.60 sets no metadata then): the size sets the chunks.
  const args = ['rcat', ...chunkFor(size), ...(modTime ? ['-M', '--metadata-set', `mtime=${modTime}`] : []), spec];
  const { p, exit } = startBounded(io, args, 'pipe');
  const done = exit.then((code) => {
    if (code === 0) return;
    throw new VaultError('io', `uploading ${spec} failed (rclone exit ${code}): ${said(p.said()).split('\n').slice(-2).join('; ') || 'no message'}`, {
      hint: hintOf(p.said()),
    });
  });
  done.catch(() => undefined);
  const stdin = p.child.stdin!;
  const kick = () => p.kick();
  stdin.on('drain', kick);
  return { stream: stdin, done, kill: () => p.kill() };
}

/** Objects removed (`rclone delete --files-from`, relative to `spec`): one process for all of them. */
export async function removeObjects(io: DestOptions, spec: string, keys: string[]): Promise<void> {
  if (!keys.length) return;
  const r = await rclone(io, ['delete', '--files-from-raw', '-', spec], Buffer.from(`${keys.join('\n')}\n`));
  if (r.code !== 0 && !notThere(r)) throw rcloneFailed(`removing ${keys.length} object(s) from ${spec}`, r);
}

/** Every object under `spec` removed (`rclone purge`); one already gone is not an error. */
export async function purgeObjects(io: DestOptions, spec: string): Promise<void> {
  const r = await rclone(io, ['purge', spec]);
  if (r.code !== 0 && !notThere(r)) throw rcloneFailed(`removing ${spec}`, r);
}
