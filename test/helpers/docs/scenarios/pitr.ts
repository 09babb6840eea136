import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { BIN, ROOT } from '../../cli.js';
import { asPostgres, freePort, postgresFolder, startPostgres } from '../../servers.mjs';
import { bindText, fencedBlocks } from '../blocks.js';
import { newest, pgEnv } from '../lab.js';
import type { Scenario } from '../scenario.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The settings of an ini block (`name = value  # comment`), a quoted value unquoted. */
function iniSettings(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([a-z_]+)\s*=\s*('(?:[^']|'')*'|[^\s#]+)/.exec(line);
    if (m) out[m[1]!] = m[2]!.startsWith("'") ? m[2]!.slice(1, -1).replace(/''/g, "'") : m[2]!;
  }
  return out;
}

/**
 * RUNBOOK section 12, "Point-in-time recovery": a PostgreSQL 15 cluster with
 * the runbook's postgresql.conf settings, archiving through wal-push as its
 * own user (postgres; the scenario runs as root, as the runbook's commands
 * do); its signing key trusted, a base backup, the archive's status,
 * verification and retention; a restore to a time into a data directory
 * owned by postgres, started, and checked (rows before the time there,
 * after it not); then the drill's point-in-time restore, as drill init
 * writes it.
 */
export const pitr: Scenario = {
  name: 'pitr',
  cannotRun: () =>
    process.getuid?.() === 0 ? null : 'the runbook runs these commands as root (runuser, chown, --owner postgres): run the test as root, as CI does',
  async setup(stage) {
    const S = stage.dir;
    // The server's user reaches the repository, its own folder and the CLI through the scratch folder.
    chmodSync(S, 0o755);
    const dbhost = postgresFolder(join(S, 'dbhost'));
    postgresFolder(join(dbhost, '15'));
    const repo = postgresFolder(join(S, 'srv/backups'));
    const cli = (...args: string[]) =>
      execFileSync(process.execPath, [BIN, ...args], { cwd: S, env: stage.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    cli('init');
    const recipient = cli('backup', 'key');
    // The runbook's postgresql.conf lines, as written (its placeholders filled in).
    const runbook = fencedBlocks('docs/RUNBOOK.md', readFileSync(join(ROOT, 'docs/RUNBOOK.md'), 'utf8'));
    const ini = runbook.find((b) => b.lang === 'ini' && b.text.includes('wal-push'));
    if (!ini) throw new Error('docs/RUNBOOK.md: no postgresql.conf block with archive_command');
    const conf = iniSettings(bindText(ini.text, { '/srv/backups': repo, 'age1…': recipient, '/var/lib/postgresql': dbhost }));
    expect(Object.keys(conf)).toEqual(['wal_level', 'archive_mode', 'archive_timeout', 'archive_command']);
    // Small segments: a test writes a few rows, not gigabytes. The server finds vault-tool on its PATH, as the runbook says.
    const pg = await startPostgres({ initdb: ['--wal-segsize', '1'], conf, env: { ...process.env, PATH: stage.env.PATH! } });
    stage.onTeardown(() => pg.stop());
    Object.assign(stage.env, pgEnv(pg));
    pg.sql('create table events(id serial primary key, phase text not null)');
    pg.sql("insert into events(phase) select 'before-base' from generate_series(1, 100)");
    const archived = async () => {
      const name = pg.sql('select pg_walfile_name(pg_switch_wal())');
      for (let i = 0; i < 600; i++) {
        if (pg.sql("select coalesce(last_archived_wal, '') from pg_stat_archiver") >= name) return;
        await sleep(100);
      }
      throw new Error(`archive_command did not archive ${name}: ${pg.sql('select * from pg_stat_archiver')}\n${pg.log().slice(-2000)}`);
    };
    // The first push made the database host's signing key.
    await archived();
    // The restored server: the runbook's pg_ctl, on a free port, its socket in the database host's folder (not /var/run/postgresql).
    const port = await freePort();
    const pgCtl = join(S, 'pg_ctl-restored');
    writeFileSync(pgCtl, `#!/bin/sh\nexec ${pg.bin}/pg_ctl "$@" -o "-p ${port} -k ${dbhost} -c listen_addresses="\n`, { mode: 0o755 });
    const restored = join(dbhost, '15/restored');
    stage.onTeardown(() => {
      if (existsSync(join(restored, 'postmaster.pid'))) asPostgres(join(pg.bin, 'pg_ctl'), ['-D', restored, '-m', 'immediate', 'stop']);
    });
    const restoredSql = (q: string) =>
      execFileSync('psql', ['-X', '-A', '-t', '-h', dbhost, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', q], { encoding: 'utf8' }).trim();
    let target: Date | undefined;
    return {
      prepare: [
        `export VAULT_TOOL_BACKUP_REPO=${repo}`,
        "printf 'rpo: { default: 24h, postgres-wal/main: 15m }\\n' > rpo.yaml",
        'vault-tool escrow split -k 2 -c alice -c bob -c carol -o secure/custodians',
      ].join('\n'),
      bind: {
        '/var/lib/postgresql': dbhost,
        KEY: () => cli('backup', 'key', 'signer', '--signing-key', join(dbhost, 'signing.key')),
        'postgres-base/main/FILE': () => `postgres-base/main/${newest(repo, 'postgres-base/main')}`,
        '2026-12-01T10:41:00Z': () => target!.toISOString(),
        '/usr/lib/postgresql/15/bin/pg_ctl': pgCtl,
        '/srv/backups': repo,
        '/secure/custodians': join(S, 'secure/custodians'),
        '/var/tmp/drill-scratch': join(S, 'var/tmp/drill-scratch'),
      },
      after: {
        'vault-tool backup wal-prune': async () => {
          // Rows before the time and after it, each in the archive.
          pg.sql("insert into events(phase) select 'before-t' from generate_series(1, 100)");
          await archived();
          await sleep(1100);
          target = new Date();
          await sleep(1100);
          pg.sql("insert into events(phase) select 'after-t' from generate_series(1, 100)");
          await archived();
        },
        'runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl': async () => {
          for (let i = 0; i < 600; i++) {
            try {
              if (restoredSql('select pg_is_in_recovery()') === 'f') break;
            } catch {
              /* still starting */
            }
            await sleep(100);
          }
          expect(restoredSql("select phase || '=' || count(*) from events group by phase order by phase").split('\n')).toEqual([
            'before-base=100',
            'before-t=100',
          ]);
          expect(readFileSync(join(dbhost, '15/restored.log'), 'utf8')).toMatch(/recovery stopping before commit of transaction \d+, time /);
          asPostgres(join(pg.bin, 'pg_ctl'), ['-D', restored, '-m', 'immediate', 'stop']);
        },
        'vault-tool drill --plan drill.yaml': () => {
          expect(readFileSync(join(S, 'drill.yaml'), 'utf8')).toMatch(/pitr:\n {4}- cluster: main\n/);
          const log = readFileSync(join(S, 'secrets.vault.evidence.jsonl'), 'utf8');
          const drill = log
            .split('\n')
            .filter((l) => l.includes('"event":"drill"'))
            .map((l) => JSON.parse(l))
            .pop();
          expect(drill.data).toMatchObject({ ok: true, restored: [expect.objectContaining({ backup: expect.stringMatching(/^postgres-base\/main\//) })] });
          expect(existsSync(join(S, 'var/tmp/drill-scratch'))).toBe(false);
          // Its journal went with the targets: the server was stopped, the folder removed.
          const journals = join(S, 'home/.local/state/vault-tool/drills');
          expect(existsSync(journals) ? readdirSync(journals).filter((f) => f.endsWith('.json')) : []).toEqual([]);
        },
      },
    };
  },
};
