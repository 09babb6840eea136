import { expect } from 'vitest';
import { base64Key, clusters, hex, secret, secretValue } from '../lab.js';
import type { Scenario } from '../scenario.js';

/** RUNBOOK section 10: escrow a cluster's Secrets, catch drift, restore them into a new cluster. */
export const cluster: Scenario = {
  name: 'cluster',
  terminal: true,
  async setup(stage) {
    const k = await clusters(stage, ['prod', 'new-cluster'], 'prod');
    const values = { ENCRYPTION_KEY: hex(16), AUTH_SECRET: base64Key(), MASTER_KEY: base64Key() };
    secret(k.prod!, 'infisical', 'infisical-bootstrap-secret', { ENCRYPTION_KEY: values.ENCRYPTION_KEY, AUTH_SECRET: values.AUTH_SECRET });
    secret(k.prod!, 'mazevault', 'mazevault-master-key', { MASTER_KEY: values.MASTER_KEY });
    return {
      prepare: 'umask 077\nvault-tool init',
      after: {
        'vault-tool k8s plan': (s) => {
          expect(s.sh('vault-tool get mazevault/master-key')).toBe(values.MASTER_KEY);
          expect(s.sh('cat restore-plan.yaml')).toContain('mazevault-master-key');
        },
        'vault-tool k8s restore --plan restore-plan.yaml --context new-cluster --create-namespace': () => {
          const n = k['new-cluster']!;
          expect(secretValue(n, 'infisical', 'infisical-bootstrap-secret', 'ENCRYPTION_KEY')).toBe(values.ENCRYPTION_KEY);
          expect(secretValue(n, 'infisical', 'infisical-bootstrap-secret', 'AUTH_SECRET')).toBe(values.AUTH_SECRET);
          expect(secretValue(n, 'mazevault', 'mazevault-master-key', 'MASTER_KEY')).toBe(values.MASTER_KEY);
        },
      },
    };
  },
};
