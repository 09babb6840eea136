import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ROOT } from '../../cli.js';
import { bindText, fencedBlocks } from '../blocks.js';
import { clusters, hex, pgEnv, postgres, redis, secret } from '../lab.js';
import type { Scenario } from '../scenario.js';

/**
 * RUNBOOK sections 13 and 14: a drill made by drill init, dry run, run,
 * status; a kept drill's targets torn down; then every recurring job
 * printed from the schedule plan the RUNBOOK shows, its paths those of
 * this vault.
 */
export const drill: Scenario = {
  name: 'drill',
  terminal: true,
  async setup(stage) {
    const S = stage.dir;
    const pg = await postgres(stage);
    const r = await redis(stage);
    const k = await clusters(stage, ['prod', 'scratch'], 'prod');
    Object.assign(stage.env, pgEnv(pg));
    pg.sql('create database orders');
    pg.sql('create table items (id int primary key, name text); insert into items select g, md5(g::text) from generate_series(1, 500) g', 'orders');
    r.cli('eval', "for i=1,50 do redis.call('set', 'k'..i, 'v'..i) end", '0');
    mkdirSync(join(S, 'platform/certs'), { recursive: true });
    writeFileSync(join(S, 'platform/.env'), 'MODE=production\n');
    writeFileSync(join(S, 'platform/certs/tls.crt'), 'certificate\n');
    secret(k.prod!, 'infisical', 'infisical-bootstrap-secret', { ENCRYPTION_KEY: hex(16) });
    const repo = join(S, 'srv/backups');
    const drills = () => pg.sql("select count(*) from pg_database where datname like 'drill\\_%'");
    // The RUNBOOK's schedule plan, on this machine: the same jobs, the paths of this scratch folder.
    const runbook = fencedBlocks('docs/RUNBOOK.md', readFileSync(join(ROOT, 'docs/RUNBOOK.md'), 'utf8'));
    const plan = runbook.find((b) => b.lang === 'yaml' && b.text.includes('kind: SchedulePlan'));
    if (!plan) throw new Error('docs/RUNBOOK.md: no schedule plan (a yaml block of kind SchedulePlan)');
    mkdirSync(join(S, 'etc/vault-tool'), { recursive: true });
    mkdirSync(join(S, 'etc/cron.d'), { recursive: true });
    const here = bindText(plan.text, {
      '/var/lib/vault-tool/secrets.vault': join(S, 'secrets.vault'),
      '/etc/vault-tool/vault.key': join(S, 'vault.key'),
      '/var/lib/vault-tool/state': join(S, 'home/state'),
      '/etc/vault-tool/drill.yaml': join(S, 'drill.yaml'),
      '/etc/vault-tool/': `${join(S, 'etc/vault-tool')}/`,
      '/srv/backups': repo,
      '/opt/platform': join(S, 'platform'),
    });
    writeFileSync(join(S, 'etc/vault-tool/schedule.yaml'), here);
    writeFileSync(join(S, 'schedule.yaml'), here);
    writeFileSync(join(S, 'etc/vault-tool/verify.yaml'), 'apiVersion: vault-tool/v1\nkind: VerificationPlan\ninterval: quarterly\n');
    const jobs = [...plan.text.matchAll(/name: ([a-z]+),/g)].map((m) => m[1]!);
    return {
      prepare: [
        'umask 077',
        'vault-tool init',
        'vault-tool k8s import infisical-bootstrap-secret -n infisical --map ENCRYPTION_KEY=infisical/encryption-key:infisical-encryption-key',
        'vault-tool k8s plan -o restore-plan.yaml',
        'vault-tool escrow split -k 3 -c alice -c bob -c carol -c dave -c erin -o shares',
        // The shares as they are kept: apart, one folder per custodian (three of the five here).
        ...['01-alice', '03-carol', '05-erin'].map(
          (c) => `mkdir -p secure/custodians/${c.slice(3)} && cp shares/share-${c}.share secure/custodians/${c.slice(3)}/`,
        ),
        `export VAULT_TOOL_BACKUP_REPO=${repo}`,
        'vault-tool backup postgres --all',
        `vault-tool backup redis -p ${r.port}`,
        'vault-tool backup files .env certs -C platform',
        'unset VAULT_TOOL_BACKUP_REPO',
        'vault-tool verify',
      ].join('\n'),
      bind: {
        '/srv/backups': repo,
        '/secure/custodians': join(S, 'secure/custodians'),
        '/srv/ops-log/drills': join(S, 'srv/ops-log/drills'),
        '/etc/vault-tool/schedule.yaml': join(S, 'etc/vault-tool/schedule.yaml'),
        '/etc/cron.d/vault-tool': join(S, 'etc/cron.d/vault-tool'),
      },
      before: {
        'vault-tool drill teardown --dry-run': `vault-tool drill --plan drill.yaml --keep\ntest "$(psql -XAtc "select count(*) from pg_database where datname like 'drill\\_%'")" -gt 0`,
      },
      after: {
        'vault-tool status': (s) => {
          expect(s.sh('vault-tool status --json | jq -r .lastDrill.ok')).toBe('true\n');
          expect(readdirSync(join(S, 'srv/ops-log/drills')).some((f) => f.endsWith('.html'))).toBe(true);
          expect(drills()).toBe('0');
        },
        'vault-tool schedule cron': () => {
          const cron = readFileSync(join(S, 'etc/cron.d/vault-tool'), 'utf8');
          expect(jobs.length).toBeGreaterThan(5);
          for (const j of jobs) expect(cron).toContain(`/var/log/vault-tool/${j}.log`);
        },
        'vault-tool schedule k8s-cronjob': () => {
          const out = readFileSync(join(S, 'vault-tool-jobs.yaml'), 'utf8');
          expect(out.match(/^kind: CronJob$/gm)?.length).toBe(jobs.length);
        },
        'vault-tool drill teardown': () => {
          expect(drills()).toBe('0');
          expect([...k.scratch!.state.secrets.keys()].filter((x) => x.startsWith('drill-'))).toEqual([]);
        },
      },
    };
  },
};
