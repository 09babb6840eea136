import type { Command } from 'commander';
import { VaultError } from '../../errors/errors.js';
import type { Context } from '../context.js';
import type { Io } from '../io.js';

/**
 * The whole story in a temporary folder: init, keys of several types, a copy
 * that proves it opens and a tampered one refused, a 3-of-5 split with
 * printed sheets, backups of sample data (a config folder always; Redis and
 * PostgreSQL when their servers are installed here, started as throwaway
 * instances), then the disaster: vault.key is lost, and a drill recovers
 * from three custodians' shares, restores the data into scratch targets and
 * checks it, timed. Last, the stock `age` tool opens the vault and a backup
 * without vault-tool.
 */
export default function demo(cmd: Command, ctx: Context): void {
  cmd.option('--keep', 'keep the temporary folder afterwards').action(async (opts: { keep?: boolean }) => {
    const { spawnSync } = await import('node:child_process');
    const { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { Readable } = await import('node:stream');
    const { startDemoPostgres, startDemoRedis } = await import('../servers.js');
    const dir = mkdtempSync(join(tmpdir(), 'vault-tool-demo-'));
    chmodSync(dir, 0o755);
    const say = (s: string) => ctx.out(s);
    const extraEnv: Record<string, string> = {};
    const sub = (args: string[], env: Record<string, string> = {}): Promise<number> => {
      say(`\n$ vault-tool ${args.join(' ')}`);
      const io: Io = {
        ...ctx.io,
        cwd: dir,
        env: {
          ...ctx.io.env,
          VAULT_TOOL_STATE_DIR: join(dir, '.state'),
          VAULT_TOOL_VAULT_FILE: undefined,
          VAULT_TOOL_KEY_FILE: undefined,
          VAULT_TOOL_BACKUP_REPO: join(dir, 'backups'),
          ...extraEnv,
          ...env,
        },
        stdin: Readable.from([]),
        stdinIsTTY: false,
      };
      return ctx.run(args, io);
    };
    const expectCode = async (want: number, args: string[], env?: Record<string, string>) => {
      const got = await sub(args, env);
      if (want !== 0 || got !== 0) say(`(exit code ${got})`);
      if (got !== want) throw new VaultError('internal', `demo step \`${args.join(' ')}\` exited ${got}, expected ${want}`);
    };
    const servers: { stop: () => void }[] = [];
    try {
      say(`demo folder: ${dir}`);
      say('\n# 1. the vault: keys of the platform, typed, versioned');
      await expectCode(0, ['init']);
      for (const [name, type] of [
        ['platform/master-key', 'master-key'],
        ['platform/kek', 'kek'],
        ['audit/hmac-key', 'audit-hmac-key'],
        ['infisical/encryption-key', 'infisical-encryption-key'],
        ['infisical/auth-secret', 'infisical-auth-secret'],
      ] as const)
        await expectCode(0, ['add', name, '--type', type, '--generate', '-d', `demo ${type}`]);
      await expectCode(0, ['rotate', 'platform/kek']);
      await expectCode(0, ['list']);

      say('\n# 2. a copy proves it opens; one flipped bit, or the wrong key, is refused');
      mkdirSync(join(dir, 'usb'));
      copyFileSync(join(dir, 'secrets.vault'), join(dir, 'usb', 'secrets.vault'));
      await expectCode(0, ['list', '--vault-file', 'usb/secrets.vault']);
      const tampered = readFileSync(join(dir, 'secrets.vault'));
      tampered[tampered.length - 40]! ^= 0x01;
      writeFileSync(join(dir, 'usb', 'tampered.vault'), tampered, { mode: 0o600 });
      await expectCode(4, ['list', '--vault-file', 'usb/tampered.vault']);
      await expectCode(0, ['init', '--vault-file', 'other.vault', '--key-file', 'other.key']);
      await expectCode(3, ['list', '--key-file', 'other.key']);

      say('\n# 3. the vault key split 3-of-5 among custodians (a share file and a printable sheet each)');
      await expectCode(0, ['escrow', 'split', '-k', '3', '-c', 'alice', '-c', 'bob', '-c', 'carol', '-c', 'dave', '-c', 'erin', '-o', 'shares']);
      say(
        `sheets: ${readdirSync(join(dir, 'shares'))
          .filter((f) => f.endsWith('.html'))
          .join(', ')}`,
      );

      say("\n# 4. backups of the platform's data, encrypted to the backup key the vault holds, checked while written");
      mkdirSync(join(dir, 'platform/certs'), { recursive: true });
      writeFileSync(join(dir, 'platform/.env'), 'APP_MODE=production\nDB_HOST=db\n');
      writeFileSync(join(dir, 'platform/docker-compose.yml'), 'services:\n  app: { image: example/app:1.4 }\n');
      writeFileSync(join(dir, 'platform/certs/tls.crt'), '-----BEGIN CERTIFICATE-----\n(demo)\n-----END CERTIFICATE-----\n');
      await expectCode(0, ['backup', 'files', '.env', 'docker-compose.yml', 'certs', '-C', 'platform']);
      const restore: string[] = ['    - { component: files/config, dir: scratch/config }'];
      const checks: string[] = [
        '  - { files: [.env, docker-compose.yml, certs/tls.crt], dir: scratch/config }',
        '  - { entries: [platform/master-key, platform/kek] }',
      ];
      const redis = await startDemoRedis(join(dir, 'redis'));
      if (typeof redis === 'string') say(`(Redis: ${redis}; skipped)`);
      else {
        servers.push(redis);
        redis.fill(250);
        await expectCode(0, ['backup', 'redis', '-p', String(redis.port)]);
        restore.push('    - { component: redis/default, dir: scratch/redis }');
        checks.push('  - { redisKeys: 250, dir: scratch/redis }');
      }
      const pg = await startDemoPostgres(join(dir, 'pg'));
      if (typeof pg === 'string') say(`(PostgreSQL: ${pg}; skipped)`);
      else {
        servers.push(pg);
        Object.assign(extraEnv, pg.env);
        pg.sql('create database orders');
        pg.sql('create table items (id int primary key, name text); insert into items select g, md5(g::text) from generate_series(1, 5000) g', 'orders');
        await expectCode(0, ['backup', 'postgres', '--dbname', 'orders']);
        restore.push('    - { component: postgres/orders, database: drill_orders }');
        checks.push('  - { sql: "select count(*) from items", database: drill_orders, expect: "5000" }');
      }
      await expectCode(0, ['backup', 'status', '--rpo', '24h']);

      say(
        '\n# 5. the disaster: vault.key is lost. Three custodians bring their shares; the drill recovers, restores into scratch targets, checks, and times it',
      );
      rmSync(join(dir, 'vault.key'));
      writeFileSync(
        join(dir, 'drill.yaml'),
        [
          'apiVersion: vault-tool/v1',
          'kind: DrillPlan',
          'rto: 2h',
          'shares: { files: [shares/share-01-alice.share, shares/share-03-carol.share, shares/share-05-erin.share] }',
          'backups:',
          '  repo: backups',
          '  restore:',
          ...restore,
          'checks:',
          ...checks,
          '',
        ].join('\n'),
      );
      say(readFileSync(join(dir, 'drill.yaml'), 'utf8'));
      await expectCode(0, ['drill', '--plan', 'drill.yaml', '--report', 'drill-report.md', '--write-key', 'recovered.key']);
      say('\n$ cat drill-report.md');
      say(readFileSync(join(dir, 'drill-report.md'), 'utf8'));

      say('\n# 6. without vault-tool: the stock age tool opens the vault with the recovered key, and a backup with the backup key');
      const age = spawnSync('age', ['-d', '-i', join(dir, 'recovered.key'), join(dir, 'secrets.vault')], { encoding: 'utf8' });
      if (age.error) say('(the `age` command is not installed here (Debian: apt-get install age); skipped)');
      else if (age.status !== 0) throw new VaultError('internal', `age failed: ${age.stderr.trim()}`);
      else {
        say('$ age -d -i recovered.key secrets.vault');
        const doc = JSON.parse(age.stdout) as { entries: { name: string; type: string; versions: { value: string }[] }[] };
        say(`a JSON document with ${doc.entries.length} entries (values not shown): ${doc.entries.map((e) => e.name).join(', ')}`);
        const id = doc.entries.find((e) => e.name === 'backup/identity')!;
        writeFileSync(join(dir, 'backup.id'), `${Buffer.from(id.versions.at(-1)!.value, 'base64').toString('utf8')}\n`, { mode: 0o600 });
        const folder = join(dir, 'backups/files/config');
        const file = readdirSync(folder).find((f) => f.endsWith('.tar.age'))!;
        say(`$ age -d -i backup.id backups/files/config/${file} | tar -t`);
        const tar = spawnSync('sh', ['-c', 'age -d -i "$1" "$2" | tar -t', 'demo', join(dir, 'backup.id'), join(folder, file)], { encoding: 'utf8' });
        if (tar.status !== 0) throw new VaultError('internal', `age | tar failed: ${tar.stderr.trim()}`);
        say(tar.stdout.trim());
      }
      renameSync(join(dir, 'recovered.key'), join(dir, 'vault.key'));
      say(`\ndemo complete.${opts.keep ? ` files kept in ${dir}` : ''}`);
    } finally {
      for (const s of servers) s.stop();
      if (!opts.keep) rmSync(dir, { recursive: true, force: true });
    }
  });
}
