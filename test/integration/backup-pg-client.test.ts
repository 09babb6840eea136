import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X25519Identity } from '../../src/age/x25519.js';
import { cli, tempDir, type CliResult } from '../helpers/cli.js';
import { havePostgres, startPostgres, type Postgres } from '../helpers/servers.mjs';

/**
 * The PostgreSQL clients a backup runs, taken from the folder
 * VAULT_TOOL_PG_BINDIR names (links there to the real programs), with
 * nothing of PostgreSQL on PATH: the backup is made by those, and a folder
 * missing or without one is refused before anything is written.
 */
let dir: string;
let cleanup: () => void;
let pg: Postgres;
const HAVE_PG = havePostgres();
const recipient = X25519Identity.generate().identity.recipient;
const REAL = (() => {
  try {
    const v = readdirSync('/usr/lib/postgresql')
      .filter((x) => existsSync(join('/usr/lib/postgresql', x, 'bin/pg_dump')))
      .sort((a, b) => Number(b) - Number(a))[0];
    return v ? join('/usr/lib/postgresql', v, 'bin') : undefined;
  } catch {
    return undefined;
  }
})();
if (HAVE_PG && !REAL && process.env.CI === 'true') throw new Error('the PostgreSQL client programs (/usr/lib/postgresql/<N>/bin) are required in CI');

const backup = (bindir: string, repo: string): Promise<CliResult> =>
  cli(dir, ['backup', 'postgres', '--dbname', 'shop', '--recipient', recipient, '-r', repo], {
    env: { ...pg.env, PATH: join(dir, 'no-such-folder'), VAULT_TOOL_PG_BINDIR: bindir },
  });

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-pg-client-'));
  if (!HAVE_PG || !REAL) return;
  pg = await startPostgres();
  pg.sql('create database shop');
  pg.sql("create table items (id int primary key, name text); insert into items values (1, 'one')", 'shop');
});
afterAll(() => {
  pg?.stop();
  cleanup();
});

describe.skipIf(!HAVE_PG || !REAL)('pg_dump started before the vault is opened (needs PostgreSQL)', () => {
  it('a key file that asks for its passphrase: the dump started early is stopped first, and the backup is made whole', async () => {
    const g = ['--vault-file', 'p.vault', '--key-file', 'p.key', '--passphrase-env', 'PW'];
    const env = { ...pg.env, PW: 'correct horse' };
    expect((await cli(dir, ['init', ...g, '--passphrase', '--work-factor', '10'], { env })).code).toBe(0);
    const r = await cli(dir, [...g, 'backup', 'postgres', '--dbname', 'shop', '-r', 'protected'], { env });
    expect(r.code, r.stderr).toBe(0);
    const comp = join(dir, 'protected/postgres/shop');
    const m = JSON.parse(readFileSync(join(comp, readdirSync(comp).find((f) => f.endsWith('.manifest.json'))!), 'utf8'));
    expect(m.plaintext.size).toBeGreaterThan(1000);
    // Read in full with the vault's key: pg_restore passes the whole dump.
    const v = await cli(dir, [...g, 'backup', 'verify', '-r', 'protected', `postgres/shop/${m.file}`], { env });
    expect(v.code, v.stderr).toBe(0);
  });

  it('a vault that does not open: the dump started early is stopped, nothing is kept', async () => {
    const g = ['--vault-file', 'p.vault', '--key-file', 'p.key', '--passphrase-env', 'PW'];
    const r = await cli(dir, [...g, 'backup', 'postgres', '--dbname', 'shop', '-r', 'wrong'], { env: { ...pg.env, PW: 'wrong horse' } });
    expect(r.code).not.toBe(0);
    expect(existsSync(join(dir, 'wrong/postgres/shop')) ? readdirSync(join(dir, 'wrong/postgres/shop')) : []).toEqual([]);
    // No pg_dump of this backup is left connected.
    await new Promise((res) => setTimeout(res, 300));
    expect(pg.sql("select count(*) from pg_stat_activity where datname = 'shop' and application_name = 'pg_dump'")).toBe('0');
  });
});

describe.skipIf(!HAVE_PG || !REAL)('VAULT_TOOL_PG_BINDIR (needs PostgreSQL)', () => {
  it("a backup runs the clients of the folder it names, PATH holding none; the manifest records that pg_dump's version", async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    for (const c of ['pg_dump', 'pg_restore']) symlinkSync(join(REAL!, c), join(bin, c));
    const r = await backup(bin, 'repo');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^1 backup\(s\) in /);
    const comp = join(dir, 'repo/postgres/shop');
    const m = JSON.parse(readFileSync(join(comp, readdirSync(comp).find((f) => f.endsWith('.manifest.json'))!), 'utf8'));
    expect(m.tool.name).toBe('pg_dump');
    expect(m.tool.version).toMatch(new RegExp(`^pg_dump \\(PostgreSQL\\) ${REAL!.split('/').at(-2)}\\.`));
    expect(m.verification.check).toMatch(/^pg_restore -f \/dev\/null while writing/);
  });

  it('a folder missing, or without pg_restore, is refused naming the variable; nothing is written', async () => {
    const missing = await backup(join(dir, 'missing'), 'refused');
    expect([missing.code, missing.stdout]).toEqual([5, '']);
    expect(missing.stderr).toBe(
      `vault-tool: error: VAULT_TOOL_PG_BINDIR names ${join(dir, 'missing')}, which is not a folder\nvault-tool: hint: set VAULT_TOOL_PG_BINDIR to the folder of the PostgreSQL client programs (/usr/lib/postgresql/<version>/bin), or unset it to use those on PATH\n`,
    );
    const half = join(dir, 'half');
    mkdirSync(half);
    symlinkSync(join(REAL!, 'pg_dump'), join(half, 'pg_dump'));
    const lacking = await backup(half, 'refused');
    expect(lacking.code).toBe(5);
    expect(lacking.stderr).toMatch(
      /^vault-tool: error: VAULT_TOOL_PG_BINDIR names \S+\/half, which holds no pg_restore\nvault-tool: hint: set VAULT_TOOL_PG_BINDIR/,
    );
    expect(existsSync(join(dir, 'refused'))).toBe(false);
  });
});
