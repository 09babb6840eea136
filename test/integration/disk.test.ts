import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statfsSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';
import { mountTmpfs, skipUnless } from '../helpers/require.js';

let dir: string;
let cleanup: () => void;
let mnt: string;
let mounted = false;
let why = '';
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  mnt = join(dir, 'small-disk');
  mkdirSync(mnt);
  ({ mounted, why } = mountTmpfs(mnt, 'size=256k,mode=0700'));
});
afterEach(() => {
  if (mounted) spawnSync('umount', [mnt]);
  cleanup();
});

/** Fills the small disk to the last block. */
function fill(): void {
  const st = statfsSync(mnt);
  writeFileSync(join(mnt, 'filler'), Buffer.alloc(st.bavail * st.bsize));
  for (let i = 0; i < 64; i++) {
    try {
      writeFileSync(join(mnt, `f${i}`), Buffer.alloc(512));
    } catch {
      break;
    }
  }
}

describe('a full disk', () => {
  it('while taking the lock: a classified error, and no lock temp file left', async (ctx) => {
    skipUnless(ctx, mounted, why);
    expect((await cli(mnt, ['init'])).code).toBe(0);
    fill();
    const r = await cli(mnt, ['add', 'k', '-t', 'kek', '--generate']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`vault-tool: error: cannot create lock ${join(mnt, 'secrets.vault.lock')}: no space left on the device\n`);
    expect(readdirSync(mnt).filter((f) => f.includes('.lock'))).toEqual([]);
  });

  it('when the evidence append fails: the warning says the log must be repaired, and repair does it', async (ctx) => {
    skipUnless(ctx, mounted, why);
    expect((await cli(dir, ['init'])).code).toBe(0);
    // Eight records of 511 bytes end the log 8 bytes short of a page: the next append needs a new one.
    for (let i = 1; i <= 8; i++) expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', `s${i}`])).code).toBe(0);
    expect(statSync(join(dir, 'secrets.vault.evidence.jsonl')).size).toBe(4088);
    // The log lives on the small disk (a link to it), the vault does not.
    copyFileSync(join(dir, 'secrets.vault.evidence.jsonl'), join(mnt, 'log'));
    rmSync(join(dir, 'secrets.vault.evidence.jsonl'));
    symlinkSync(join(mnt, 'log'), join(dir, 'secrets.vault.evidence.jsonl'));
    fill();
    const r = await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's9']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      `vault-tool: warning: cannot append to the evidence log ${join(dir, 'secrets.vault.evidence.jsonl')}: no space left on the device; the evidence records are kept in the vault: repair the log (evidence repair) once the cause is fixed, the next change that records evidence is refused until then\n`,
    );
    const next = await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's10']);
    expect(next.code).toBe(4);
    expect(next.stderr).toContain('run `vault-tool evidence repair` to write it back');
    for (const f of readdirSync(mnt).filter((f) => f !== 'log')) rmSync(join(mnt, f));
    expect((await cli(dir, ['evidence', 'repair'])).stdout).toBe('wrote back record 9; the repair is recorded in the log\n');
    expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'a', '-c', 'b', '-o', 's10'])).code).toBe(0);
  });
});

describe('the state folder', () => {
  it('temp files killed runs left there are swept', async () => {
    expect((await cli(dir, ['init'])).code).toBe(0);
    const state = join(dir, '.state');
    const dead = 2 ** 22 + 4321;
    const left = [`.seen.json.${dead}.0123abcd.tmp`, `seen.json.lock.${dead}.0123abcd.tmp`, `seen.json.lock.${dead}.0123abcd.stale`];
    for (const f of left) writeFileSync(join(state, f), '{}', { mode: 0o600 });
    expect((await cli(dir, ['add', 'k', '-t', 'kek', '--generate'])).code).toBe(0);
    expect(readdirSync(state).filter((f) => f.includes(String(dead)))).toEqual([]);
  });
});
