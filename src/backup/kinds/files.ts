import { existsSync, lstatSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, normalize } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { VaultError } from '../../errors/errors.js';
import { makeDirs } from '../../fs/dirs.js';
import { randomHex } from '../../fs/random.js';
import { guardedAt, refusedAsGuarded } from '../../fs/replace.js';
import { startTool } from '../../tool/run.js';
import { list, map, object, refine, string } from '../../vault/shape.js';
import type { BackupKind, Component, DrillCheckSpec, Env, KindCheck, Restorer, RestoreRequest, RunBounds } from '../kind.js';
import { defineKind } from './loaded.js';
import type { Consumer } from '../pipeline.js';
import { pathTarget } from '../protect.js';
import { versionBeside } from '../tool.js';

/**
 * `files`: files and folders as a tar stream (relative to a base folder),
 * checked in full by `tar -t`, restored by `tar -x` into a staging folder
 * beside the target and moved into place (never over existing files without
 * `force`), drilled into a scratch folder where the files are looked for.
 */
export interface FilesOptions {
  base: string;
  paths: string[];
  /** The component's name: files/NAME. */
  name: string;
}

async function dump(o: FilesOptions, env: Env): Promise<Component> {
  if (!o.paths.length) throw new VaultError('usage', 'which files? name at least one path');
  for (const p of o.paths) if (p.startsWith('-')) throw new VaultError('usage', `path ${JSON.stringify(p)} starts with "-": write ./${p}`);
  return {
    component: `files/${o.name}`,
    kind: 'files',
    producer: { kind: 'process', command: 'tar', args: ['-c', '-f', '-', '-C', o.base, '--', ...o.paths], env },
    // Its version asked beside it (given by `beside`).
    tool: { name: 'tar', version: '', args: ['-c', '-C', o.base, ...o.paths] },
    source: { base: o.base, paths: o.paths.join(' '), machine: hostname() },
    beside: () => versionBeside('tar', env),
  };
}

const ESCAPES: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34, "'": 39, '?': 63 };

/**
 * A name as GNU tar lists it with --quoting-style=escape (C escapes, octal
 * for any other byte), as the bytes it names: a name holding a newline or a
 * backslash is listed escaped, and must be looked up as it is on disk.
 */
export function tarNameBytes(listed: string): Buffer {
  if (!listed.includes('\\')) return Buffer.from(listed);
  const out: number[] = [];
  const b = Buffer.from(listed);
  for (let i = 0; i < b.length; i++) {
    if (b[i] !== 0x5c || i + 1 === b.length) {
      out.push(b[i]!);
      continue;
    }
    const oct = /^[0-7]{1,3}/.exec(b.subarray(i + 1, i + 4).toString('latin1'))?.[0];
    if (oct) {
      out.push(Number.parseInt(oct, 8) & 0xff);
      i += oct.length;
      continue;
    }
    const e = ESCAPES[String.fromCharCode(b[i + 1]!)];
    if (e === undefined) out.push(b[i]!);
    else {
      out.push(e);
      i++;
    }
  }
  return Buffer.from(out);
}

/** The check pass of a restore: tar -t, keeping the names, so conflicts are found before anything is extracted. */
function listingTar(env: Env, names: string[], b: RunBounds): Consumer {
  return {
    kind: 'inline',
    label: 'tar -t',
    consume: async (r) => {
      const run = startTool('tar', ['-t', '--quoting-style=escape', '-f', '-'], {
        env,
        stdin: 'pipe',
        bound: { ms: b.timeoutMs },
        ...(b.onStart ? { onStart: b.onStart } : {}),
      });
      let out = '';
      // Decoded as a stream: a character cut between two reads is kept whole.
      run.child.stdout!.setEncoding('utf8');
      run.child.stdout!.on('data', (c: string) => {
        if (out.length < 16 << 20) out += c;
      });
      run.child.stdin!.on('error', () => undefined);
      try {
        await pipeline(r, run.child.stdin!).catch(() => undefined);
        const exit = await run.exited.catch((e: VaultError) => {
          throw new VaultError(e.code === 'tool-missing' ? 'not-found' : 'io', `tar could not be run: ${e.code === 'tool-missing' ? 'ENOENT' : e.message}`);
        });
        if (run.expired)
          throw new VaultError('io', `tar -t did not finish within ${Math.round(b.timeoutMs / 1000)} s: it was stopped`, { code: 'tool-timeout' });
        if (exit.code !== 0) throw new VaultError('verify-failed', `tar -t failed (exit ${exit.code}): ${run.why()}`);
        names.push(...out.split('\n').filter(Boolean));
      } finally {
        run.kill();
      }
    },
  };
}

/** Moves what a staging folder holds into `dir`, folder by folder; `force` lets a file replace one that is there (never one the tool guards). */
function mergeInto(from: string, dir: string, force: boolean): void {
  for (const name of readdirSync(from)) {
    const a = join(from, name);
    const b = join(dir, name);
    let there: ReturnType<typeof lstatSync> | undefined;
    try {
      there = lstatSync(b);
    } catch {
      there = undefined;
    }
    if (!there) renameSync(a, b);
    else if (there.isDirectory() && lstatSync(a).isDirectory()) mergeInto(a, b, force);
    else if (force) {
      const guarded = guardedAt(b);
      if (guarded) throw refusedAsGuarded([`${b} (${guarded})`]);
      if (there.isDirectory()) rmSync(b, { recursive: true, force: true });
      renameSync(a, b);
    } else throw new VaultError('exists', `${b} appeared while the restore ran: nothing more was moved into place`, { code: 'restore-files-exist' });
  }
}

/**
 * Into a folder: the archive's names are listed in the check pass, and any
 * that would overwrite a file there refuse the restore (without `force`);
 * then extracted into a staging folder beside it (same file system) and
 * moved into place, so a failed extraction touches nothing in it. By
 * default files belong to whoever restores them, under their umask;
 * `sameOwner` keeps the archive's owners and modes (setuid bits included).
 */
function intoFolder(req: RestoreRequest): Restorer {
  const dir = req.dir!;
  const force = Boolean(req.force);
  const names: string[] = [];
  return {
    where: dir,
    label: `tar -x into ${dir}`,
    record: { force },
    guard: () => pathTarget('folders', dir),
    precheck: async () => undefined,
    check: (env, b) => ({
      consumer: listingTar(env, names, b),
      after() {
        // Each name looked up as the bytes it names (a newline, a backslash, a byte that is no UTF-8), never as tar's escaped listing.
        const clash = names
          .map((n) => tarNameBytes(n))
          .filter((n) => {
            try {
              return !lstatSync(Buffer.concat([Buffer.from(`${dir}/`), n])).isDirectory();
            } catch {
              return false;
            }
          })
          .map((n) => normalize(n.toString('utf8')));
        // Not even with force: a vault, a key file or a share set in the folder is never replaced by restored data.
        const guarded = clash.flatMap((n) => {
          const what = guardedAt(join(dir, n));
          return what ? [`${join(dir, n)} (${what})`] : [];
        });
        if (guarded.length) throw refusedAsGuarded(guarded);
        if (force) return;
        if (clash.length)
          throw new VaultError(
            'exists',
            `${clash.length} file(s) in ${dir} would be overwritten (${clash.slice(0, 3).join(', ')}${clash.length > 3 ? ', …' : ''}): nothing was restored`,
            { code: 'restore-files-exist' },
          );
      },
    }),
    async land(env) {
      const parent = dirname(dir);
      const made = makeDirs(parent);
      const staging = join(parent, `.${basename(dir)}.restore-${randomHex(4)}`);
      makeDirs(staging);
      const label = `tar -x into ${dir}`;
      const owners = req.sameOwner ? ['--same-owner', '--same-permissions'] : ['--no-same-owner', '--no-same-permissions'];
      const clean = () => {
        rmSync(staging, { recursive: true, force: true });
      };
      return {
        staged: true,
        consumer: { kind: 'process', command: 'tar', args: ['-x', '-f', '-', '-C', staging, ...owners], env, label },
        async commit() {
          try {
            if (!existsSync(dir)) renameSync(staging, dir);
            else mergeInto(staging, dir, force);
          } catch (e) {
            clean();
            for (const d of [...made].reverse()) rmSync(d, { recursive: true, force: true });
            throw e;
          }
          clean();
        },
        async abort() {
          clean();
          for (const d of [...made].reverse()) rmSync(d, { recursive: true, force: true });
        },
      };
    },
  };
}

const RELATIVE = string({ want: 'a path inside dir' });

/** `{ files: [.env, certs/tls.crt], dir: scratch/config }`: each file is there after the restore. */
const filesCheck: DrillCheckSpec = {
  key: 'files',
  kind: 'files',
  tools: [],
  shape: (dir) =>
    map(
      object({
        files: list(
          refine(RELATIVE, (f) => (f.split('/').includes('..') || f.startsWith('/') ? 'expected a path inside dir' : null)),
          { min: 1 },
        ),
        dir,
      }),
      (c): KindCheck => ({ kind: 'files', dir: c.dir, files: c.files }),
    ),
  describe: (c) => `${c.dir}: ${(c.files as string[]).length} files`,
  async run(c, on) {
    const files = c.files as string[];
    const missing = files.filter((f) => !existsSync(join(on.at, f)));
    if (missing.length) throw new Error(`missing from ${on.at}: ${missing.join(', ')}`);
    return `${files.length} files present in ${on.at}`;
  },
};

export const files: BackupKind<FilesOptions> = defineKind({
  name: 'files',
  folder: 'files',
  label: 'files',
  ext: 'tar',
  dump,
  shape: (_head, size) => (size < 1024 || size % 512 !== 0 ? `its output (${size} bytes) is not a tar archive` : null),
  verifier: (env) => ({ kind: 'process', command: 'tar', args: ['-t', '-f', '-'], env, label: 'tar -t' }),
  restore: { needs: 'dir', target: intoFolder },
  drill: {
    scratch: 'folder',
    tools: [{ command: 'tar', pkg: 'tar' }],
    checks: [filesCheck],
    initChecks(dir, newest) {
      // The paths as tar was given them (the manifest's tool arguments keep each one whole, spaces and all).
      const args = newest?.tool.args ?? [];
      const given = args[0] === '-c' && args[1] === '-C' ? args.slice(3) : (newest?.source.paths?.split(' ') ?? []);
      const paths = given.filter((p) => p && !p.split('/').includes('..') && !p.startsWith('/'));
      return paths.length ? [{ files: paths, dir }] : [];
    },
  },
});
