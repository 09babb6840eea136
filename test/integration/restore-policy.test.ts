import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';
import { havePostgres, startPostgres, type Postgres } from '../helpers/servers.mjs';

/**
 * One restore policy for every restore: a backup restored into a target it
 * protects (a folder, a database) needs the TOTP code and the operational
 * hours, or a break-glass with a reason outside them; every decision goes
 * into the evidence log (restore.guard), refusals too; a target it does not
 * protect needs nothing.
 */
let dir: string;
let cleanup: () => void;
let pg: Postgres | undefined;
const HAVE_PG = havePostgres();
const MONDAY_NOON = new Date('2026-11-23T12:00:00Z');
const MONDAY_NIGHT = new Date('2026-11-23T22:00:00Z');
const secret = new Secret({ size: 20 });
const codeAt = (d: Date) => new TOTP({ secret }).generate({ timestamp: d.getTime() });

const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> =>
  cli(dir, args, { now: MONDAY_NOON, ...opts, env: { ...(pg?.env ?? {}), ...opts.env } });
let files: string;
let db: string | undefined;

const records = async (event: string) =>
  (JSON.parse((await vt(['--json', 'evidence', 'verify'])).stdout) as { event: string; data: Record<string, unknown> }[]).filter((r) => r.event === event);

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-policy-'));
  if (HAVE_PG) pg = await startPostgres();
  expect((await vt(['init'])).code).toBe(0);
  expect((await vt(['add', 'ops/restore-totp', '--type', 'totp-secret', '--from-file', '-'], { stdin: secret.base32 })).code).toBe(0);
  mkdirSync(join(dir, 'app'));
  writeFileSync(join(dir, 'app/.env'), 'MODE=production\n');
  const b = await vt(['backup', 'files', '.env', '-C', 'app', '--name', 'config', '-r', 'repo', '--json']);
  expect(b.code, b.stderr).toBe(0);
  files = `files/config/${JSON.parse(b.stdout.trim().split('\n')[1]!).file}`;
  if (pg) {
    pg.sql('create database prod', 'postgres');
    pg.sql('create table t (x int); insert into t values (1), (2)', 'prod');
    const d = await vt(['backup', 'postgres', '--dbname', 'prod', '-r', 'repo', '--json']);
    expect(d.code, d.stderr).toBe(0);
    db = `postgres/prod/${JSON.parse(d.stdout.trim().split('\n')[1]!).file}`;
  }
  writeFileSync(
    join(dir, 'restore-policy.yaml'),
    [
      'apiVersion: vault-tool/v1',
      'kind: RestorePolicy',
      'protect:',
      '  contexts: [prod]',
      '  databases: [prod]',
      `  folders: [${join(dir, 'srv')}]`,
      'confirm: totp',
      'totpEntry: ops/restore-totp',
      'operationalHours: "09:00-18:00"',
      'days: [mon, tue, wed, thu, fri]',
      'timezone: UTC',
      '',
    ].join('\n'),
  );
}, 120_000);
afterAll(() => {
  pg?.stop();
  cleanup();
});

describe('backup restore under the restore policy', () => {
  it('a protected folder without a TOTP code is refused (exit 17), recorded, and nothing is written', async () => {
    const r = await vt(['backup', 'restore', files, '--to-dir', 'srv/app', '-r', 'repo']);
    expect(r.code).toBe(17);
    expect(r.stderr).toContain(`folder ${join(dir, 'srv/app')} is protected: a TOTP code is needed`);
    expect(r.stderr).toContain('hint: pass --totp-env VAR');
    expect(existsSync(join(dir, 'srv'))).toBe(false);
    const [rec] = await records('restore.guard');
    expect(rec!.data).toMatchObject({ decision: 'refused', target: `folder ${join(dir, 'srv/app')}`, restore: files, breakGlass: false });
    expect(await records('backup.restore')).toHaveLength(0);
  });

  it('a link into a protected folder is protected too', async () => {
    mkdirSync(join(dir, 'srv'));
    symlinkSync(join(dir, 'srv'), join(dir, 'via-link'));
    const r = await vt(['backup', 'restore', files, '--to-dir', 'via-link/app', '-r', 'repo']);
    expect(r.code).toBe(17);
    expect(existsSync(join(dir, 'srv/app'))).toBe(false);
  });

  it('a valid TOTP code within the hours restores, and the decision is recorded (never the code)', async () => {
    const code = codeAt(MONDAY_NOON);
    const r = await vt(['backup', 'restore', files, '--to-dir', 'srv/app', '-r', 'repo', '--totp-env', 'CODE'], { env: { CODE: code } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'srv/app/.env'), 'utf8')).toBe('MODE=production\n');
    const rec = (await records('restore.guard')).at(-1)!;
    expect(rec.data).toMatchObject({ decision: 'allowed', confirmedBy: 'totp', outsideHours: false, pattern: join(dir, 'srv') });
    expect((await records('backup.restore')).at(-1)!.data).toMatchObject({ complete: true, guard: { protected: true, confirmedBy: 'totp' } });
    expect(readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8')).not.toContain(code);
  });

  it('a wrong code is refused; outside the hours a valid code is refused without a break-glass', async () => {
    const wrong = String((Number(codeAt(MONDAY_NOON)) + 1) % 1e6).padStart(6, '0');
    const bad = await vt(['backup', 'restore', files, '--to-dir', 'srv/two', '-r', 'repo', '--totp-env', 'CODE'], { env: { CODE: wrong } });
    expect(bad.code).toBe(17);
    expect(bad.stderr).toContain('wrong or expired');
    const late = await vt(['backup', 'restore', files, '--to-dir', 'srv/two', '-r', 'repo', '--totp-env', 'CODE'], {
      now: MONDAY_NIGHT,
      env: { CODE: codeAt(MONDAY_NIGHT) },
    });
    expect(late.code).toBe(17);
    expect(late.stderr).toContain('outside operational hours (09:00-18:00; now Mon 22:00 UTC)');
    expect(late.stderr).toContain('--break-glass --reason');
    expect(existsSync(join(dir, 'srv/two'))).toBe(false);
    expect((await records('restore.guard')).slice(-2).map((r) => r.data.decision)).toEqual(['refused', 'refused']);
  });

  it('--totp-env naming a variable that is not set is a refusal by the policy: exit 17, recorded, a hint naming the variable', async () => {
    const r = await vt(['backup', 'restore', files, '--to-dir', 'srv/unset', '-r', 'repo', '--totp-env', 'NO_SUCH_CODE']);
    expect(r.code).toBe(17);
    expect(r.stderr).toContain(
      `vault-tool: error: folder ${join(dir, 'srv/unset')} is protected and --totp-env names NO_SUCH_CODE, which is not set: no TOTP code`,
    );
    expect(r.stderr).toContain('vault-tool: hint: put the current code in NO_SUCH_CODE');
    expect(existsSync(join(dir, 'srv/unset'))).toBe(false);
    expect((await records('restore.guard')).at(-1)!.data).toMatchObject({ decision: 'refused', target: `folder ${join(dir, 'srv/unset')}` });
  });

  it('a break-glass needs a reason; with one it restores outside the hours and is recorded as such', async () => {
    const env = { CODE: codeAt(MONDAY_NIGHT) };
    const none = await vt(['backup', 'restore', files, '--to-dir', 'srv/two', '-r', 'repo', '--totp-env', 'CODE', '--break-glass'], {
      now: MONDAY_NIGHT,
      env,
    });
    expect(none.code).toBe(2);
    const glass = await vt(
      ['backup', 'restore', files, '--to-dir', 'srv/two', '-r', 'repo', '--totp-env', 'CODE', '--break-glass', '--reason', 'INC-4711 disk lost'],
      { now: MONDAY_NIGHT, env },
    );
    expect(glass.code, glass.stderr).toBe(0);
    expect(existsSync(join(dir, 'srv/two/.env'))).toBe(true);
    const rec = (await records('restore.guard')).at(-1)!;
    expect(rec.data).toMatchObject({ decision: 'break-glass', outsideHours: true, breakGlass: true, reason: 'INC-4711 disk lost' });
  });

  it('a target the policy does not protect needs nothing and records no decision', async () => {
    const before = (await records('restore.guard')).length;
    const r = await vt(['backup', 'restore', files, '--to-dir', 'scratch/app', '-r', 'repo'], { now: MONDAY_NIGHT });
    expect(r.code, r.stderr).toBe(0);
    expect(await records('restore.guard')).toHaveLength(before);
    // A dry run writes nothing, and is not guarded.
    expect((await vt(['backup', 'restore', files, '--to-dir', 'srv/three', '-r', 'repo', '--dry-run'])).code).toBe(0);
  });

  it.skipIf(!HAVE_PG && !process.env.CI)('backup restore --dbname prod --force is refused without the TOTP, and runs with it', async () => {
    if (!pg) throw new Error('PostgreSQL is needed in CI');
    const r = await vt(['backup', 'restore', db!, '--dbname', 'prod', '--force', '-r', 'repo']);
    expect(r.code).toBe(17);
    expect(r.stderr).toContain('database prod is protected: a TOTP code is needed');
    // The same database named by a connection string is the same database.
    const conn = await vt(['backup', 'restore', db!, '--dbname', `host=${pg.env.PGHOST} dbname=prod`, '--force', '-r', 'repo']);
    expect(conn.code).toBe(17);
    const ok = await vt(['backup', 'restore', db!, '--dbname', 'prod', '--force', '-r', 'repo', '--totp-env', 'CODE'], { env: { CODE: codeAt(MONDAY_NOON) } });
    expect(ok.code, ok.stderr).toBe(0);
    expect((await records('restore.guard')).at(-1)!.data).toMatchObject({ decision: 'allowed', target: 'database prod' });
  });

  it('a folder the policy names through a link is protected when the restore names the folder it links to', async () => {
    mkdirSync(join(dir, 'data/app'), { recursive: true });
    mkdirSync(join(dir, 'data/sites'), { recursive: true });
    symlinkSync(join(dir, 'data/app'), join(dir, 'app-link'));
    symlinkSync(join(dir, 'data/sites'), join(dir, 'sites-link'));
    writeFileSync(
      join(dir, 'link-policy.yaml'),
      `apiVersion: vault-tool/v1\nkind: RestorePolicy\nprotect:\n  folders: [${join(dir, 'app-link')}/, "${join(dir, 'sites-link')}/*"]\nconfirm: totp\ntotpEntry: ops/restore-totp\n`,
    );
    for (const into of ['data/app', 'data/app/sub', 'data/sites/one']) {
      const r = await vt(['backup', 'restore', files, '--to-dir', into, '-r', 'repo', '--policy', 'link-policy.yaml']);
      expect(r.code, `${into}: ${r.stderr}`).toBe(17);
      expect(existsSync(join(dir, into, '.env'))).toBe(false);
    }
    const free = await vt(['backup', 'restore', files, '--to-dir', 'data/other', '-r', 'repo', '--policy', 'link-policy.yaml']);
    expect(free.code, free.stderr).toBe(0);
  });

  it('a Redis folder the policy protects is protected from any restore writing there: a file (-o dump.rdb) or a folder', async () => {
    mkdirSync(join(dir, 'redis-data'));
    writeFileSync(
      join(dir, 'redis-policy.yaml'),
      `apiVersion: vault-tool/v1\nkind: RestorePolicy\nprotect:\n  redis: [${join(dir, 'redis-data')}]\nconfirm: totp\ntotpEntry: ops/restore-totp\n`,
    );
    const file = await vt(['backup', 'restore', files, '-o', 'redis-data/dump.rdb', '-r', 'repo', '--policy', 'redis-policy.yaml']);
    expect(file.code, file.stderr).toBe(17);
    expect(file.stderr).toContain(`file ${join(dir, 'redis-data/dump.rdb')} is protected`);
    const folder = await vt(['backup', 'restore', files, '--to-dir', 'redis-data', '-r', 'repo', '--policy', 'redis-policy.yaml']);
    expect(folder.code, folder.stderr).toBe(17);
    expect(readdirSync(join(dir, 'redis-data'))).toEqual([]);
  });

  it.skipIf(!HAVE_PG && !process.env.CI)(
    'a database reached through a libpq service, or on the local host by another spelling, is the same database',
    async () => {
      if (!pg) throw new Error('PostgreSQL is needed in CI');
      const services = join(dir, 'pg_service.conf');
      writeFileSync(services, `[prodsvc]\nhost=${pg.env.PGHOST}\nport=${pg.env.PGPORT}\ndbname=prod\n`);
      const svc = await vt(['backup', 'restore', db!, '--dbname', 'service=prodsvc', '--force', '-r', 'repo'], { env: { PGSERVICEFILE: services } });
      expect(svc.code, svc.stderr).toBe(17);
      expect(svc.stderr).toContain('database prod is protected: a TOTP code is needed');
      expect((await records('restore.guard')).at(-1)!.data).toMatchObject({ decision: 'refused', target: 'database prod' });
      // The service from the environment, the connection string naming no database.
      const fromEnv = await vt(['backup', 'restore', db!, '--dbname', `port=${pg.env.PGPORT}`, '--force', '-r', 'repo'], {
        env: { PGSERVICEFILE: services, PGSERVICE: 'prodsvc' },
      });
      expect(fromEnv.code, fromEnv.stderr).toBe(17);
      // A socket folder is the local host, whichever way the policy spells it (and host names in any case).
      for (const pattern of ['127.0.0.1/prod', '::1/prod', `LOCALHOST:${pg.env.PGPORT}/prod`]) {
        writeFileSync(
          join(dir, 'host-policy.yaml'),
          `apiVersion: vault-tool/v1\nkind: RestorePolicy\nprotect:\n  databases: ["${pattern}"]\nconfirm: totp\ntotpEntry: ops/restore-totp\n`,
        );
        const r = await vt(['backup', 'restore', db!, '--dbname', 'prod', '--force', '-r', 'repo', '--policy', 'host-policy.yaml']);
        expect(r.code, `${pattern}: ${r.stderr}`).toBe(17);
      }
      expect(pg.sql('select count(*) from t', 'prod')).toBe('2');
      // A database the restore creates is named as libpq names it too, and one the policy does not protect needs nothing.
      const fresh = await vt(['backup', 'restore', db!, '--dbname', 'fresh_copy', '--create', '-r', 'repo']);
      expect(fresh.code, fresh.stderr).toBe(0);
      expect(pg.sql('select count(*) from t', 'fresh_copy')).toBe('2');
      writeFileSync(
        join(dir, 'new-policy.yaml'),
        'apiVersion: vault-tool/v1\nkind: RestorePolicy\nprotect:\n  databases: ["127.0.0.1/made_*"]\nconfirm: totp\ntotpEntry: ops/restore-totp\n',
      );
      const made = await vt(['backup', 'restore', db!, '--dbname', 'made_new', '--create', '-r', 'repo', '--policy', 'new-policy.yaml']);
      expect(made.code, made.stderr).toBe(17);
      expect(pg.sql("select count(*) from pg_database where datname = 'made_new'")).toBe('0');
    },
  );

  it.skipIf(!HAVE_PG && !process.env.CI)('backup restore --all puts every database through the policy before restoring any', async () => {
    if (!pg) throw new Error('PostgreSQL is needed in CI');
    const made = await vt(['backup', 'postgres', '--all', '-r', 'repo-all']);
    expect(made.code, made.stderr).toBe(0);
    pg.sql('insert into t values (3)', 'prod');
    const before = (await records('backup.restore')).length;
    const r = await vt(['backup', 'restore', '--all', '--force', '-r', 'repo-all']);
    expect(r.code, r.stderr).toBe(17);
    // The globals come first, and write the roles of the server that holds prod.
    expect(r.stderr).toContain(
      "database postgres (the globals: the server's roles, which each of its databases depends on) is protected: a TOTP code is needed",
    );
    // Nothing restored, not even the globals first: the row added since is still there.
    expect(await records('backup.restore')).toHaveLength(before);
    expect(pg.sql('select count(*) from t', 'prod')).toBe('3');
    const ok = await vt(['backup', 'restore', '--all', '--force', '-r', 'repo-all', '--totp-env', 'CODE'], { env: { CODE: codeAt(MONDAY_NOON) } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(pg.sql('select count(*) from t', 'prod')).toBe('2');
    const restored = (await records('backup.restore')).slice(before);
    expect(restored.find((x) => String(x.data.backup).startsWith('postgres/prod/'))!.data.guard).toMatchObject({ protected: true });
  });

  it.skipIf(!HAVE_PG && !process.env.CI)(
    "the globals write the server's roles: protected when a database of that server is, alone or with --all into other databases",
    async () => {
      if (!pg) throw new Error('PostgreSQL is needed in CI');
      const made = await vt(['backup', 'postgres', '--all', '-r', 'repo-set']);
      expect(made.code, made.stderr).toBe(0);
      const alone = await vt(['backup', 'restore', 'postgres/globals', '-r', 'repo-set']);
      expect(alone.code, alone.stderr).toBe(17);
      expect(alone.stderr).toContain("database postgres (the globals: the server's roles, which each of its databases depends on) is protected");
      const copies = await vt(['backup', 'restore', '--all', '--dbname-prefix', 'copy_', '--create', '-r', 'repo-set']);
      expect(copies.code, copies.stderr).toBe(17);
      expect(pg.sql("select count(*) from pg_database where datname like 'copy_%'")).toBe('0');
      expect((await records('restore.guard')).at(-1)!.data).toMatchObject({ decision: 'refused' });
    },
  );

  it.skipIf(!HAVE_PG && !process.env.CI)(
    'backup restore --all with confirm: context takes --confirm-target for each protected target; a wrong one names the target to confirm',
    async () => {
      if (!pg) throw new Error('PostgreSQL is needed in CI');
      writeFileSync(
        join(dir, 'name-policy.yaml'),
        'apiVersion: vault-tool/v1\nkind: RestorePolicy\nprotect:\n  databases: [prod]\nconfirm: context\ntimezone: UTC\n',
      );
      const made = await vt(['backup', 'postgres', '--all', '-r', 'repo-named']);
      expect(made.code, made.stderr).toBe(0);
      const all = ['backup', 'restore', '--all', '--force', '-r', 'repo-named', '--policy', 'name-policy.yaml'];
      const one = await vt([...all, '--confirm-target', 'prod']);
      expect(one.code).toBe(17);
      expect(one.stderr).toContain('the confirmation "prod" does not match the database postgres');
      expect(one.stderr).toContain('vault-tool: hint: pass --confirm-target postgres');
      const both = await vt([...all, '--confirm-target', 'prod', '--confirm-target', 'postgres']);
      expect(both.code, both.stderr).toBe(0);
      const guards = (await records('restore.guard')).slice(-2).map((r) => [r.data.target, r.data.decision]);
      expect(guards).toEqual([
        ["database postgres (the globals: the server's roles, which each of its databases depends on)", 'allowed'],
        ['database prod', 'allowed'],
      ]);
    },
  );
});

describe('the policy file', () => {
  const bad = async (text: string) => {
    writeFileSync(join(dir, 'bad-policy.yaml'), text);
    return vt(['backup', 'restore', files, '--to-dir', 'anywhere', '-r', 'repo', '--policy', 'bad-policy.yaml']);
  };
  const HEAD = 'apiVersion: vault-tool/v1\nkind: RestorePolicy\n';

  it('is strict at every level, and reads the first form (protectedContexts)', async () => {
    const unknown = await bad(`${HEAD}protect:\n  folder: [/srv]\n`);
    expect(unknown.code).toBe(11);
    expect(unknown.stderr).toContain('bad-policy.yaml: protect.folder: unknown field');
    const relative = await bad(`${HEAD}protect:\n  folders: [srv]\n`);
    expect(relative.code).toBe(11);
    expect(relative.stderr).toContain('protect.folders[0]: "srv" is not an absolute path');
    const both = await bad(`${HEAD}protectedContexts: [prod]\nprotect:\n  contexts: [prod]\n`);
    expect(both.code).toBe(11);
    expect(both.stderr).toContain('keep protect.contexts');
    const first = await bad(`${HEAD}protectedContexts: [prod]\n`);
    expect(first.code, first.stderr).toBe(0);
  });

  it('two policies beside the vault are refused', async () => {
    writeFileSync(join(dir, 'k8s-policy.yaml'), `${HEAD}protectedContexts: [prod]\n`);
    const r = await vt(['backup', 'restore', files, '--to-dir', 'scratch/two', '-r', 'repo']);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain('two restore policies beside the vault');
  });
});
