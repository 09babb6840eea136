import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript helper shared with the benchmarks
import { startKubeApi } from '../helpers/kube-api-server.mjs';
import { cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';

/**
 * Registered copies fall behind when the vault changes, also when the
 * operator did not ask for the change (the first backup makes the backup
 * key; backup key rotate; k8s import). The command that changed the vault
 * says so and names the copies; verify names the missing entry versions and
 * the command that replaces (or forgets) the copy; replacing clears it.
 */
let dir: string;
let cleanup: () => void;
let srv: { close(): Promise<void>; kubeconfig(o?: object): string; state: { put(o: unknown): void } };
const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> => cli(dir, args, opts);
let vaultCopy: string;
let keyCopy: string;

beforeAll(async () => {
  srv = await startKubeApi({ namespaces: ['default', 'apps'] });
  srv.state.put({ metadata: { name: 'db', namespace: 'apps' }, data: { PASSWORD: Buffer.from('a-database-password').toString('base64') } });
});
afterAll(async () => srv.close());

// Each test starts from a vault of its own, copied (vault and key) and verified.
beforeEach(async () => {
  ({ dir, cleanup } = tempDir('vt-behind-'));
  writeFileSync(join(dir, 'kubeconfig'), srv.kubeconfig({ context: 'prod' }));
  expect((await vt(['init'])).code).toBe(0);
  expect((await vt(['add', 'k', '-t', 'kek', '--generate'])).code).toBe(0);
  const c = await vt(['copy', '--to', 'usb', '--key-to', 'safe', '--json']);
  expect(c.code, c.stderr).toBe(0);
  ({
    vault: { id: vaultCopy },
    key: { id: keyCopy },
  } = JSON.parse(c.stdout));
  expect((await vt(['verify'])).code).toBe(0);
});
afterEach(() => cleanup());

/** Three changes nobody asked for: the first backup makes the backup key, then it is rotated, then a Secret is imported. */
async function changesUnasked(): Promise<CliResult[]> {
  const made = await vt(['backup', 'exec', '--name', 'x', '-r', 'repo', '--', 'echo', 'data']);
  expect(made.code, made.stderr).toBe(0);
  const rotated = await vt(['backup', 'key', 'rotate']);
  expect(rotated.code, rotated.stderr).toBe(0);
  const imported = await vt(['k8s', 'import', 'db', '-n', 'apps', '--kubeconfig', 'kubeconfig']);
  expect(imported.code, imported.stderr).toBe(0);
  return [made, rotated, imported];
}

const behind = (versions: string) =>
  new RegExp(
    `vault-tool: warning: this command added ${versions}: the registered copy of the vault ${vaultCopy} \\(\\S*usb\\) is now behind \\(lacking the new versions\\); replace it with \`vault-tool copy --replace ${vaultCopy}\`, or stop checking it with \`vault-tool copy forget ${vaultCopy}\``,
  );

describe('changes the operator did not ask for leave copies behind, and say so', () => {
  it('the first backup makes the backup key, backup key rotate and k8s import add versions: each says so and names the copy now behind', async () => {
    const [made, rotated, imported] = await changesUnasked();
    expect(made!.stderr).toMatch(/made the backup key [0-9a-f]{16} \(vault entry backup\/identity\)/);
    expect(made!.stderr).toMatch(behind('backup/identity@1'));
    expect(rotated!.stderr).toMatch(behind('backup/identity@2'));
    expect(imported!.stderr).toMatch(behind('k8s/apps/db/PASSWORD@1'));
  });

  it('verify names the versions the copy lacks and the command that replaces or forgets it', async () => {
    await changesUnasked();
    const r = await vt(['verify', '--report', 'q.md']);
    expect(r.code).toBe(8);
    expect(r.stdout).toMatch(
      /^FAIL copies: vault copy [0-9a-f]{8} at \S+ \(generation \d+, 0 days old\) lacks 3 entry version\(s\) the vault holds \(backup\/identity@1, backup\/identity@2, k8s\/apps\/db\/PASSWORD@1\): it cannot restore them$/m,
    );
    expect(r.stderr).toContain(
      `vault-tool: hint: replace copy ${vaultCopy} with \`vault-tool copy --replace ${vaultCopy}\` (a new copy in the same place, registered in its stead), or stop checking it: \`vault-tool copy forget ${vaultCopy}\``,
    );
    expect(readFileSync(join(dir, 'q.md'), 'utf8')).toContain('replace it with `vault-tool copy --replace ID`');
  });

  it('copy --replace makes new copies in the same places, drops the old registrations, and verify passes', async () => {
    await changesUnasked();
    expect((await vt(['verify'])).code).toBe(8);
    // (A clock of its own: two copies into one folder within a second would share a name.)
    const r = await vt(['copy', '--replace', vaultCopy], { now: new Date('2030-01-01T00:00:00Z') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`^replaced vault copy ${vaultCopy}: no longer checked; its file \\S+usb/secrets\\.vault\\.\\d{8}T\\d{6}Z-[0-9a-f]{8} was left as it is`, 'm'),
    );
    expect(r.stdout).toMatch(new RegExp(`^replaced key copy ${keyCopy}: no longer checked`, 'm'));
    const copies = JSON.parse((await vt(['copy', 'list', '--json'])).stdout) as { id: string; dest: string }[];
    expect(copies.map((c) => c.id)).not.toContain(vaultCopy);
    expect(copies.map((c) => c.dest.replace(/.*\//, '')).sort()).toEqual(['safe', 'usb']);
    expect(readdirSync(join(dir, 'usb'))).toHaveLength(1 + 0 + 1);
    const v = await vt(['verify', '--json']);
    expect(v.code, v.stdout).toBe(0);
    const rec = JSON.parse((await vt(['evidence', 'verify', '--json'])).stdout)
      .filter((x: { event: string }) => x.event === 'vault.copy')
      .at(-1);
    expect(rec.data.replaces.map((x: { id: string }) => x.id).sort()).toEqual([vaultCopy, keyCopy].sort());
  });

  it('after rekey --confirm, it names the copies that open only with the old key; replacing them clears verify', async () => {
    const copies = JSON.parse((await vt(['copy', 'list', '--json'])).stdout) as { id: string; kind: string }[];
    await vt(['rekey']);
    const confirm = await vt(['rekey', '--confirm']);
    expect(confirm.stderr).toMatch(
      /vault-tool: warning: the registered copies now open only with the old key: vault copy [0-9a-f]{8} \(\S+\), key copy [0-9a-f]{8} \(\S+\); replace each with `vault-tool copy --replace ID`/,
    );
    expect((await vt(['verify'])).code).toBe(8);
    expect((await vt(['copy', '--replace', copies.find((c) => c.kind === 'key')!.id], { now: new Date('2030-01-02T00:00:00Z') })).code).toBe(0);
    expect((await vt(['verify'])).code).toBe(0);
    expect(existsSync(join(dir, 'safe'))).toBe(true);
  });
});
