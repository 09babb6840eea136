import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

/**
 * Node 20 locks a key made by generateKeyPairSync while it exports the key
 * (JWK, PEM), and a garbage collection during that export, freeing the
 * generation job, locks it again from the same thread: the process hangs
 * for good, in the middle of an encryption (archive_command never returns,
 * a backup never ends). One encryption makes one ephemeral key, so this
 * showed about once in some thousands of encryptions. Each of these runs
 * in a process of its own, as the built CLI runs them, and must end.
 */
const run = (script: string) =>
  spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL' });

describe('keys are never made where Node can deadlock on them', () => {
  it('no source file calls generateKeyPair or generateKeyPairSync', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
      );
    expect(files(join(ROOT, 'src')).filter((f) => /\bgenerateKeyPair(Sync)?\s*\(/.test(readFileSync(f, 'utf8')))).toEqual([]);
  });

  it('20,000 encryptions to a recipient in one process end (each makes an ephemeral X25519 key)', () => {
    const r = run(`
      import { encrypt, decrypt, X25519Identity } from './dist/lib/age.js';
      const { identity } = X25519Identity.generate();
      let last;
      for (let i = 0; i < 20000; i++) last = encrypt(Buffer.from('x' + i), { recipients: [identity.recipient] });
      // Still age: the last one opens with the identity.
      console.log(decrypt(last, { identities: [identity] }).plaintext.toString());
    `);
    expect(r.signal, `the process hung (killed after ${120} s): ${r.stderr}`).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('x19999');
  }, 150_000);

  it('signing keys, made from 32 random bytes, are Ed25519 keys that sign and verify (200 in one process, each exported as PEM)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vt-keygen-'));
    try {
      const r = run(`
        import { createPublicKey, sign, verify } from 'node:crypto';
        import { loadSigningKey } from './dist/lib/backup.js';
        const spki = (raw) => createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(raw, 'base64')]), format: 'der', type: 'spki' });
        let ok = 0;
        for (let i = 0; i < 200; i++) {
          const k = loadSigningKey(${JSON.stringify(dir)} + '/k' + i);
          if (verify(null, Buffer.from('m'), spki(k.publicKey), sign(null, Buffer.from('m'), k.privateKey))) ok++;
        }
        console.log(ok);
      `);
      expect(r.signal, `the process hung: ${r.stderr}`).toBeNull();
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe('200');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
