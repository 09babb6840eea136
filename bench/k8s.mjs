// Restore throughput: 500 Secrets into the Secrets API test double (HTTPS),
// by the built binary in its own process, with bounded concurrency. The first
// run creates every Secret; the second finds them all unchanged (reads only).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { changed, initVault, updateVault, putEntry } from '../dist/lib/index.js';
import { startKubeApi } from '../test/helpers/kube-api-server.mjs';
import { median, row } from './lib.mjs';

const BIN = resolve(import.meta.dirname, '../bin/vault-tool.js');
const N = 500;

function runCli(args, env) {
  return new Promise((res, rej) => {
    const t = process.hrtime.bigint();
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (c) => (err += c));
    p.on('error', rej);
    p.on('close', (code) =>
      code === 0 ? res(Number(process.hrtime.bigint() - t) / 1e6) : rej(new Error(`vault-tool ${args.join(' ')} exited ${code}: ${err}`)),
    );
  });
}

export default async function benchK8s() {
  const dir = mkdtempSync(join(tmpdir(), 'vt-bench-k8s-'));
  const srv = await startKubeApi({ tls: true, namespaces: ['default'] });
  try {
    const paths = { vaultFile: join(dir, 'secrets.vault'), keyFile: join(dir, 'vault.key') };
    await initVault(paths);
    await updateVault(paths, {}, (doc) => {
      for (let i = 0; i < N; i++) putEntry(doc, { name: `app/key-${i}`, type: 'hmac-key', now: new Date() });
      return changed(undefined);
    });
    const lines = ['apiVersion: vault-tool/v1', 'kind: RestorePlan', 'entries:'];
    for (let i = 0; i < N; i++) lines.push(`  - {entry: app/key-${i}, to: ns-${i % 5}/secret-${i}#KEY}`);
    writeFileSync(join(dir, 'plan.yaml'), lines.join('\n') + '\n');
    writeFileSync(join(dir, 'kubeconfig'), srv.kubeconfig());
    const env = {
      KUBECONFIG: join(dir, 'kubeconfig'),
      VAULT_TOOL_STATE_DIR: join(dir, '.state'),
      VAULT_TOOL_VAULT_FILE: paths.vaultFile,
      VAULT_TOOL_KEY_FILE: paths.keyFile,
    };
    const args = (c) => ['k8s', 'restore', '--plan', join(dir, 'plan.yaml'), '--create-namespace', '--concurrency', String(c)];
    for (const c of [8, 1]) {
      const create = [];
      const same = [];
      for (let r = 0; r < 3; r++) {
        srv.state.secrets.clear();
        create.push(await runCli(args(c), env));
        same.push(await runCli(args(c), env));
      }
      if (srv.state.secrets.size !== N) throw new Error(`expected ${N} Secrets in the server, found ${srv.state.secrets.size}`);
      const ok = c === 8 ? median(create) < 10_000 : undefined;
      row(
        `k8s restore, ${N} Secrets created (HTTPS, concurrency ${c})`,
        `${(median(create) / 1000).toFixed(2)} s`,
        c === 8 ? 'seconds (< 10 s)' : 'for comparison',
        ok,
      );
      row(
        `k8s restore, ${N} Secrets unchanged (concurrency ${c})`,
        `${(median(same) / 1000).toFixed(2)} s`,
        c === 8 ? 'seconds (< 10 s)' : 'for comparison',
        c === 8 ? median(same) < 10_000 : undefined,
      );
    }
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
