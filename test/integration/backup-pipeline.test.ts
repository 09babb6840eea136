import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { hostname } from 'node:os';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDbname, componentForDatabase, parseConninfo } from '../../src/backup/kinds/postgres.js';
import { redactArgs } from '../../src/backup/redact.js';
import { checkComponent } from '../../src/backup/component.js';
import { sweepFolder } from '../../src/dest/folder.js';
import { produce } from '../../src/backup/pipeline.js';
import { startEarly } from '../../src/backup/early.js';
import { createPendingFile } from '../../src/fs/pending.js';
import { X25519Identity } from '../../src/age/x25519.js';
import { BIN, cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { havePostgres, startPostgres, type Postgres } from '../helpers/servers.mjs';
import { mountTmpfs, skipUnless } from '../helpers/require.js';

/**
 * The backup pipeline under failure: a full disk, a failing upload, a
 * checker that quits early, component names from the command line, the
 * credentials a command line holds, and the temp files of killed backups.
 */
let dir: string;
let cleanup: () => void;
let pg: Postgres | undefined;
const HAVE_PG = havePostgres();
const RCLONE = { RCLONE_CONFIG_X_TYPE: 'local' };

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> => cli(dir, args, { ...opts, env: { ...(pg?.env ?? {}), ...RCLONE, ...opts.env } });

/** The built CLI as its own process: a hang is a timeout (killed), an unsettled promise exit 13. */
function vtProcess(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<CliResult & { timedOut: boolean }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state'), ...(pg?.env ?? {}), ...RCLONE, ...env } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-p.pid!, 'SIGKILL');
    }, timeoutMs);
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr.on('data', (c: Buffer) => err.push(c));
    p.on('error', rej);
    p.on('close', (code) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      res({ code: code ?? -1, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes, timedOut });
    });
  });
}

/** The processes still running (after a moment to die) whose command line mentions `marker`: children a failed backup should have killed. */
async function survivors(marker: string): Promise<string[]> {
  let left = running(marker);
  for (let i = 0; i < 20 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = running(marker);
  }
  return left;
}

function running(marker: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(marker) && Number(pid) !== process.pid) out.push(`${pid}: ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

const walk = (d: string): string[] => {
  try {
    return readdirSync(d, { recursive: true }).map(String).sort();
  } catch {
    return [];
  }
};

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-bpipe-'));
  if (!existsSync(join(BIN, '../../dist/cli.cjs'))) spawnSync(process.execPath, ['build.mjs'], { cwd: join(BIN, '../..'), stdio: 'ignore' });
  if (HAVE_PG) pg = await startPostgres();
  expect((await vt(['init'])).code).toBe(0);
  // The backup key is made on first use (and says so): made here, so the failures below print only their error.
  expect((await vt(['backup', 'exec', '--name', 'first', '-r', 'first-repo', '--', 'echo', 'x'])).code).toBe(0);
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data/big'), Buffer.alloc(3_000_000, 7));
});
afterAll(() => {
  pg?.stop();
  cleanup();
});

describe('a failing stage ends the backup at once: a one-line error, nothing left, no process left', () => {
  let mnt: string;
  let mounted = false;
  let why = '';
  beforeAll(() => {
    mnt = join(dir, 'small');
    mkdirSync(mnt);
    ({ mounted, why } = mountTmpfs(mnt, 'size=2m'));
  });
  afterAll(() => {
    if (mounted) spawnSync('umount', [mnt]);
  });

  it('a full disk under tar (its checker tar -t waiting for the rest): exit 1 naming the file, temp file removed', async (ctx) => {
    skipUnless(ctx, mounted, why);
    const r = await vtProcess(['backup', 'files', '-r', join(mnt, 'repo'), '-C', 'data', '--name', 'full1', 'big']);
    expect(r.timedOut, 'the backup hung').toBe(false);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^vault-tool: error: cannot write ${join(mnt, 'repo/files/full1')}/\\d{8}T\\d{6}Z-[0-9a-f]{8}\\.tar\\.age: no space left on the device\\n$`),
    );
    expect(walk(join(mnt, 'repo')).filter((f) => f.endsWith('.tmp') || f.endsWith('.age'))).toEqual([]);
    expect(await survivors(join(dir, 'data'))).toEqual([]);
  });

  it('a full disk under a command with no checker: exit 1, not a silent exit 13', async (ctx) => {
    skipUnless(ctx, mounted, why);
    const r = await vtProcess(['backup', 'exec', '--name', 'full2', '-r', join(mnt, 'repo'), '--', 'head', '-c', '5000000', '/dev/urandom']);
    expect(r.timedOut, 'the backup hung').toBe(false);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^vault-tool: error: cannot write .*\/exec\/full2\/\S+\.bin\.age: no space left on the device\n$/);
    expect(walk(join(mnt, 'repo')).filter((f) => f.endsWith('.tmp') || f.endsWith('.age'))).toEqual([]);
  });

  it("an rclone upload that fails while the dump is still coming: exit 1 with rclone's message", async () => {
    writeFileSync(join(dir, 'plainfile'), 'x');
    const r = await vtProcess(['backup', 'files', '-r', `x:${join(dir, 'plainfile', 'repo')}`, '-C', 'data', '--name', 'up', 'big']);
    expect(r.timedOut, 'the backup hung').toBe(false);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      /^vault-tool: error: uploading x:.*\/plainfile\/repo\/files\/up\/\S+\.tar\.age failed \(rclone exit \d+\): .+\n(vault-tool: hint: .*\n)?$/,
    );
    expect(await survivors(join(dir, 'data'))).toEqual([]);
  });

  it('a dump tool that fails while something it started still holds its output: exit 19 at once', async () => {
    const t0 = Date.now();
    const r = await vtProcess(['backup', 'exec', '--name', 'held', '-r', 'repo', '--', 'sh', '-c', 'sleep 8 & echo partial; exit 3']);
    expect(r.timedOut, 'the backup hung').toBe(false);
    expect(r.code, r.stderr).toBe(19);
    expect(r.stderr).toBe('vault-tool: error: sh failed (exit 3); nothing was kept\n');
    expect(Date.now() - t0).toBeLessThan(6000);
    expect(walk(join(dir, 'repo/exec/held'))).toEqual([]);
  });

  describe.skipIf(!HAVE_PG)('a checker that fails before the dump ends', () => {
    const fakePgDump = (bytes: number) => {
      const bin = join(dir, `fake-pg-${bytes}`);
      mkdirSync(bin, { recursive: true });
      const real = spawnSync('sh', ['-c', 'command -v pg_dump'], { encoding: 'utf8' }).stdout.trim();
      writeFileSync(join(bin, 'pg_dump'), `#!/bin/sh\ncase "$1" in --version) exec ${real} --version;; esac\nprintf PGDMP\nhead -c ${bytes} /dev/urandom\n`);
      chmodSync(join(bin, 'pg_dump'), 0o755);
      return `${bin}:${process.env.PATH}`;
    };
    for (const bytes of [300_000, 5_000_000]) {
      it(`PGDMP and ${bytes} bytes of garbage: pg_restore refuses it, exit 19 with its message, nothing kept`, async () => {
        const r = await vtProcess(['backup', 'postgres', '--dbname', 'postgres', '-r', 'repo'], { PATH: fakePgDump(bytes) });
        expect(r.timedOut, 'the backup hung').toBe(false);
        expect(r.code, r.stderr).toBe(19);
        expect(r.stderr).toMatch(
          /^vault-tool: error: the dump does not pass pg_restore -f \/dev\/null: pg_restore -f \/dev\/null failed \(exit 1\): .+; nothing was kept\n$/,
        );
        expect(walk(join(dir, 'repo/postgres/postgres'))).toEqual([]);
        expect(await survivors(`fake-pg-${bytes}`)).toEqual([]);
      });
    }
  });
});

describe('a stage that stops answering ends the backup with its cause, never an unhandled error or a process left waiting', () => {
  /** A server that takes connections and never answers (a cluster API that hangs). */
  let hang: Server;
  let port = 0;
  const held: Socket[] = [];
  beforeAll(async () => {
    hang = createServer((s) => held.push(s));
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    port = (hang.address() as { port: number }).port;
    writeFileSync(
      join(dir, 'hang.kubeconfig'),
      `apiVersion: v1\nkind: Config\ncurrent-context: hang\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:${port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: hang\n  context: { cluster: c, user: u }\nusers:\n- name: u\n  user: { token: t }\n`,
    );
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise((r) => hang.close(r));
  });

  it('backup k8s against an API that never answers: stopped at VAULT_TOOL_TIMEOUT with one error line, and the process exits', async () => {
    const t0 = Date.now();
    const r = await vtProcess(['backup', 'k8s', '-n', 'apps', '--kubeconfig', 'hang.kubeconfig', '-r', 'hang-repo'], { VAULT_TOOL_TIMEOUT: '1s' }, 20_000);
    expect(r.timedOut, 'the process did not exit').toBe(false);
    expect(r.code, r.stderr).toBe(19);
    expect(r.stderr).toMatch(
      /^vault-tool: error: the Kubernetes API made no progress for 1s \(no output\): it was stopped; nothing was kept\nvault-tool: hint: .*\n$/,
    );
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(walk(join(dir, 'hang-repo'))).toEqual([]);
  });

  it('a request past --request-timeout is aborted, not left holding the process open', async () => {
    const r = await vtProcess(['backup', 'k8s', '-n', 'apps', '--kubeconfig', 'hang.kubeconfig', '--request-timeout', '1', '-r', 'hang-repo'], {}, 20_000);
    expect(r.timedOut, 'the process did not exit').toBe(false);
    expect(r.code, r.stderr).toBe(15);
    expect(r.stderr).toMatch(new RegExp(`^vault-tool: error: list secrets in apps: no answer from http://127.0.0.1:${port} \\(context hang\\) within 1 s\n`));
    expect(walk(join(dir, 'hang-repo'))).toEqual([]);
  });

  const recipient = X25519Identity.generate().identity.recipient;

  it('the library: a stream producer that never opens is stopped at the bound, told to give up, and leaves no file', async () => {
    const out = join(dir, 'lib-never.age');
    let told: AbortSignal | undefined;
    const never = (signal: AbortSignal) => {
      told = signal;
      return new Promise<Readable>(() => undefined);
    };
    await expect(
      produce({ kind: 'stream', name: 'the source', open: never }, recipient, createPendingFile(out, { exclusive: true }), {
        check: () => null,
        verifier: { kind: 'inline', label: 'reader', consume: async (r) => void (await r.toArray()) },
        timeoutMs: 300,
      }),
    ).rejects.toMatchObject({
      code: 'external-timeout',
      message: expect.stringMatching(/^the source made no progress for \S+ \(no output\): it was stopped; nothing was kept$/),
    });
    expect(told?.aborted).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('lib-never'))).toEqual([]);
  });

  it('the library: a checker that listens only later, torn down before it does, sees the error (no unhandled error event)', async () => {
    const out = join(dir, 'lib-late.age');
    const late = async (r: Readable) => {
      await new Promise((res) => setTimeout(res, 600));
      for await (const _ of r) {
        /* reads */
      }
    };
    await expect(
      produce(
        { kind: 'process', command: 'sh', args: ['-c', 'printf x; exec sleep 30'], env: { PATH: process.env.PATH } },
        recipient,
        createPendingFile(out, { exclusive: true }),
        { check: () => null, verifier: { kind: 'inline', label: 'late reader', consume: late }, timeoutMs: 300 },
      ),
    ).rejects.toThrow(/^sh made no progress for \S+ \(no output\): it was stopped; nothing was kept$/);
    await new Promise((res) => setTimeout(res, 800));
    expect(readdirSync(dir).filter((f) => f.includes('lib-late'))).toEqual([]);
  });
});

describe('a dump started before its run (while the vault is opened)', () => {
  const recipient = X25519Identity.generate().identity.recipient;
  const run = (out: string, early: ReturnType<typeof startEarly>, command: string, args: string[]) =>
    produce({ kind: 'process', command, args, env: { PATH: process.env.PATH }, early }, recipient, createPendingFile(join(dir, out), { exclusive: true }), {
      check: () => null,
      verifier: { kind: 'inline', label: 'reader', consume: async (r) => void (await r.toArray()) },
    });
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('one that wrote everything and exited before the run took it: every byte is in the backup', async () => {
    const text = 'x'.repeat(5000);
    const args = ['-c', 'printf %s "$1"', 'sh', text];
    const early = startEarly({ command: 'sh', args, env: { PATH: process.env.PATH } }, new Date());
    // Exited, its output unread (a child's unread stdout is resumed when it exits: it must not be lost).
    await new Promise((res) => early.run.child.once('exit', res));
    await new Promise((res) => setTimeout(res, 200));
    const p = await run('early-exited.age', early, 'sh', args);
    expect(p.plaintext).toEqual({ size: 5000, sha256: sha(Buffer.from(text)) });
  });

  it('one that writes more than a pipe holds: it waits for the run, then all of it is read', async () => {
    const args = ['-c', 'head -c 3000000 /dev/zero'];
    const early = startEarly({ command: 'sh', args, env: { PATH: process.env.PATH } }, new Date());
    await new Promise((res) => setTimeout(res, 300));
    const p = await run('early-big.age', early, 'sh', args);
    expect(p.plaintext).toEqual({ size: 3000000, sha256: sha(Buffer.alloc(3000000)) });
  });
});

describe('component names: one check before anything runs', () => {
  it('the check itself: KIND/NAME, no . or .. segment, no leading dot, no deeper /', () => {
    for (const good of ['postgres/app', 'files/config', 'exec/m.1_x-y', 'redis/default', 'k8s/prod']) expect(checkComponent(good)).toBe(good);
    for (const bad of [
      'files/../../x',
      'files/..',
      'files/.',
      'files/.hidden',
      'exec/a/b',
      'redis/A B',
      'postgres',
      'postgres/',
      '../postgres/x',
      'other/x',
      'files/UPPER',
    ])
      expect(() => checkComponent(bad), bad).toThrow(/invalid component name/);
  });

  it('--name is refused with a usage error, and nothing is written anywhere', async () => {
    const before = walk(dir);
    const cases: string[][] = [
      ['files', '--name', '../../escaped', '-C', 'data', 'big'],
      ['exec', '--name', '../../../tmp/x', '--', 'echo', 'x'],
      ['redis', '--name', 'A B/../..'],
      ['exec', '--name', 'a/b', '--', 'echo', 'x'],
      ['exec', '--name', 'UPPER case', '--', 'echo', 'x'],
      ['files', '--name', '.hidden', '-C', 'data', 'big'],
      ['k8s', '--name', '..', '-n', 'x'],
    ];
    for (const c of cases) {
      const r = await vt(['backup', ...c.slice(0, 1), '-r', 'names-repo', ...c.slice(1)]);
      expect(r.code, `${c.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, c.join(' ')).toMatch(/^vault-tool: error: .*--name ".*": a component name is lowercase letters, digits/m);
    }
    expect(walk(dir)).toEqual(before);
    expect(existsSync('/tmp/x')).toBe(false);
    // The hint offers the nearest name that is one.
    for (const [name, hint] of [
      ['UPPER case', 'write --name upper-case'],
      ['Ärger', 'write --name arger'],
      ['..', 'name it in lowercase letters and digits, with . _ - between words (--name app-db)'],
    ]) {
      const r = await vt(['backup', 'files', '-r', 'names-repo', '--name', name!, '-C', 'data', 'big']);
      expect(r.stderr.trim().split('\n').at(-1)).toBe(`vault-tool: hint: ${hint}`);
    }
  });

  it('database names map one to one onto valid components', () => {
    const names = ['orders', 'Orders', 'ORDERS', '..', '.', '.hidden', 'a b', 'a/b', 'globals', 'orders_0123456789', 'x'.repeat(63), 'Ärger'];
    const mapped = names.map(componentForDatabase);
    for (const m of mapped) expect(checkComponent(m)).toBe(m);
    expect(new Set(mapped).size).toBe(names.length);
    expect(mapped.includes('postgres/globals')).toBe(false);
    expect(componentForDatabase('orders')).toBe('postgres/orders');
    expect(componentForDatabase('Orders')).toMatch(/^postgres\/orders_[0-9a-f]{10}$/);
  });

  it.skipIf(!HAVE_PG)('--all with databases "..", ".hidden", "Orders" and "orders": each its own listed component, none in the repo root', async () => {
    for (const db of ['..', '.hidden', 'Orders', 'orders']) pg!.sql(`create database "${db}"`);
    const b = await vt(['backup', 'postgres', '--all', '-r', 'pg-repo', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const made = b.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.type === 'backup')
      .map((l) => l.component as string);
    expect(new Set(made).size).toBe(made.length);
    expect(made).toContain('postgres/orders');
    expect(made).toContain('postgres/globals');
    expect(made.filter((m) => /^postgres\/(orders|db|hidden)_[0-9a-f]{10}$/.test(m))).toHaveLength(3);
    expect(readdirSync(join(dir, 'pg-repo'))).toEqual(['postgres']);
    const listed = JSON.parse((await vt(['backup', 'list', '-r', 'pg-repo', '--json'])).stdout).map((x: { component: string }) => x.component);
    expect([...new Set(listed)].sort()).toEqual([...made].sort());
  });
});

describe('credentials on a command line', () => {
  it('exec: the manifest records argv redacted, and a warning says ps shows it', async () => {
    const args = ['--uri', 'mongodb://admin:Hunter2pw@db/x', '-pMySQLpw', 'PGPASSWORD=abc', '--password', 'Sep4rate', '--api-token=Tok3n'];
    const r = await vt(['backup', 'exec', '--name', 'm', '-r', 'cred-repo', '--json', '--', 'sh', '-c', 'echo dump', 'sh', ...args]);
    expect(r.code, r.stderr).toBe(0);
    // With --json the warning is an event on stderr.
    const warnings = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.type === 'warning');
    expect(warnings).toEqual([
      {
        type: 'warning',
        code: null,
        message: expect.stringMatching(
          /^the command line holds what looks like a password or token \(.*\): any user of this host can read it while the command runs \(ps, \/proc\)$/,
        ),
      },
    ]);
    const file = walk(join(dir, 'cred-repo/exec/m')).find((f) => f.endsWith('.manifest.json'))!;
    const text = readFileSync(join(dir, 'cred-repo/exec/m', file), 'utf8');
    for (const secret of ['Hunter2pw', 'MySQLpw', 'PGPASSWORD=abc', 'Sep4rate', 'Tok3n']) expect(text).not.toContain(secret);
    expect(JSON.stringify(JSON.parse(text).tool)).not.toContain('abc');
    expect(JSON.parse(text).tool.args).toEqual([
      '-c',
      'echo dump',
      'sh',
      '--uri',
      'mongodb://admin:***@db/x',
      '-p***',
      'PGPASSWORD=***',
      '--password',
      '***',
      '--api-token=***',
    ]);
    const plain = await vt(['backup', 'exec', '--name', 'n', '-r', 'cred-repo', '--', 'echo', 'nothing', 'secret-free']);
    expect(plain.stderr).not.toContain('warning');
  });

  it('redaction covers scripts, query strings and conninfo too', () => {
    expect(redactArgs(['-c', "PGPASSWORD='a b' pg_dump -d x; MYSQL_PWD=zz mysqldump"]).shown).toEqual([
      '-c',
      'PGPASSWORD=*** pg_dump -d x; MYSQL_PWD=*** mysqldump',
    ]);
    expect(redactArgs(['postgresql://u@h/db?sslmode=require&password=zz']).shown).toEqual(['postgresql://u@h/db?sslmode=require&password=***']);
    expect(redactArgs(['dbname=x password = S3cret']).shown).toEqual(['dbname=x password = ***']);
    expect(redactArgs(['--port', '5432', 'plain']).redacted).toBe(false);
  });

  it('postgres: any password or passfile in --dbname is refused, however libpq would spell it', async () => {
    const refused = [
      'dbname=orders password = S3cretPW',
      'dbname=orders password=S3cretPW',
      "dbname='orders' password = 'S3cret PW'",
      'host=/tmp passfile=/home/u/.pgpass',
      'postgresql://app:S3cretPW@localhost/orders',
      'postgres://app:@localhost/orders',
      'postgresql://app@localhost/orders?sslmode=disable&password=S3cretPW',
      'postgresql://app@localhost/orders?pass%77ord=S3cretPW',
      "dbname='postgresql://app:S3cretPW@localhost/orders'",
    ];
    for (const d of refused) expect(() => checkDbname(d), d).toThrow(/the connection string holds a password/);
    expect(() => checkDbname("dbname='unterminated")).toThrow(/cannot be read as libpq reads one/);
    for (const d of ['orders', 'dbname=orders', 'dbname = orders host=/tmp', 'postgresql://app@localhost/orders?sslmode=disable', "dbname='my password db'"])
      expect(() => checkDbname(d), d).not.toThrow();
    expect(parseConninfo("dbname = 'a \\' b' x=y")).toEqual([
      ['dbname', "a ' b"],
      ['x', 'y'],
    ]);
    const r = await vt(['backup', 'postgres', '--dbname', 'dbname=orders password = S3cretPW', '-r', 'repo']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vault-tool: error: the connection string holds a password/);
    expect(r.stderr).not.toContain('S3cretPW');
  });

  it('postgres: every libpq parameter that holds a secret is refused in --dbname, keyword and URI forms', async () => {
    const refused: [string, string][] = [
      ['dbname=orders sslpassword=KeyPassphrase1', 'sslpassword'],
      ["dbname=orders sslpassword = 'Key Passphrase 1'", 'sslpassword'],
      ['dbname=orders SSLPASSWORD=KeyPassphrase1', 'sslpassword'],
      ['postgresql://app@localhost/orders?sslmode=verify-full&sslpassword=KeyPassphrase1', 'sslpassword'],
      ['postgresql://app@localhost/orders?ssl%70assword=KeyPassphrase1', 'sslpassword'],
      ["dbname='postgresql://app@localhost/orders?sslpassword=KeyPassphrase1'", 'sslpassword'],
      ['postgresql://app@localhost/orders?dbname=host%3Dx%20sslpassword%3DKeyPassphrase1', 'sslpassword'],
      ['host=idp oauth_client_secret=KeyPassphrase1', 'oauth_client_secret'],
      ['postgresql://app@localhost/orders?oauth_client_secret=KeyPassphrase1', 'oauth_client_secret'],
    ];
    for (const [d, key] of refused) expect(() => checkDbname(d), d).toThrow(`the connection string holds a secret (${key}), which would be visible`);
    for (const d of ['dbname=orders sslmode=verify-full sslkey=/etc/app/client.key', 'postgresql://app@localhost/orders?sslcert=/c.crt', 'service=orders'])
      expect(() => checkDbname(d), d).not.toThrow();
    expect(() => checkDbname("dbname='dbname=''dbname=x password=y''' x=y")).toThrow();
    for (const args of [
      ['backup', 'postgres', '--dbname', 'dbname=orders sslpassword=KeyPassphrase1', '-r', 'repo'],
      ['backup', 'postgres', '--all', '--dbname', 'postgresql://app@localhost/postgres?sslpassword=KeyPassphrase1', '-r', 'repo'],
    ]) {
      const r = await vt(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toBe(
        'vault-tool: error: the connection string holds a secret (sslpassword), which would be visible to other users (ps) and recorded\n' +
          'vault-tool: hint: put it in a connection service file (PGSERVICEFILE, mode 0600) and name the service with service=NAME\n',
      );
    }
  });
});

describe('temp files of killed backups', () => {
  const tag = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

  it('a backup killed mid-write leaves a temp file; the next backup of the component removes it, whatever its name', async () => {
    const p = spawn(process.execPath, [BIN, 'backup', 'exec', '--name', 'slow', '-r', 'kill-repo', '--', 'sh', '-c', 'head -c 200000 /dev/urandom; sleep 30'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, VAULT_TOOL_STATE_DIR: join(dir, '.state') } as NodeJS.ProcessEnv,
      stdio: 'ignore',
      detached: true,
    });
    const folder = join(dir, 'kill-repo/exec/slow');
    for (let i = 0; i < 200 && !walk(folder).some((f) => f.endsWith('.tmp')); i++) await new Promise((r) => setTimeout(r, 50));
    const left = walk(folder).filter((f) => f.endsWith('.tmp'));
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(new RegExp(`^\\.\\d{8}T\\d{6}Z-[0-9a-f]{8}\\.bin\\.age\\.${p.pid}\\.[0-9a-f]{8}\\.h${tag}\\.tmp$`));
    process.kill(-p.pid!, 'SIGKILL');
    await new Promise((r) => p.on('close', r));
    // A live process's temp file, another host's and a fresh one without a host stay; a day-old one without a host goes.
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    const live = `.20260101T000000Z-00000000.bin.age.${sleeper.pid}.0123abcd.h${tag}.tmp`;
    const other = `.20260101T000000Z-00000001.bin.age.${p.pid}.0123abcd.h${tag === '00000000' ? '11111111' : '00000000'}.tmp`;
    const freshLegacy = `.20260101T000000Z-00000002.bin.age.${p.pid}.0123abcd.tmp`;
    const oldLegacy = `.20260101T000000Z-00000003.bin.age.manifest.json.${p.pid}.0123abcd.tmp`;
    for (const n of [live, other, freshLegacy, oldLegacy]) writeFileSync(join(folder, n), 'x');
    utimesSync(join(folder, oldLegacy), new Date(Date.now() - 2 * 86_400_000), new Date(Date.now() - 2 * 86_400_000));
    try {
      const r = await vt(['backup', 'exec', '--name', 'slow', '-r', 'kill-repo', '--', 'echo', 'x']);
      expect(r.code, r.stderr).toBe(0);
      expect(
        walk(folder)
          .filter((f) => f.endsWith('.tmp'))
          .sort(),
      ).toEqual([live, other, freshLegacy].sort());
      expect(sweepFolder(folder)).toEqual([]);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('on an rclone remote, temp names a day old are removed by the next backup of the component', async () => {
    const remote = join(dir, 'remote');
    const folder = join(remote, 'exec/r');
    mkdirSync(folder, { recursive: true });
    const old = '.20260101T000000Z-00000000.bin.age.999999.0123abcd.tmp';
    const fresh = '.20260101T000000Z-00000001.bin.age.999999.0123abcd.h00000000.tmp';
    writeFileSync(join(folder, old), 'x');
    writeFileSync(join(folder, fresh), 'x');
    utimesSync(join(folder, old), new Date(Date.now() - 2 * 86_400_000), new Date(Date.now() - 2 * 86_400_000));
    const r = await vt(['backup', 'exec', '--name', 'r', '-r', `x:${remote}`, '--', 'echo', 'x']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(folder).filter((f) => f.endsWith('.tmp'))).toEqual([fresh]);
  });
});
