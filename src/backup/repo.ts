import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { VaultError } from '../errors/errors.js';
import { checkWritableTarget, fsyncDir, pidAlive, removeQuietly, sweepTempFiles, tempNameFor } from '../fs/atomic.js';
import { registerCleanup } from '../fs/cleanup.js';
import { checkOutput } from '../fs/output.js';
import { resolveTarget } from '../fs/target.js';
import { makeDirs } from '../fs/dirs.js';
import { fsError } from '../fs/errors.js';
import { LIMITS } from '../fs/read.js';
import {
  knownUnreachable,
  list,
  PRIVATE,
  rcloneMissing,
  rcloneTimedOut,
  readFile,
  remove,
  runRclone,
  spawnRclone,
  writeFile,
  type Destination,
  type DestOptions,
} from '../dest/dest.js';
import { externalTimeoutMs, killChild, Watchdog } from '../dest/timeout.js';
import { manifestName, parseManifest, type BackupManifest } from './manifest.js';

/**
 * A backup repository: a folder or an rclone remote (as restic's `-r`),
 * one folder per component, each backup an age file beside its manifest:
 *
 *   <repo>/<component>/<YYYYMMDDTHHMMSSZ>-<id>.<ext>.age
 *   <repo>/<component>/<YYYYMMDDTHHMMSSZ>-<id>.<ext>.age.manifest.json
 *
 * Files are written under a temp name and moved into place only when whole;
 * the manifest goes last.
 */
export interface Repo {
  dest: Destination;
  io: DestOptions;
}

/** A component's own name (the part after the kind): no `.` or `..`, no leading dot, no `/`. */
const NAME = /^[a-z0-9][a-z0-9._-]*$/;
const KINDS = new Set(['postgres', 'postgres-base', 'redis', 'files', 'k8s', 'exec']);

/** Whether `name` may follow the kind in a component name. */
export const isComponentName = (name: string): boolean => NAME.test(name) && name.length <= 100;

/**
 * The one check of a component name, KIND/NAME (postgres/app, files/config):
 * every folder a backup writes goes through it before anything runs, so no
 * name reaches outside its kind's folder, hides (a leading dot) or nests
 * deeper than listing looks.
 */
export function checkComponent(c: string): string {
  const [kind, name, ...more] = c.split('/');
  if (more.length || !kind || !KINDS.has(kind) || name === undefined || !isComponentName(name)) {
    throw new VaultError(
      'usage',
      `invalid component name ${JSON.stringify(c)}: KIND/NAME, KIND one of ${[...KINDS].join(', ')}, NAME of lowercase letters, digits, . _ - starting with a letter or a digit (as postgres/app)`,
    );
  }
  return c;
}

/** The repository folder of a component, as a destination. */
export function componentDest(repo: Repo, component: string): Destination {
  const d = repo.dest;
  return d.kind === 'folder'
    ? { kind: 'folder', path: join(d.path, component), spec: join(d.path, component) }
    : { kind: 'rclone', remote: d.remote, path: d.path ? `${d.path}/${component}` : component, spec: `${d.remote}:${d.path ? `${d.path}/` : ''}${component}` };
}

/** A file being written: stream into `stream`, then `commit()` (moved into place) or `abort()` (removed). */
export interface PendingFile {
  stream: Writable;
  commit(): Promise<string>;
  abort(): Promise<void>;
  /** What an error of `stream` means, as a one-line error naming the file (a full disk, a failed upload). */
  explain(e: unknown): Promise<VaultError>;
}

/**
 * Temp names in a component folder: `.<file>.<pid>.<hex>.h<host>.tmp`, the
 * host a short hash of its name, so that a sweep judges only the processes
 * of its own host (a repository folder may be shared). Older names
 * (`.<file>.<pid>.<hex>.tmp`, as the vault's own atomic writes use) carry no
 * host: they are swept once their process is gone here and they are a day old.
 */
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
const TEMP = /^\.(.+)\.(\d+)\.[0-9a-f]{8}(?:\.h([0-9a-f]{8}))?\.tmp$/;
const DAY = 86_400_000;
const tempName = (name: string) => `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.h${HOST_TAG}.tmp`;

/**
 * Removes the temp files that backups killed on this host (SIGKILL, power
 * loss) left in a component folder: every one whose process is gone, whatever
 * file it was for. Best effort: a folder it cannot read or change is left.
 */
export function sweepFolder(dir: string, now = Date.now()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || pidAlive(pid)) continue;
    if (m[3] !== HOST_TAG) {
      // Another host's temp file is never ours to judge; one without a host only once it is a day old.
      if (m[3] !== undefined) continue;
      try {
        if (now - statSync(join(dir, name)).mtimeMs < DAY) continue;
      } catch {
        continue;
      }
    }
    removeQuietly(join(dir, name));
    removed.push(name);
  }
  return removed;
}

/** On a remote, where no process can be judged: temp names a day old or more, left by backups that never finished. */
async function sweepRemote(d: Destination, repo: Repo, now = Date.now()): Promise<void> {
  try {
    for (const f of await list(d, repo.io)) {
      if (TEMP.test(f.name) && now - Date.parse(f.modTime) > DAY) await remove(d, f.name, repo.io).catch(() => undefined);
    }
  } catch {
    /* best effort: the backup itself is done */
  }
}

/**
 * A streaming write that is never visible under its final name until whole:
 * a temp file beside it (0600), fsync, rename (or, exclusive, a link that
 * fails if the name was taken meanwhile), fsync of the folder. An abort, an
 * error or an exit removes the temp file; a SIGKILL leaves one the next
 * write sweeps.
 */
export function createLocalFile(path: string, opts: { exclusive: boolean; inRepo?: boolean }): PendingFile {
  // Through a link to the file it names; a forced write never replaces a vault or a key file.
  const final = resolveTarget(path);
  if (opts.inRepo) checkWritableTarget(final, opts.exclusive);
  else checkOutput(final, 'data', { force: !opts.exclusive });
  sweepTempFiles(final);
  // In a component folder, every temp file a killed backup left goes, whatever file it was for.
  if (opts.inRepo) sweepFolder(dirname(final));
  const tmp = opts.inRepo ? join(dirname(final), tempName(basename(final))) : tempNameFor(final);
  const unregister = registerCleanup(() => removeQuietly(tmp));
  const stream = createWriteStream(tmp, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 });
  return {
    stream,
    explain: async (e) => fsError(e, 'write', final),
    async commit() {
      try {
        const fd = openSync(tmp, 'r');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        if (opts.exclusive) {
          try {
            linkSync(tmp, final);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new VaultError('exists', `${final} already exists; refusing to overwrite it`);
            throw e;
          }
          unlinkSync(tmp);
        } else renameSync(tmp, final);
        fsyncDir(dirname(final));
        return final;
      } catch (e) {
        removeQuietly(tmp);
        throw fsError(e, 'write', final);
      } finally {
        unregister();
      }
    },
    async abort() {
      stream.destroy();
      removeQuietly(tmp);
      unregister();
    },
  };
}

function removeEmptyDirs(dirs: string[]): void {
  for (const d of [...dirs].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
  }
}

/** Opens a streaming write of `name` into the component's folder, never visible under its name until committed. */
export function createFile(repo: Repo, component: string, name: string, opts: { sizeEstimate?: number } = {}): PendingFile {
  checkComponent(component);
  const d = componentDest(repo, component);
  const tmpName = tempName(name);
  if (d.kind === 'folder') {
    const made = makeDirs(d.path);
    const f = createLocalFile(join(d.path, name), { exclusive: true, inRepo: true });
    // A failed first backup of a component leaves no empty folder behind.
    return {
      ...f,
      abort: async () => {
        await f.abort();
        removeEmptyDirs(made);
      },
    };
  }
  // rclone: stream into `rclone rcat` under the temp name, then move it into place.
  const remote = (n: string) => `${d.remote}:${d.path ? `${d.path}/` : ''}${n}`;
  const args = ['rcat', ...PRIVATE];
  // An upload of unknown size goes in chunks; S3 allows 10,000 parts, so big ones need big chunks.
  if (opts.sizeEstimate && opts.sizeEstimate > 40 * 2 ** 30) args.push('--s3-chunk-size', `${Math.ceil((opts.sizeEstimate * 1.5) / 9000 / 2 ** 20)}M`);
  args.push(remote(tmpName));
  const known = knownUnreachable(repo.io, args);
  if (known) throw known;
  const p = spawnRclone(repo.io, args, ['pipe', 'ignore', 'pipe']);
  let err = '';
  p.stderr!.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-2048)));
  const exited = new Promise<number | null>((res) => p.on('close', (code) => res(code)));
  const failed = new Promise<never>((_, rej) =>
    p.on('error', (e) =>
      rej(
        new VaultError('not-found', `rclone could not be run: ${(e as NodeJS.ErrnoException).code ?? e.message}`, {
          hint: 'install rclone, or use a local folder as the repository',
        }),
      ),
    ),
  );
  failed.catch(() => undefined);
  const message = () =>
    err
      .split('\n')
      .filter((l) => l && !/Config file .* not found/.test(l))
      .slice(-2)
      .join('; ');
  const uploadFailed = (code: number | null) =>
    rcloneMissing(code, err)
      ? new VaultError('not-found', 'rclone could not be run: it is not installed', { hint: 'install rclone, or use a local folder as the repository' })
      : new VaultError('io', `uploading ${remote(name)} failed (rclone exit ${code}): ${message() || 'no message'}`, {
          hint: 'check the remote name, its credentials and the network',
        });
  p.stdin!.on('error', () => undefined);
  return {
    stream: p.stdin!,
    async commit() {
      // The upload's end (rclone sends what it holds, then exits) is bounded as every call is.
      const ms = externalTimeoutMs(repo.io.env);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((res) => {
        timer = setTimeout(() => res('late'), ms);
        timer.unref();
      });
      const code = await Promise.race([exited, failed, late]).finally(() => clearTimeout(timer));
      if (code === 'late') {
        killChild(p);
        // Known unreachable from now on: the clean-up below fails at once rather than wait again.
        const e = rcloneTimedOut(repo.io, args, ms);
        await runRclone(repo.io, ['deletefile', remote(tmpName)]).catch(() => undefined);
        throw e;
      }
      if (code !== 0) {
        await runRclone(repo.io, ['deletefile', remote(tmpName)]).catch(() => undefined);
        throw uploadFailed(code);
      }
      const mv = await runRclone(repo.io, ['moveto', '-M', remote(tmpName), remote(name)]);
      if (mv.code !== 0) throw new VaultError('io', `moving ${remote(name)} into place failed: ${mv.stderr.split('\n').slice(-1)[0]}`);
      await sweepRemote(d, repo);
      return remote(name);
    },
    async explain(e) {
      // rclone stopped reading (it failed): its exit status and message say why.
      const code = await Promise.race([exited, failed, new Promise<'running'>((res) => setTimeout(() => res('running'), 2000).unref())]).catch(
        () => 'failed' as const,
      );
      if (typeof code === 'number' && code !== 0) return uploadFailed(code);
      if (code === null) return uploadFailed(code);
      return new VaultError('io', `uploading ${remote(name)} failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        hint: 'check the remote name, its credentials and the network',
      });
    },
    async abort() {
      killChild(p);
      await Promise.race([exited, new Promise((res) => setTimeout(res, 2000).unref())]);
      await runRclone(repo.io, ['deletefile', remote(tmpName)]).catch(() => undefined);
    },
  };
}

/**
 * Streams a backup file out of the repository. From a remote, `rclone cat`
 * is stopped when it makes no progress within the run's bound (the stream
 * then fails as unreachable), and when the reader stops reading.
 */
export function openFile(repo: Repo, component: string, name: string): Readable {
  const d = componentDest(repo, component);
  if (d.kind === 'folder') return createReadStream(join(d.path, name), { highWaterMark: 1 << 20 });
  const args = ['cat', `${d.remote}:${d.path ? `${d.path}/` : ''}${name}`];
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const known = knownUnreachable(repo.io, args);
  if (known) {
    process.nextTick(() => out.destroy(known));
    return out;
  }
  const p = spawnRclone(repo.io, args, ['ignore', 'pipe', 'pipe']);
  let err = '';
  const dog = new Watchdog(externalTimeoutMs(repo.io.env), () => {
    killChild(p);
    out.destroy(rcloneTimedOut(repo.io, args, dog.ms));
  });
  p.stderr!.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-2048)));
  p.stdout!.on('data', () => dog.kick());
  p.stdout!.pipe(out);
  p.on('error', (e) => {
    dog.stop();
    out.destroy(new VaultError('not-found', `rclone could not be run: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
  });
  p.on('close', (code) => {
    dog.stop();
    if (code === 0 || out.destroyed) return;
    out.destroy(
      rcloneMissing(code, err)
        ? new VaultError('not-found', 'rclone could not be run: it is not installed', { hint: 'install rclone, or use a local folder as the repository' })
        : new VaultError('io', `reading ${d.spec}/${name} failed (rclone exit ${code}): ${err.split('\n').filter(Boolean).slice(-1)[0] ?? ''}`),
    );
  });
  // A reader that stops early (an error downstream) leaves no rclone behind.
  out.on('close', () => {
    dog.stop();
    if (p.exitCode === null && p.signalCode === null) killChild(p);
  });
  return out;
}

export async function writeManifest(repo: Repo, m: BackupManifest, replace = false): Promise<string> {
  checkComponent(m.component);
  return (
    await writeFile(componentDest(repo, m.component), manifestName(m.file), Buffer.from(JSON.stringify(m, null, 2) + '\n'), { ...repo.io, exclusive: !replace })
  ).location;
}

export interface Listed {
  component: string;
  file: string;
  manifest?: BackupManifest;
  /** Why the backup cannot be used: no manifest (incomplete), an unreadable one, a manifest without its file. */
  problem?: string;
  /** The problem is this host's, not the backup's: a manifest format newer than this vault-tool, or a manifest that could not be fetched. */
  undecided?: boolean;
}

/** Every backup in the repository (components are one or two folder levels deep). */
export async function listRepo(repo: Repo): Promise<Listed[]> {
  const components: string[] = [];
  const walk = async (d: Destination, prefix: string, depth: number) => {
    const files = await list(d, repo.io);
    if (files.some((f) => f.name.endsWith('.age') || f.name.endsWith('.manifest.json'))) components.push(prefix);
    if (depth >= 2) return;
    for (const sub of await subfolders(d, repo)) await walk(componentDest({ ...repo, dest: d }, sub), prefix ? `${prefix}/${sub}` : sub, depth + 1);
  };
  await walk(repo.dest, '', 0);
  const out: Listed[] = [];
  for (const component of components.filter(Boolean).sort()) {
    const d = componentDest(repo, component);
    const files = await list(d, repo.io);
    const names = new Set(files.map((f) => f.name));
    for (const f of files) {
      if (f.name.endsWith('.age')) {
        if (!names.has(manifestName(f.name))) {
          out.push({ component, file: f.name, problem: 'no manifest: an incomplete backup (interrupted, or its verification failed)' });
          continue;
        }
        try {
          const m = parseManifest(
            (await readFile(d, manifestName(f.name), repo.io, LIMITS.text, 'manifest')).toString('utf8'),
            `${component}/${manifestName(f.name)}`,
          );
          if (m.file !== f.name || m.component !== component)
            out.push({ component, file: f.name, manifest: m, problem: `the manifest names ${m.component}/${m.file}: it was moved or edited` });
          else out.push({ component, file: f.name, manifest: m });
        } catch (e) {
          const undecided = e instanceof VaultError && (e.kind === 'invalid' || e.kind === 'io');
          out.push({ component, file: f.name, problem: (e as Error).message, ...(undecided ? { undecided } : {}) });
        }
      } else if (f.name.endsWith('.manifest.json') && !names.has(f.name.slice(0, -'.manifest.json'.length))) {
        out.push({ component, file: f.name.slice(0, -'.manifest.json'.length), problem: 'the backup file is missing (its manifest is there)' });
      }
    }
  }
  return out.sort((a, b) => (a.component === b.component ? a.file.localeCompare(b.file) : a.component.localeCompare(b.component)));
}

async function subfolders(d: Destination, repo: Repo): Promise<string[]> {
  if (d.kind === 'folder') {
    try {
      return readdirSync(d.path, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => e.name);
    } catch {
      return [];
    }
  }
  const r = await runRclone(repo.io, ['lsf', '--dirs-only', `${d.remote}:${d.path}`]);
  return r.code === 0
    ? r.stdout
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/\/$/, ''))
        .filter((n) => !n.startsWith('.'))
    : [];
}

/** Deletes a backup: the manifest first (so an interrupted delete leaves an incomplete backup, never a manifest without its file). */
export async function removeBackup(repo: Repo, component: string, file: string): Promise<void> {
  const d = componentDest(repo, component);
  await remove(d, manifestName(file), repo.io);
  await remove(d, file, repo.io);
}
