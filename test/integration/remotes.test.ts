import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, haveBinary, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';

/**
 * Copies and backups at rclone remotes (rclone's local backend) and in
 * folders: key copies stay private, nothing waits for ever on a program
 * that stops answering, and bad input from outside (a listing that is not
 * JSON, a dangling link, an upload that stores nothing) is a classified
 * error. Programs that hang or misbehave are fault injections: small shell
 * scripts put first on PATH in front of the real ones.
 */
const HAVE_RCLONE = haveBinary('rclone', ['version']);
const RCLONE = HAVE_RCLONE ? spawnSync('sh', ['-c', 'command -v rclone'], { encoding: 'utf8' }).stdout.trim() : 'rclone';
const TAR = spawnSync('sh', ['-c', 'command -v tar'], { encoding: 'utf8' }).stdout.trim();

let dir: string;
let cleanup: () => void;
/** Pids of the hanging fakes, killed after each test. */
const pidFile = () => join(dir, 'fake-pids');

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> => cli(dir, args, { ...opts, env: { RCLONE_CONFIG_OFF_TYPE: 'local', ...opts.env } });

/** A folder with fake programs, to put first on PATH. */
function fakes(progs: Record<string, string>): Record<string, string> {
  const bin = join(dir, `fake-${Object.keys(progs).join('-')}-${Math.random().toString(16).slice(2, 8)}`);
  mkdirSync(bin);
  for (const [name, body] of Object.entries(progs)) {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  return { PATH: `${bin}:${process.env.PATH}` };
}
/** A program that never returns (and, as a careless script would, leaves a child holding its pipes). */
const HANG = () => `echo $$ >> ${pidFile()}\nsleep 300 &\necho $! >> ${pidFile()}\nwait`;

beforeEach(async () => {
  ({ dir, cleanup } = tempDir('vt-remotes-'));
  expect((await vt(['init'])).code).toBe(0);
  expect((await vt(['add', 'a', '-t', 'kek', '--generate'])).code).toBe(0);
});
afterEach(() => {
  if (existsSync(pidFile()))
    for (const pid of readFileSync(pidFile(), 'utf8').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  cleanup();
});
afterAll(() => undefined);

describe.skipIf(!HAVE_RCLONE)('key copies stay private', () => {
  it('copy --key-to a remote writes the key 0600 whatever the umask; verify fails a key copy group or others can read', async () => {
    const old = process.umask(0o022);
    let c: CliResult;
    try {
      c = await vt(['copy', '--to', 'usb', '--key-to', `off:${join(dir, 'remote')}`, '--json']);
    } finally {
      process.umask(old);
    }
    expect(c.code, c.stderr).toBe(0);
    const key = JSON.parse(c.stdout).key;
    const keyPath = join(dir, 'remote', key.file);
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect((await vt(['verify'])).code).toBe(0);
    for (const [mode, who] of [
      [0o640, 'its group (mode 0640)'],
      [0o604, 'anyone on that host (mode 0604)'],
    ] as const) {
      chmodSync(keyPath, mode);
      const r = await vt(['verify', '--json']);
      expect(r.code).toBe(8);
      const f = JSON.parse(r.stdout).checks.find((x: { area: string; ok: boolean }) => x.area === 'copies' && !x.ok);
      expect(f.message).toBe(
        `key copy ${key.id} at off:${join(dir, 'remote')}/${key.file} is readable by ${who}, as a key file must never be: make it 0600, or copy the key again`,
      );
    }
    // The same for a key copy in a folder, and for one a plan names.
    chmodSync(keyPath, 0o600);
    const f = await vt(['copy', '--to', `off:${join(dir, 'vaults')}`, '--key-to', 'keys', '--json']);
    expect(f.code, f.stderr).toBe(0);
    const folderKey = join(dir, 'keys', JSON.parse(f.stdout).key.file);
    chmodSync(folderKey, 0o644);
    const r = await vt(['verify']);
    expect(r.code).toBe(8);
    expect(r.stdout).toContain(`is readable by anyone on that host (mode 0644), as a key file must never be`);
    const named = await vt(['verify', '--copy', `secrets.vault:${folderKey}`]);
    expect(named.stdout).toContain(`key copy ${folderKey} is readable by anyone on that host (mode 0644)`);
  });

  it('a place that leaves the key copy readable by others: copy refuses it (exit 13), removes both copies and registers nothing', async () => {
    // A backend that ignores the mode asked for (a fault injection: the real rclone, then the files opened up).
    const env = fakes({ rclone: `"${RCLONE}" "$@"; rc=$?; chmod 644 ${join(dir, 'remote')}/* 2>/dev/null; exit $rc` });
    const r = await vt(['copy', '--to', 'usb', '--key-to', `off:${join(dir, 'remote')}`], { env });
    expect(r.code, r.stderr).toBe(13);
    expect(r.stderr).toMatch(
      /^vault-tool: error: the key copy at off:.*\/remote\/vault\.key\.\d{8}T\d{6}Z-[0-9a-f]{8} is readable by anyone on that host \(mode 0644\)/,
    );
    expect(r.stderr).toContain(
      'vault-tool: hint: make the key copy readable by its owner only (chmod 600), or copy the key again to a place that keeps it private',
    );
    expect(readdirSync(join(dir, 'remote'))).toEqual([]);
    expect(readdirSync(join(dir, 'usb'))).toEqual([]);
    expect(JSON.parse((await vt(['copy', 'list', '--json'])).stdout)).toEqual([]);
  });
});

describe('two copies in the same second', () => {
  it('get names of their own: both are written and registered', async () => {
    const now = new Date('2026-12-01T10:00:00Z');
    for (let i = 0; i < 2; i++) {
      const r = await vt(['copy', '--to', 'usb', '--key-to', 'keys'], { now });
      expect(r.code, r.stderr).toBe(0);
    }
    expect(readdirSync(join(dir, 'usb'))).toHaveLength(2);
    expect(readdirSync(join(dir, 'keys'))).toHaveLength(2);
    const list = JSON.parse((await vt(['copy', 'list', '--json'])).stdout) as { id: string; file: string }[];
    expect(list).toHaveLength(4);
    for (const c of list) expect(c.file).toMatch(new RegExp(`^(secrets\\.vault|vault\\.key)\\.20261201T100000Z-${c.id}$`));
  });
});

describe('nothing waits for ever on a program that stops answering', () => {
  const BOUND = { VAULT_TOOL_TIMEOUT: '2s' };

  it.skipIf(!HAVE_RCLONE)(
    'a hanging rclone: verify ends with its verdict, its report and its evidence record; the remote counts as unreachable',
    async () => {
      expect((await vt(['copy', '--to', `off:${join(dir, 'remote')}`, '--key-to', 'keys'])).code).toBe(0);
      writeFileSync(join(dir, 'f'), 'data\n');
      expect((await vt(['backup', 'files', 'f', '-r', `off:${join(dir, 'repo')}`])).code).toBe(0);
      const records = () => readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8').trim().split('\n').length;
      const before = records();
      const env = { ...fakes({ rclone: HANG() }), ...BOUND };
      const t0 = Date.now();
      const r = await vt(['verify', '--json', '--report', 'report.md', '--prometheus', 'metrics.prom', '--repo', `off:${join(dir, 'repo')}`], { env });
      const took = Date.now() - t0;
      // An unreachable place cannot be judged from here: inconclusive (exit 20), never a pass, never a failure of the data.
      expect(r.code, r.stderr).toBe(20);
      // One wait for the remote: after it, the remote is known unreachable for the rest of the run.
      expect(took).toBeLessThan(12_000);
      const checks = JSON.parse(r.stdout).checks as { area: string; verdict: string; message: string }[];
      const undecided = checks.filter((c) => c.verdict === 'inconclusive');
      expect(undecided.map((c) => c.area).sort()).toEqual(['backups', 'copies']);
      expect(checks.filter((c) => c.verdict === 'failed')).toEqual([]);
      expect(undecided.find((c) => c.area === 'copies')!.message).toMatch(/rclone cat off: no answer within 2s: the remote is unreachable; stopped/);
      expect(readFileSync(join(dir, 'report.md'), 'utf8')).toContain('INCONCLUSIVE');
      expect(readFileSync(join(dir, 'metrics.prom'), 'utf8')).toContain('# HELP vault_tool_');
      expect(records()).toBe(before + 1);
    },
    30_000,
  );

  it.skipIf(!HAVE_RCLONE)(
    'a hanging rclone: backup, status, list and copy end with a classified error, and leave nothing',
    async () => {
      writeFileSync(join(dir, 'f'), 'data\n');
      mkdirSync(join(dir, 'repo'));
      const env = { ...fakes({ rclone: HANG() }), ...BOUND };
      const repo = `off:${join(dir, 'repo')}`;
      for (const [args, code, message] of [
        [['backup', 'files', 'f', '-r', repo], 1, /^vault-tool: error: (writing the backup made no progress for 2s|rclone rcat off: no answer within 2s)/m],
        [['backup', 'list', '-r', repo], 1, /^vault-tool: error: rclone (lsjson|lsf) off: no answer within 2s: the remote is unreachable; stopped\n/],
        [['status', '-r', repo], 1, /^vault-tool: error: rclone lsf off: no answer within 2s: the remote is unreachable; stopped\n/],
        [['copy', '--to', `off:${join(dir, 'remote')}`], 1, /^vault-tool: error: rclone lsjson off: no answer within 2s: the remote is unreachable; stopped\n/],
      ] as const) {
        const t0 = Date.now();
        const r = await vt([...args], { env });
        expect(Date.now() - t0, args.join(' ')).toBeLessThan(10_000);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).toContain('vault-tool: hint: vault-tool waits 2s for an external program (VAULT_TOOL_TIMEOUT sets it)');
        expect(r.stderr).not.toContain('unexpected');
      }
      expect(readdirSync(join(dir, 'repo'))).toEqual([]);
      expect(JSON.parse((await vt(['copy', 'list', '--json'])).stdout)).toEqual([]);
    },
    60_000,
  );

  it('a dump tool, a checker or psql that never returns: the backup fails within the bound, naming it, and keeps nothing', async () => {
    writeFileSync(join(dir, 'f'), 'data\n');
    const cases: [string[], Record<string, string>, RegExp][] = [
      [
        ['backup', 'exec', '--name', 'stuck', '-r', 'repo', '--', 'sh', '-c', `echo $$ >> ${pidFile()}; exec sleep 300`],
        {},
        /^vault-tool: error: sh made no progress for 2s \(no output\): it was stopped; nothing was kept\n/m,
      ],
      [
        ['backup', 'files', 'f', '-r', 'repo'],
        fakes({ tar: `case "$1" in -t) ${HANG()};; *) exec "${TAR}" "$@";; esac` }),
        /^vault-tool: error: the check \(tar -t\) made no progress for 2s: it was stopped; nothing was kept\n/m,
      ],
      [
        ['backup', 'postgres', '--dbname', 'orders', '-r', 'repo'],
        fakes({ pg_dump: 'echo "pg_dump (PostgreSQL) 16.4"', psql: HANG() }),
        /^vault-tool: error: the PostgreSQL server did not answer within 2s \(psql was stopped\): it is unreachable\n/m,
      ],
    ];
    for (const [args, env, message] of cases) {
      const t0 = Date.now();
      const r = await vt(args, { env: { ...env, ...BOUND } });
      expect(Date.now() - t0, args.join(' ')).toBeLessThan(10_000);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(19);
      expect(r.stderr).toMatch(message);
      expect(existsSync(join(dir, 'repo')) ? readdirSync(join(dir, 'repo'), { recursive: true }).filter((f) => String(f).includes('.age')) : []).toEqual([]);
    }
  }, 60_000);

  it('a bound that is not a duration is refused, naming the variable', async () => {
    writeFileSync(join(dir, 'f'), 'data\n');
    const r = await vt(['backup', 'files', 'f', '-r', 'repo'], { env: { VAULT_TOOL_TIMEOUT: 'soon' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('vault-tool: error: VAULT_TOOL_TIMEOUT "soon": ');
  });
});

describe('bad input from outside is a classified error', () => {
  it('a dangling link or an entry gone between listing and reading, in a repository folder: list, verify, prune and status go on', async () => {
    writeFileSync(join(dir, 'f'), 'data\n');
    expect((await vt(['backup', 'files', 'f', '-r', 'repo'])).code).toBe(0);
    symlinkSync(join(dir, 'nowhere.age'), join(dir, 'repo/files/config/20260101T000000Z-00000000.tar.age'));
    symlinkSync(join(dir, 'nowhere.json'), join(dir, 'repo/files/config/20260101T000000Z-00000000.tar.age.manifest.json'));
    symlinkSync('loop', join(dir, 'repo/files/config/loop'));
    symlinkSync(join(dir, 'nowhere'), join(dir, 'repo/files/ghost'));
    for (const args of [
      ['verify', '--repo', 'repo'],
      ['backup', 'list', '-r', 'repo'],
      ['backup', 'verify', '--all', '-r', 'repo'],
      ['backup', 'prune', '--keep-last', '1', '-r', 'repo'],
      ['backup', 'status', '-r', 'repo'],
      ['status', '-r', 'repo'],
    ]) {
      const r = await vt(args);
      expect(r.stderr, args.join(' ')).not.toContain('unexpected');
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
  });

  it.skipIf(!HAVE_RCLONE)('rclone output that is not JSON, and an upload that stores nothing: one clear error each, the documented exit code', async () => {
    writeFileSync(join(dir, 'f'), 'data\n');
    const repo = `off:${join(dir, 'repo')}`;
    expect((await vt(['backup', 'files', 'f', '-r', repo])).code).toBe(0);
    const garbled = fakes({ rclone: `if [ "$1" = lsjson ]; then echo '<html>proxy error</html>'; exit 0; fi\nexec "${RCLONE}" "$@"` });
    for (const args of [
      ['backup', 'list', '-r', repo],
      ['status', '-r', repo],
      ['backup', 'verify', '--all', '-r', repo],
    ]) {
      const r = await vt(args, { env: garbled });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(/^vault-tool: error: listing off:.*: rclone lsjson gave output that is not JSON \("<html>proxy error<\/html>\\n"…\)\n/);
    }
    const notFiles = fakes({ rclone: `if [ "$1" = lsjson ]; then echo '[{"Name": 5}]'; exit 0; fi\nexec "${RCLONE}" "$@"` });
    const nf = await vt(['backup', 'list', '-r', repo], { env: notFiles });
    expect(nf.code).toBe(1);
    expect(nf.stderr).toContain('rclone lsjson entry 1 is not a file (a Name and a Size)');
    // An rclone that takes the upload and stores nothing (a no-op rcat), or stores nothing at all: a failed write, exit 1.
    for (const body of [
      `if [ "$1" = rcat ]; then cat > /dev/null; exit 0; fi\nexec "${RCLONE}" "$@"`,
      `case "$1" in rcat|moveto) cat > /dev/null; exit 0;; lsjson) echo '[]'; exit 0;; cat) exit 0;; esac\nexec "${RCLONE}" "$@"`,
    ]) {
      const r = await vt(['backup', 'files', 'f', '-r', repo], { env: fakes({ rclone: body }) });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^vault-tool: error: (moving off:.* into place failed|the stored files\/config\/.* differs from what was written)/);
    }
  });
});

describe('a killed run left the evidence log one record short', () => {
  it('every later backup is kept, says so once with the repair, and exits 0; after the repair they are recorded again', async () => {
    writeFileSync(join(dir, 'f'), 'data\n');
    expect((await vt(['backup', 'files', 'f', '-r', 'repo'])).code).toBe(0);
    const log = join(dir, 'secrets.vault.evidence.jsonl');
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    writeFileSync(
      log,
      lines
        .slice(0, -1)
        .map((l) => l + '\n')
        .join(''),
    );
    const r = await vt(['backup', 'files', 'f', '--name', 'one', '-r', 'repo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `vault-tool: warning: the backups are kept (each was checked), but not recorded in the evidence log: the evidence log lacks record ${lines.length}, which the vault holds: the log was cut, or a write was interrupted\n` +
        'vault-tool: hint: run `vault-tool evidence repair` to write it back (the repair is recorded); the next backups are recorded once the log is repaired\n',
    );
    expect(r.stderr.match(/warning/g)).toHaveLength(1);
    // The repository holds the backup, and it verifies.
    expect((await vt(['backup', 'verify', '--all', '-r', 'repo'])).code).toBe(0);
    expect((await vt(['evidence', 'repair'])).code).toBe(0);
    const again = await vt(['backup', 'files', 'f', '--name', 'two', '-r', 'repo']);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain('warning');
    const events = JSON.parse((await vt(['--json', 'evidence', 'verify'])).stdout).map((x: { event: string }) => x.event);
    expect(events.slice(-2)).toEqual(['evidence.repair', 'backup']);
  });
});
