import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';

/**
 * Commands that reveal or restore key material or data leave an evidence
 * record (docs/FORMAT.md, "Recorded events"): what, into where, never a
 * value. Where the vault cannot be written, the record waits in the state
 * folder for the next write, and the command says so.
 */
let dir: string;
let cleanup: () => void;
const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> => cli(dir, args, opts);
const log = () =>
  readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; data: Record<string, unknown> });
const last = () => log().at(-1)!;
const values: string[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-access-'));
  expect((await vt(['init'])).code).toBe(0);
  expect((await vt(['add', 'app/kek', '-t', 'kek', '--generate'])).code).toBe(0);
  expect((await vt(['add', 'app/pw', '-t', 'password', '--generate'])).code).toBe(0);
  for (const n of ['app/kek', 'app/pw']) values.push((await vt(['get', n])).stdout);
});
afterAll(() => cleanup());

describe('what left the vault is on the record', () => {
  it('get: to a pipe, a file, as JSON', async () => {
    expect((await vt(['get', 'app/kek'])).code).toBe(0);
    expect(last()).toMatchObject({ event: 'entry.get', data: { entry: 'app/kek@1', type: 'kek', to: 'stdout' } });
    expect((await vt(['get', 'app/pw@1', '--out', 'pw.txt'])).code).toBe(0);
    expect(last()).toMatchObject({ event: 'entry.get', data: { entry: 'app/pw@1', to: 'file', out: join(dir, 'pw.txt') } });
    expect((await vt(['get', 'app/kek', '--json'])).code).toBe(0);
    expect(last().data).toMatchObject({ entry: 'app/kek@1', to: 'stdout' });
  });

  it('export env, but not a redacted one; k8s export in either form', async () => {
    expect((await vt(['export', 'env', '--prefix', 'app/'])).code).toBe(0);
    expect(last()).toMatchObject({ event: 'export.env', data: { entries: ['app/kek@1', 'app/pw@1'], to: 'stdout' } });
    const before = log().length;
    expect((await vt(['export', 'env', '--redacted'])).code).toBe(0);
    expect(log()).toHaveLength(before);
    expect((await vt(['k8s', 'export', 'app/kek', '--secret', 'app', '-n', 'apps', '-o', 'bundle.age'])).code).toBe(0);
    expect(last()).toMatchObject({ event: 'k8s.export', data: { secrets: ['apps/app'], entries: ['app/kek'], form: 'age', to: 'file' } });
    expect((await vt(['k8s', 'export', 'app/kek', '--secret', 'app', '--plaintext'])).code).toBe(0);
    expect(last()).toMatchObject({ event: 'k8s.export', data: { form: 'plaintext', to: 'stdout' } });
  });

  it('backup restore: what, into where; a target refused before writing is no restore', async () => {
    const b = await vt(['backup', 'exec', '--name', 'blob', '-r', 'repo', '--json', '--', 'echo', 'some data']);
    expect(b.code, b.stderr).toBe(0);
    const file = JSON.parse(b.stdout.trim().split('\n')[1]!).file as string;
    const r = await vt(['backup', 'restore', `exec/blob/${file}`, '-r', 'repo', '-o', 'restored.bin']);
    expect(r.code, r.stderr).toBe(0);
    expect(last()).toMatchObject({
      event: 'backup.restore',
      data: { backup: `exec/blob/${file}`, kind: 'exec', repo: join(dir, 'repo'), into: join(dir, 'restored.bin'), complete: true },
    });
    const before = log().length;
    expect((await vt(['backup', 'restore', `exec/blob/${file}`, '-r', 'repo', '-o', 'restored.bin'])).code).toBe(10);
    expect(log()).toHaveLength(before);
  });

  it('a copy that cannot be written keeps the record for the next write, and says so', async () => {
    copyFileSync(join(dir, 'secrets.vault'), join(dir, 'old.vault'));
    expect((await vt(['add', 'notes/later', '-t', 'generic', '--generate'])).code).toBe(0);
    // An older copy is never written to for a record: the value still comes out, the record waits.
    const r = await vt(['get', 'app/kek', '--vault-file', 'old.vault']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(values[0]);
    expect(r.stderr).toMatch(
      /vault-tool: warning: not in the evidence log yet \(refusing to write: .*\): the record is kept in \S+evidence-deferred\/[0-9a-f]{32}\.jsonl/,
    );
    const kept = readdirSync(join(dir, '.state', 'evidence-deferred'));
    expect(kept).toHaveLength(1);
    expect(log().some((x) => x.event === 'entry.get' && x.data.deferred)).toBe(false);
    expect((await vt(['add', 'notes/more', '-t', 'generic', '--generate'])).code).toBe(0);
    expect(log().find((x) => x.event === 'entry.get' && x.data.deferred)).toMatchObject({
      data: { entry: 'app/kek@1', to: 'stdout', deferred: { at: expect.any(String), why: expect.stringContaining('refusing to write') } },
    });
    expect(existsSync(join(dir, '.state', 'evidence-deferred', kept[0]!))).toBe(false);
  });

  it('a new recipient, who can open the vault from now on, and its removal', async () => {
    const { X25519Identity } = await import('../../src/age/x25519.js');
    const recipient = X25519Identity.generate().identity.recipient;
    expect((await vt(['recipients', 'add', recipient, '--label', 'offsite-escrow'])).code).toBe(0);
    expect(last()).toMatchObject({ event: 'recipients.add', data: { keyId: expect.stringMatching(/^[0-9a-f]{16}$/), label: 'offsite-escrow' } });
    expect((await vt(['recipients', 'rm', 'offsite-escrow'])).code).toBe(0);
    expect(last()).toMatchObject({ event: 'recipients.rm', data: { label: 'offsite-escrow' } });
  });

  it('no record holds a value', () => {
    const text = readFileSync(join(dir, 'secrets.vault.evidence.jsonl'), 'utf8');
    for (const v of values) expect(text).not.toContain(v);
    expect((text.match(/"event":"entry\.get"/g) ?? []).length).toBeGreaterThan(3);
  });
});
