import { mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { vaultToolCommand } from '../../src/cli/commands/backup/wal-options.js';
import type { Context } from '../../src/cli/context.js';

/** The command PostgreSQL runs as archive_command and restore_command: this very program, by absolute paths. */
const saved = process.argv[1];
let dir = '';
afterEach(() => {
  process.argv[1] = saved!;
  if (dir) rmSync(dir, { recursive: true, force: true });
});
const ctx = (env: Record<string, string> = {}) => ({ io: { env } }) as unknown as Context;

describe('vaultToolCommand', () => {
  it('is the program run, and through a link of another name (vt) the program it names, never a bare name PATH may not hold', () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'vt-command-')));
    const bin = join(dir, 'vault-tool.js');
    writeFileSync(bin, '');
    symlinkSync(bin, join(dir, 'vt'));
    process.argv[1] = bin;
    expect(vaultToolCommand(ctx())).toEqual([process.execPath, bin]);
    process.argv[1] = join(dir, 'vt');
    expect(vaultToolCommand(ctx())).toEqual([process.execPath, bin]);
    process.argv[1] = join(dir, 'other');
    expect(vaultToolCommand(ctx())).toEqual(['vault-tool']);
    expect(vaultToolCommand(ctx({ VAULT_TOOL_COMMAND: '/opt/vt/bin/vault-tool --x' }))).toEqual(['/opt/vt/bin/vault-tool', '--x']);
  });
});
