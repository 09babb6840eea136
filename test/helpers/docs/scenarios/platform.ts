import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Postgres, Redis } from '../../servers.mjs';
import { clusters, hex, newest, pgEnv, postgres, redis, secret, secretValue } from '../lab.js';
import type { Scenario, Stage } from '../scenario.js';

/**
 * RUNBOOK section 12: the platform's backups (PostgreSQL with three
 * databases and a role owning their tables, Redis, a config folder, a
 * Kubernetes namespace, a dump command with a token), then the whole
 * platform restored on a new host, then once more by hand with stock
 * tools on another. Each host is a folder ($DOC_HOST) with its own
 * throwaway PostgreSQL cluster and Redis.
 */
export const platform: Scenario = {
  name: 'platform',
  terminal: true,
  async setup(stage) {
    const S = stage.dir;
    const host = (h: string) => join(S, 'hosts', h);
    const repo = join(S, 'srv/backups');
    const prod = await postgres(stage);
    const fresh = await postgres(stage);
    const byHand = await postgres(stage);
    const redisProd = await redis(stage);
    const redisNew = await hostRedis(stage, host('new'));
    const redisByHand = await hostRedis(stage, host('by-hand'));
    const k = await clusters(stage, ['prod', 'new-cluster'], 'prod');
    Object.assign(stage.env, pgEnv(prod));

    prod.sql("create role keycloak_app login password 'app-password'");
    const rows: Record<string, string> = { keycloak: '1200', openfga: '300', infisical: '40' };
    for (const [db, n] of Object.entries(rows)) {
      prod.sql(`create database ${db}`);
      prod.sql(`create table items (id int primary key, name text); insert into items select g, md5(g::text) from generate_series(1, ${n}) g`, db);
    }
    prod.sql('alter table items owner to keycloak_app', 'keycloak');
    redisProd.cli('eval', "for i=1,200 do redis.call('set', 'session:'..i, 'v'..i) end", '0');
    const files = {
      '.env': 'KC_DB=postgres\n',
      'docker-compose.yml': 'services: {}\n',
      'certs/tls.crt': 'certificate\n',
      'config/app.yaml': 'mode: production\n',
    };
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(join(host('prod'), 'opt/platform', f, '..'), { recursive: true });
      writeFileSync(join(host('prod'), 'opt/platform', f), text);
    }
    const encryptionKey = hex(16);
    secret(k.prod!, 'infisical', 'infisical-bootstrap-secret', { ENCRYPTION_KEY: encryptionKey });
    secret(k.prod!, 'platform', 'platform-keys', { HMAC_KEY: hex(32) });
    k.prod!.state.putConfigMap({ metadata: { name: 'settings', namespace: 'platform' }, data: { mode: 'strict' } });

    // The API a dump command reaches with a token from the vault: it answers that token only.
    const token = hex(24);
    writeFileSync(join(S, 'api-token.txt'), token, { mode: 0o600 });
    const seen: string[] = [];
    const api = createServer((req, res) => {
      seen.push(req.headers.authorization ?? '');
      if (req.headers.authorization !== `Bearer ${token}`) res.writeHead(401).end('unauthorized\n');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"export":"everything"}\n');
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    stage.onTeardown(() => new Promise((r) => api.close(r)));
    const apiUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}/export`;

    stage.standIn('systemctl', SYSTEMCTL);
    const onHost = (h: string, pg: Postgres) =>
      [
        `export DOC_HOST=${host(h)} HOME=${host(h)}/home`,
        `export PGHOST=${pg.env.PGHOST} PGPORT=${pg.env.PGPORT}`,
        'mkdir -p "$HOME" "$DOC_HOST/restore"',
      ].join('\n');
    const component = (c: string) => () => `${c}/${newest(repo, c)}`;
    const newHost = host('new');
    const handHost = host('by-hand');
    return {
      prepare: [
        'umask 077',
        `export DOC_HOST=${host('prod')}`,
        'vault-tool init',
        'vault-tool add api/export-token -t password --from-file api-token.txt',
        'vault-tool add postgres/admin-password -t password --generate',
        'vault-tool k8s import infisical-bootstrap-secret -n infisical --map ENCRYPTION_KEY=infisical/encryption-key:infisical-encryption-key',
        'vault-tool k8s plan -o restore-plan.yaml',
        'vault-tool escrow split -k 3 -c "Alice (CISO)" -c "Bob (CTO)" -c Carol -c Dave -c "Erin (legal)" -o media/ceremony',
      ].join('\n'),
      bind: {
        '/srv/backups': repo,
        '-p 6379': `-p ${redisProd.port}`,
        '/opt/platform': '$DOC_HOST/opt/platform',
        '/var/lib/redis': '$DOC_HOST/var/lib/redis',
        'https://api.internal/export': apiUrl,
        'db.internal': '$PGHOST',
        'files/config/FILE': component('files/config'),
        'postgres/globals/FILE': component('postgres/globals'),
        'postgres/keycloak/FILE': component('postgres/keycloak'),
        'redis/default/FILE': component('redis/default'),
      },
      before: {
        'vault-tool escrow combine': [
          onHost('new', fresh),
          'unset VAULT_TOOL_BACKUP_REPO',
          'cp secrets.vault secrets.vault.evidence.jsonl restore-plan.yaml "$DOC_HOST/restore/"',
          '(cd media/ceremony && cp manifest.json share-01-alice-ciso.share share-03-carol.share share-05-erin-legal.share "$DOC_HOST/restore/")',
          'cd "$DOC_HOST/restore"',
        ].join('\n'),
        'age -d -i vault.key secrets.vault': [
          onHost('by-hand', byHand),
          `export PATH=${stage.env
            .PATH!.split(':')
            .filter((p) => !p.endsWith('/.cli'))
            .join(':')}`,
          '! command -v vault-tool',
          'cp vault.key secrets.vault "$DOC_HOST/restore/"',
          'cd "$DOC_HOST/restore"',
        ].join('\n'),
      },
      after: {
        'vault-tool backup status': () => {
          for (const c of ['postgres/globals', 'postgres/keycloak', 'postgres/openfga', 'postgres/infisical', 'redis/default', 'files/config', 'k8s/prod'])
            expect(newest(repo, c)).toMatch(/^\d{8}T\d{6}Z-/);
        },
        'vault-tool backup exec --name api': () => {
          expect(seen).toEqual([`Bearer ${token}`]);
          expect(newest(repo, 'exec/api')).toMatch(/\.age$/);
        },
        'chown redis:': () => {
          expect(sameData(prod, fresh, rows)).toBe(true);
          expect(fresh.sql("select tableowner from pg_tables where tablename = 'items'", 'keycloak')).toBe('keycloak_app');
          expect(redisNew.cli('dbsize')).toBe('200');
          for (const [f, text] of Object.entries(files)) expect(readFileSync(join(newHost, 'opt/platform', f), 'utf8')).toBe(text);
          expect(secretValue(k['new-cluster']!, 'infisical', 'infisical-bootstrap-secret', 'ENCRYPTION_KEY')).toBe(encryptionKey);
        },
        'rm backup.id dump.rdb': () => {
          expect(sameData(prod, byHand, { keycloak: rows.keycloak! })).toBe(true);
          expect(byHand.sql("select tableowner from pg_tables where tablename = 'items'", 'keycloak')).toBe('keycloak_app');
          expect(redisByHand.cli('dbsize')).toBe('200');
          for (const [f, text] of Object.entries(files)) expect(readFileSync(join(handHost, 'opt/platform', f), 'utf8')).toBe(text);
        },
      },
    };
  },
};

/** Each database holds as many rows, with the same checksum, as production's. */
function sameData(a: Postgres, b: Postgres, rows: Record<string, string>): boolean {
  const q = "select count(*) || ':' || md5(string_agg(name, ',' order by id)) from items";
  return Object.entries(rows).every(([db, n]) => b.sql(q, db) === a.sql(q, db) && a.sql(q, db).startsWith(`${n}:`));
}

/** A host's Redis: its folder is the host's /var/lib/redis, its port in $DOC_HOST/.redis-port for the systemctl stand-in. */
async function hostRedis(stage: Stage, root: string): Promise<Redis> {
  const r = await redis(stage, join(root, 'var/lib/redis'));
  writeFileSync(join(root, '.redis-port'), String(r.port));
  return r;
}

const SYSTEMCTL = `#!/bin/sh
# Stands in for systemd on the test's hosts: stops and starts the throwaway
# redis-server of the host $DOC_HOST names, on its folder /var/lib/redis.
set -e
dir="$DOC_HOST/var/lib/redis"
port=$(cat "$DOC_HOST/.redis-port")
case "$*" in
  "stop redis-server") redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true ;;
  "start redis-server")
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no --daemonize yes --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
    for i in $(seq 200); do [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && exit 0; sleep 0.05; done
    echo "systemctl (stand-in): redis-server did not start" >&2; exit 1 ;;
  *) echo "systemctl (a stand-in of the test): only stop and start redis-server" >&2; exit 1 ;;
esac
`;
