// Opt-in: the k8s commands against a real cluster (kind, minikube, a test
// cluster). Set VAULT_TOOL_E2E_KUBECONFIG to its kubeconfig; skipped
// otherwise. Works only in a namespace of its own, deleted at the end.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';

const KUBECONFIG = process.env.VAULT_TOOL_E2E_KUBECONFIG;

describe.skipIf(!KUBECONFIG)('k8s commands against a real cluster (VAULT_TOOL_E2E_KUBECONFIG)', () => {
  const ns = `vault-tool-e2e-${randomBytes(4).toString('hex')}`;
  let dir: string;
  let cleanup: () => void;
  let api: k8s.CoreV1Api;
  const vt = (args: string[]) => cli(dir, args, { env: { KUBECONFIG: KUBECONFIG! } });

  beforeAll(async () => {
    ({ dir, cleanup } = tempDir());
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(KUBECONFIG!);
    api = kc.makeApiClient(k8s.CoreV1Api);
    expect((await vt(['init'])).code).toBe(0);
    expect((await vt(['add', 'e2e/master-key', '-t', 'master-key', '--generate'])).code).toBe(0);
    expect((await vt(['add', 'e2e/auth-secret', '-t', 'infisical-auth-secret', '--generate'])).code).toBe(0);
    writeFileSync(
      join(dir, 'plan.yaml'),
      `apiVersion: vault-tool/v1\nkind: RestorePlan\nsecrets:\n  - namespace: ${ns}\n    name: platform-keys\n    labels: {app: e2e}\n    data:\n      MASTER_KEY: e2e/master-key\n      AUTH_SECRET: e2e/auth-secret\n`,
    );
  });
  afterAll(async () => {
    await api?.deleteNamespace({ name: ns }).catch(() => undefined);
    cleanup?.();
  });

  it('restores into a new namespace, idempotently, and compares by hash', async () => {
    const dry = await vt(['k8s', 'restore', '--plan', 'plan.yaml', '--create-namespace', '--dry-run=server']);
    // One line per Secret: "  created  NS/NAME  N keys" (the totals line names every action, so it proves nothing).
    expect(dry.stdout).toMatch(new RegExp(`^\\s+created\\s+${ns}/platform-keys\\s`, 'm'));
    const r = await vt(['k8s', 'restore', '--plan', 'plan.yaml', '--create-namespace', '--reason', 'e2e']);
    expect(r.stdout + r.stderr).toContain(`created  ${ns}/platform-keys`);
    expect(r.code).toBe(0);
    const live = await api.readNamespacedSecret({ namespace: ns, name: 'platform-keys' });
    expect(Buffer.from(live.data!.MASTER_KEY!, 'base64').toString()).toBe((await vt(['get', 'e2e/master-key'])).stdout);
    expect(live.metadata?.managedFields?.some((m) => m.manager === 'vault-tool' && m.operation === 'Apply')).toBe(true);
    expect((await vt(['k8s', 'restore', '--plan', 'plan.yaml'])).stdout).toMatch(new RegExp(`^\\s+unchanged\\s+${ns}/platform-keys\\s`, 'm'));
    expect((await vt(['k8s', 'diff-vault', '--plan', 'plan.yaml'])).code).toBe(0);
  });

  it('catches drift, skips by default, and overwrites only when asked', async () => {
    await api.patchNamespacedSecret(
      { namespace: ns, name: 'platform-keys', body: { data: { MASTER_KEY: Buffer.from('drifted').toString('base64') } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
    const drift = await vt(['k8s', 'diff-vault', '--plan', 'plan.yaml']);
    expect(drift.code).toBe(8);
    expect(drift.stdout).toContain('differs: MASTER_KEY');
    expect((await vt(['k8s', 'restore', '--plan', 'plan.yaml'])).code).toBe(16);
    expect((await vt(['k8s', 'restore', '--plan', 'plan.yaml', '--on-conflict', 'if-unchanged'])).code).toBe(16);
    const over = await vt(['k8s', 'restore', '--plan', 'plan.yaml', '--on-conflict', 'overwrite']);
    expect(over.code).toBe(0);
    expect((await vt(['k8s', 'diff-vault', '--plan', 'plan.yaml'])).code).toBe(0);
  });

  it('imports back what it restored without adding versions', async () => {
    const r = await vt([
      'k8s',
      'import',
      'platform-keys',
      '-n',
      ns,
      '--map',
      'MASTER_KEY=e2e/master-key:master-key',
      '--map',
      'AUTH_SECRET=e2e/auth-secret:infisical-auth-secret',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('2 unchanged');
  });
});
