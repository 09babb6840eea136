import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Against a real cluster only when one is named (a kube-apiserver cannot run here): outside the default run
    // rather than reported as skipped in it. README, "Testing against a real cluster".
    exclude: ['**/node_modules/**', ...(process.env.VAULT_TOOL_E2E_KUBECONFIG ? [] : ['test/e2e/k8s-real.test.ts'])],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
