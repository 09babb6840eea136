import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backupComponent, ensureBackupKey, files, listRepo, loadSigningKey, parseDestination } from '../../src/lib/backup.js';
import { VaultError } from '../../src/errors/errors.js';
import { initVault, readVault } from '../../src/vault/store.js';
import { hintFor } from '../../src/cli/report.js';
import { tempDir } from '../helpers/cli.js';

/**
 * A backup finishes while another process holds the vault's lock longer than
 * the backup waits: the backup is stored and checked, and the error says so
 * (never a failed backup that is in fact there), with its evidence record kept
 * in the state folder for the vault's next write.
 */
describe('a backup that cannot record itself because the vault stays locked', () => {
  const { dir, cleanup } = tempDir('vt-locked-');
  const holder = spawn('sleep', ['300'], { stdio: 'ignore' });
  afterAll(() => {
    holder.kill();
    cleanup();
  });

  it('is kept, said to be kept, and its record waits in the state folder', async () => {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    const paths = { vaultFile: join(dir, 'secrets.vault'), keyFile: join(dir, 'vault.key') };
    const stateFile = join(dir, 'state', 'seen.json');
    await initVault(paths);
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'notes.txt'), 'kept\n');
    const now = () => new Date();
    const repo = { dest: parseDestination(join(dir, 'repo'), dir, { env }) };
    const key = await ensureBackupKey(paths, { stateFile }, now());
    const signing = loadSigningKey(join(dir, 'signing.key'));
    const component = await files.dump({ base: join(dir, 'data'), paths: ['notes.txt'], name: 'notes' }, env);
    // Another live process holds the vault's lock (a command waiting at a prompt, say).
    writeFileSync(`${paths.vaultFile}.lock`, `${JSON.stringify({ pid: holder.pid, host: hostname(), since: new Date().toISOString() })}\n`, { mode: 0o600 });

    const e = await backupComponent(
      { repo, signing, recipient: { recipient: key.recipient, keyId: key.keyId }, env, now, vault: { paths, store: { stateFile, lockTimeoutMs: 300 } } },
      component,
    ).then(
      () => undefined,
      (err: unknown) => err,
    );

    expect(e).toBeInstanceOf(VaultError);
    const err = e as VaultError;
    expect(err.kind).toBe('locked');
    expect(err.code).toBe('backup-unrecorded');
    expect(err.message).toMatch(
      /^backup files\/notes\/\S+ is stored and checked, but not recorded in the vault \(vault is locked by .*\); its evidence record waits in the state folder/,
    );
    expect(hintFor(err)).toMatch(/vault-tool backup verify files\/notes/);
    // The backup is there, with its manifest.
    const listed = await listRepo(repo);
    expect(listed.map((l) => l.component)).toEqual(['files/notes']);
    // The vault holds no record of it yet; the state folder does.
    const deferred = readdirSync(join(dir, 'state'), { recursive: true, withFileTypes: true }).filter(
      (f) => f.isFile() && join(f.parentPath, f.name).includes('deferred'),
    );
    const kept = deferred.map((f) => readFileSync(join(f.parentPath, f.name), 'utf8'));
    expect(kept.join('')).toContain('"event":"backup"');
    expect(kept.join('')).toContain(listed[0]!.file);
    expect(JSON.stringify((await readVault(paths, { stateFile })).doc.backup?.keysInUse ?? {})).not.toContain('repo');
  });
});
