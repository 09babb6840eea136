// Start-up and vault-size targets (bench/README.md): --help <= 1.4x and
// list of 1,000 entries <= 1.8x node -e 0, each timed in turns with it;
// 10,000 entries: list < 0.5 s, add < 1 s.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, renameSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { changed, initVault, updateVault, putEntry } from '../dist/lib/index.js';
import { row, timeAlternating, timeCommand } from './lib.mjs';

const BIN = resolve(import.meta.dirname, '../bin/vault-tool.js');

async function makeVault(dir, n) {
  const paths = { vaultFile: join(dir, 'secrets.vault'), keyFile: join(dir, 'vault.key') };
  await initVault(paths);
  const types = ['kek', 'master-key', 'hmac-key', 'infisical-encryption-key', 'password', 'generic'];
  await updateVault(paths, {}, (doc) => {
    const now = new Date();
    for (let i = 0; i < n; i++) putEntry(doc, { name: `app${i % 50}/secret-${i}`, type: types[i % types.length], now });
    return changed(undefined);
  });
  return paths;
}

export async function benchVault() {
  const dir = mkdtempSync(join(tmpdir(), 'vt-bench-'));
  const env = { VAULT_TOOL_STATE_DIR: join(dir, '.state') };
  try {
    const d1 = join(dir, 'v1k');
    (await import('node:fs')).mkdirSync(d1);
    const p1 = await makeVault(d1, 1000);
    const startup = {
      base: [process.execPath, ['-e', '0']],
      help: [process.execPath, [BIN, '--help']],
      list: [process.execPath, [BIN, 'list', '--vault-file', p1.vaultFile, '--key-file', p1.keyFile]],
    };
    const show = (t, base) =>
      `${t.median.toFixed(1)} ms (${(t.median / base.median).toFixed(2)}x; middle half ${t.spread.map((x) => x.toFixed(0)).join('-')} ms)`;
    // The CLI compiles with the code cache made by the build (bin/vault-tool.js): without it, the rows below time another program.
    const cache = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(BIN)}).load().cache)`], { encoding: 'utf8' }).stdout;
    row('code cache (dist/cli.cjs.cache)', cache, 'used', cache === 'used');
    // In turns with the baseline, so that both meet the same load.
    const s = timeAlternating(startup, { env });
    row('node -e 0', show(s.base, s.base), 'baseline');
    row('vault-tool --help', show(s.help, s.base), '<= 1.4x node -e 0', s.help.median / s.base.median <= 1.4);
    row('vault-tool list, 1,000 entries', show(s.list, s.base), '<= 1.8x node -e 0', s.list.median / s.base.median <= 1.8);
    if (process.env.NODE_EXTRA_CA_CERTS) {
      // Every node process, node -e 0 included, parses those certificates at start: the same rows without them.
      const bare = timeAlternating(startup, { env: { ...env, NODE_EXTRA_CA_CERTS: '' } });
      row('  the same without NODE_EXTRA_CA_CERTS: node -e 0', show(bare.base, bare.base), '(for comparison)');
      row('  vault-tool --help', show(bare.help, bare.base), '(for comparison)');
      row('  vault-tool list, 1,000 entries', show(bare.list, bare.base), '(for comparison)');
    }
    const list1k = s.list.median;
    const base = s.base;

    const d10 = join(dir, 'v10k');
    (await import('node:fs')).mkdirSync(d10);
    const p10 = await makeVault(d10, 10000);
    const list10k = timeCommand(process.execPath, [BIN, 'list', '--vault-file', p10.vaultFile, '--key-file', p10.keyFile], { env, runs: 7 });
    row('vault-tool list, 10,000 entries', `${list10k.toFixed(1)} ms`, '< 500 ms', list10k < 500);
    const add10k = timeCommand(
      process.execPath,
      [BIN, 'add', `bench/new`, '-t', 'kek', '--generate', '--update', '--vault-file', p10.vaultFile, '--key-file', p10.keyFile],
      { env, runs: 7 },
    );
    row('vault-tool add, 10,000 entries', `${add10k.toFixed(1)} ms`, '< 1000 ms', add10k < 1000);

    // Commands that do not touch Kubernetes never load its client: list with the k8s code removed.
    const k8sDir = resolve(import.meta.dirname, '../node_modules/@kubernetes');
    if (existsSync(k8sDir)) {
      renameSync(k8sDir, k8sDir + '.bench-hidden');
      try {
        const without = timeCommand(process.execPath, [BIN, 'list', '--vault-file', p1.vaultFile, '--key-file', p1.keyFile], { env });
        row(
          'vault-tool list, 1,000 entries, k8s client absent',
          `${without.toFixed(1)} ms (vs ${list1k.toFixed(1)})`,
          'same as with it',
          Math.abs(without - list1k) < base.median * 0.25,
        );
      } finally {
        renameSync(k8sDir + '.bench-hidden', k8sDir);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
