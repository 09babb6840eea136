import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

// README's first command: the whole story, end to end, in a temporary folder that is removed afterwards.
it('the demo tells the whole story and passes its drill', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/vault-tool.js'), 'demo'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, VAULT_TOOL_STATE_DIR: undefined },
  });
  expect(r.status, r.stderr).toBe(0);
  for (const step of ['# 1. the vault', '# 3. the vault key split 3-of-5', '# 4. backups', '# 5. the disaster', '# 6. without vault-tool'])
    expect(r.stdout).toContain(step);
  expect(r.stdout).toMatch(/the shares of alice, carol, erin recover the vault key/);
  expect(r.stdout).toContain('# Disaster-recovery drill: PASSED');
  expect(r.stdout).toContain('demo complete.');
  const folder = /demo folder: (\S+)/.exec(r.stdout)![1]!;
  expect(spawnSync('test', ['-e', folder]).status).toBe(1);
  if (process.env.CI === 'true') {
    // In CI every component runs: nothing is skipped.
    expect(r.stdout).not.toContain('skipped)');
    expect(r.stdout).toContain('restore postgres/orders');
    expect(r.stdout).toContain('restore redis/default');
  }
}, 180_000);
