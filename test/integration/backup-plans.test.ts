import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir, type CliOptions, type CliResult } from '../helpers/cli.js';

/**
 * Restore and verify are planned before they are carried out: a dry run
 * makes every check that needs no reading of the backup, prints the plan,
 * and changes nothing (no file, no manifest, no vault write, no record).
 */
let dir: string;
let cleanup: () => void;
let ref: string;
const vt = (args: string[], opts: CliOptions = {}): Promise<CliResult> => cli(dir, args, opts);

/** Everything under a folder with its content, to compare before and after. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[p] = readFileSync(p, 'latin1');
    }
  };
  walk(root);
  return out;
}

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('vt-plans-'));
  expect((await vt(['init'])).code).toBe(0);
  mkdirSync(join(dir, 'app'));
  writeFileSync(join(dir, 'app/.env'), 'A=1\n');
  const b = await vt(['backup', 'files', '.env', '-C', 'app', '-r', 'repo', '--json']);
  expect(b.code, b.stderr).toBe(0);
  const made = JSON.parse(b.stdout.trim().split('\n')[1]!);
  ref = `files/config/${made.file}`;
});
afterAll(() => cleanup());

describe('dry runs plan and change nothing', () => {
  it('backup restore --dry-run: the checks before reading, the plan printed, nothing written or recorded', async () => {
    const before = snapshot(dir);
    const r = await vt(['backup', 'restore', ref, '--to-dir', 'restored', '-r', 'repo', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^decrypt ${ref} .* and check it in full`, 'm'));
    expect(r.stdout).toMatch(/^then decrypt it again into .*restored, its SHA-256s checked again$/m);
    expect(r.stderr).toContain('dry run:');
    expect(existsSync(join(dir, 'restored'))).toBe(false);
    expect(snapshot(dir)).toEqual(before);
    // A target refused by its own check is refused by the dry run too.
    writeFileSync(join(dir, 'out.tar'), 'there\n');
    const taken = await vt(['backup', 'restore', ref, '-o', 'out.tar', '-r', 'repo', '--dry-run']);
    expect(taken.code).toBe(10);
    expect(taken.stderr).toContain('already exists');
    // The run it planned works.
    const run = await vt(['backup', 'restore', ref, '--to-dir', 'restored', '-r', 'repo']);
    expect(run.code, run.stderr).toBe(0);
    expect(readFileSync(join(dir, 'restored/.env'), 'utf8')).toBe('A=1\n');
  });

  it('backup verify --dry-run: which backups would be read, nothing read, trusted or recorded', async () => {
    const before = snapshot(dir);
    const r = await vt(['backup', 'verify', '--all', '-r', 'repo', '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ dryRun: true, read: [ref], stats: { backups: 1, read: 1, components: 1 } });
    expect(snapshot(dir)).toEqual(before);
  });
});
