import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, rmSync, write, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redactArgs } from '../backup/redact.js';
import { VaultError } from '../errors/errors.js';
import { checkHandoverVariable, ENV_NAME, type HandoverRequest } from '../vault/handover.js';
import { parseRef } from '../vault/types.js';
import type { Context } from './context.js';

/**
 * What is wrong with one `--env`/`--fd` value, said precisely: no `=`, nothing
 * before it, or nothing after it (`--env KEK=` from `--env KEK=$ENTRY` with
 * ENTRY unset: the variable would get nothing, and no entry is named).
 */
function badSpec(option: '--env' | '--fd', item: string, what: string, name?: string): VaultError {
  return new VaultError('usage', `${option} ${JSON.stringify(item)}: ${what}`, {
    code: 'handover-spec',
    data: { option, ...(name ? { name } : {}) },
  });
}

/** Splits `LEFT=ENTRY[@VERSION]`, refusing a value without `=`, with nothing before it or nothing after it. */
function splitSpec(option: '--env' | '--fd', item: string): [string, string] {
  const left = option === '--env' ? 'NAME' : 'N';
  const i = item.indexOf('=');
  if (i < 0) throw badSpec(option, item, `expected ${left}=ENTRY or ${left}=ENTRY@VERSION`);
  const name = item.slice(0, i);
  if (!name) throw badSpec(option, item, `nothing before =: expected ${left}=ENTRY`);
  if (i === item.length - 1) throw badSpec(option, item, `no entry after =: ${name} would get nothing`, name);
  return [name, item.slice(i + 1)];
}

/** `--env NAME=ENTRY[@VERSION]`, repeatable; a NAME given twice is refused. */
export function parseEnvSpecs(list: string[] = []): HandoverRequest[] {
  const seen = new Set<string>();
  return list.map((item) => {
    const [name, ref] = splitSpec('--env', item);
    if (!ENV_NAME.test(name)) throw badSpec('--env', item, `${name} is not a variable name (letters, digits and _, not first a digit)`);
    checkHandoverVariable(name);
    if (seen.has(name)) throw new VaultError('usage', `--env ${name} is given twice`);
    seen.add(name);
    const { name: entry, version } = parseRef(ref);
    return { to: { env: name }, entry, ...(version ? { version } : {}) };
  });
}

/** `--fd N=ENTRY[@VERSION]`, N from 3 (0, 1 and 2 are the command's standard streams); an N given twice is refused. */
export function parseFdSpecs(list: string[] = []): HandoverRequest[] {
  const seen = new Set<number>();
  return list.map((item) => {
    const [n, ref] = splitSpec('--fd', item);
    if (!/^[0-9]+$/.test(n)) throw badSpec('--fd', item, `${n} is not a descriptor number`);
    const fd = Number(n);
    if (fd < 3 || fd > 255)
      throw new VaultError('usage', `--fd ${fd}: a descriptor from 3 to 255 (0, 1 and 2 are the command's standard input, output and error)`);
    if (seen.has(fd)) throw new VaultError('usage', `--fd ${fd} is given twice`);
    seen.add(fd);
    const { name: entry, version } = parseRef(ref);
    return { to: { fd }, entry, ...(version ? { version } : {}) };
  });
}

/**
 * Warns when a command line given to vault-tool holds what looks like a
 * password or token (`Authorization: Bearer …`): any user of the host reads
 * it in ps and /proc while the command runs. The values found are concealed
 * from every later message of this run. Returns the command line as it may
 * be shown.
 */
export function warnSecretArgs(ctx: Context, args: string[]): string[] {
  const r = redactArgs(args);
  if (!r.redacted) return args;
  ctx.conceal(r.secrets);
  ctx.warn(
    `the command line holds what looks like a password or token (${r.shown.join(' ').slice(0, 160)}): any user of this host can read it while the command runs (ps, /proc)`,
  );
  ctx.hint('hand it over from the vault instead: --env NAME=ENTRY, and the command reads $NAME');
  return r.shown;
}

/** A value a child process gets on one of its descriptors. */
export interface SecretPipe {
  /** The descriptor, for the child's stdio. */
  fd: number;
  /** Once the child runs: hands the value over (as fast as the child reads, for a pipe) and drops this process's ends. */
  feed: () => Promise<void>;
  /** Closes what was opened (the child never started). */
  discard: () => void;
}

/**
 * The value on a descriptor a child reads from, or opens again as
 * /dev/fd/N (`age -d -i /dev/fd/3`) at any time, as often as it likes. On
 * Linux that is a file in shared memory (/dev/shm, a tmpfs: never a disk)
 * made in a private folder (mode 0700) and unlinked before the child
 * starts: a named pipe cannot be, since reopening one waits for a writer,
 * and the writer has gone once the value is written (a command that opens
 * /dev/fd/N after that waits forever). Elsewhere (macOS reopens /dev/fd/N
 * as a copy of the descriptor), a named pipe.
 */
export function secretDescriptor(value: Uint8Array): SecretPipe {
  if (process.platform === 'linux' && existsSync(SHM)) {
    const f = sharedMemoryFile(value);
    if (f) return f;
  }
  const p = secretPipe();
  return { fd: p.fd, feed: () => p.feed(value), discard: p.discard };
}

const SHM = '/dev/shm';

function sharedMemoryFile(value: Uint8Array): SecretPipe | undefined {
  let dir: string;
  try {
    dir = mkdtempSync(join(SHM, 'vault-tool-fd-'));
  } catch {
    return undefined;
  }
  try {
    const path = join(dir, 'value');
    const w = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      for (let off = 0; off < value.length; ) off += writeSync(w, value, off);
    } finally {
      closeSync(w);
    }
    const fd = openSync(path, constants.O_RDONLY);
    let open = true;
    const close = () => {
      if (open) closeSync(fd);
      open = false;
    };
    return { fd, feed: async () => close(), discard: close };
  } catch (e) {
    throw new VaultError('io', `cannot hand the value over in ${dir}: ${(e as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A named pipe whose read end a child process gets as one of its descriptors. */
interface NamedPipe {
  fd: number;
  feed: (value: Uint8Array) => Promise<void>;
  discard: () => void;
}

/**
 * A pipe for a child process's descriptor: a named pipe made in a private
 * folder (mode 0700) and removed at once, so that the child gets a real pipe
 * (unlike the socket Node gives a child). The value passes through the
 * kernel, never a disk; the child reads it to its end from the descriptor.
 */
function secretPipe(): NamedPipe {
  const dir = mkdtempSync(join(tmpdir(), 'vault-tool-fd-'));
  const path = join(dir, 'fd');
  const opened: number[] = [];
  try {
    execFileSync('mkfifo', ['-m', '600', path], { stdio: 'ignore' });
    // A reader first (non-blocking, so that opening does not wait), then the writer, then the blocking reader the child gets.
    opened.push(openSync(path, constants.O_RDONLY | constants.O_NONBLOCK));
    opened.push(openSync(path, constants.O_WRONLY));
    opened.push(openSync(path, constants.O_RDONLY));
    closeSync(opened.shift()!);
  } catch (e) {
    for (const fd of opened) closeSync(fd);
    throw new VaultError('io', `cannot make a pipe in ${dir}: ${(e as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const [writer, reader] = opened as [number, number];
  return {
    fd: reader,
    discard: () => {
      closeSync(reader);
      closeSync(writer);
    },
    feed: (value) => {
      closeSync(reader);
      return new Promise<void>((res) => {
        let off = 0;
        const next = (): void => {
          if (off >= value.length) {
            closeSync(writer);
            return res();
          }
          write(writer, value, off, value.length - off, null, (err, n) => {
            // EPIPE: the command exited without reading it all.
            if (err) {
              closeSync(writer);
              return res();
            }
            off += n;
            next();
          });
        };
        next();
      });
    },
  };
}
