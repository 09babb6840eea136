import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { base64Key, clusters, hex, secret } from '../lab.js';
import type { Scenario } from '../scenario.js';

/** RUNBOOK section 11: copies, canaries, the quarterly verification against production's sources, its schedule. */
export const quarter: Scenario = {
  name: 'quarter',
  terminal: true,
  async setup(stage) {
    const S = stage.dir;
    const k = await clusters(stage, ['prod'], 'prod');
    const master = base64Key();
    const encryptionKey = hex(16);
    secret(k.prod!, 'infisical', 'infisical-bootstrap-secret', { ENCRYPTION_KEY: encryptionKey });
    mkdirSync(join(S, 'opt/app'), { recursive: true });
    writeFileSync(join(S, 'opt/app/.env'), `MASTER_KEY=${master}\nMODE=production\n`, { mode: 0o600 });
    writeFileSync(join(S, 'master.txt'), master, { mode: 0o600 });
    writeFileSync(join(S, 'encryption-key.txt'), encryptionKey, { mode: 0o600 });
    mkdirSync(join(S, 'mnt/usb-safe-2'), { recursive: true });
    mkdirSync(join(S, 'var/lib/node_exporter/textfile_collector'), { recursive: true });
    writeFileSync(
      join(S, 'verify.yaml'),
      [
        'apiVersion: vault-tool/v1',
        'kind: VerificationPlan',
        'interval: quarterly',
        'against:',
        `  - env:${join(S, 'opt/app/.env')}#MASTER_KEY=platform/master`,
        '  - k8s:infisical/infisical-bootstrap-secret#ENCRYPTION_KEY=infisical/encryption-key',
        `kubernetes: { kubeconfig: ${stage.env.KUBECONFIG}, context: prod }`,
        '',
      ].join('\n'),
    );
    stage.env.RCLONE_CONFIG_OFFSITE_TYPE = 'local';
    return {
      prepare: [
        'umask 077',
        'vault-tool init',
        'vault-tool add platform/master -t master-key --from-file master.txt',
        'vault-tool add infisical/encryption-key -t infisical-encryption-key --from-file encryption-key.txt',
        'vault-tool escrow split -k 2 -c alice -c bob -c carol -o shares',
      ].join('\n'),
      bind: {
        '/mnt/usb-safe-2': join(S, 'mnt/usb-safe-2'),
        '/opt/app/.env': join(S, 'opt/app/.env'),
        '/var/lib/vault-tool/reports': join(S, 'var/lib/vault-tool/reports'),
        '/var/lib/node_exporter/textfile_collector': join(S, 'var/lib/node_exporter/textfile_collector'),
      },
      after: {
        'vault-tool copy list': () => {
          expect(readdirSync(join(S, 'mnt/usb-safe-2')).some((f) => f.startsWith('secrets.vault'))).toBe(true);
          expect(readdirSync(join(S, 'vault-keys')).some((f) => f.startsWith('vault.key'))).toBe(true);
        },
        'vault-tool verify --plan verify.yaml': (s) => {
          const reports = readdirSync(join(S, 'var/lib/vault-tool/reports'));
          expect(reports.length).toBeGreaterThan(0);
          expect(readFileSync(join(S, 'var/lib/node_exporter/textfile_collector/vault_tool.prom'), 'utf8')).toContain('vault_tool_');
          expect(s.sh('vault-tool status --json | jq -r .overdue')).toBe('false\n');
        },
      },
    };
  },
};
