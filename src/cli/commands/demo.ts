import type { Command } from 'commander';
import { VaultError } from '../../vault/errors.js';
import type { Context } from '../context.js';
import type { Io } from '../io.js';

/**
 * A self-contained tour in a temporary folder: init, generated keys of
 * several types, list, rotate and history, a backup copy that proves it
 * opens, a tampered copy and a wrong key that are refused, and the stock
 * `age` tool opening the vault without vault-tool.
 */
export default function demo(cmd: Command, ctx: Context): void {
  cmd
    .option('--keep', 'keep the temporary folder afterwards')
    .action(async (opts: { keep?: boolean }) => {
      const { spawnSync } = await import('node:child_process');
      const { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const { Readable } = await import('node:stream');
      const dir = mkdtempSync(join(tmpdir(), 'vault-tool-demo-'));
      const say = (s: string) => ctx.out(s);
      const sub = (args: string[], env: Record<string, string> = {}): Promise<number> => {
        say(`\n$ vault-tool ${args.join(' ')}`);
        const io: Io = {
          ...ctx.io,
          cwd: dir,
          env: { ...ctx.io.env, VAULT_TOOL_STATE_DIR: join(dir, '.state'), VAULT_TOOL_VAULT_FILE: undefined, VAULT_TOOL_KEY_FILE: undefined, ...env },
          stdin: Readable.from([]),
          stdinIsTTY: false,
        };
        return ctx.run(args, io);
      };
      const expectCode = async (want: number, args: string[], env?: Record<string, string>) => {
        const got = await sub(args, env);
        say(`(exit code ${got})`);
        if (got !== want) throw new VaultError('internal', `demo step \`${args.join(' ')}\` exited ${got}, expected ${want}`);
      };
      try {
        say(`demo folder: ${dir}`);
        await expectCode(0, ['init']);
        const adds: [string, string][] = [
          ['platform/master-key', 'master-key'],
          ['platform/kek', 'kek'],
          ['zones/eu-west/kek', 'zone-kek'],
          ['audit/hmac-key', 'audit-hmac-key'],
          ['infisical/encryption-key', 'infisical-encryption-key'],
          ['infisical/auth-secret', 'infisical-auth-secret'],
          ['api/jwt-signing', 'jwt-hs256'],
          ['postgres/admin-password', 'password'],
        ];
        for (const [name, type] of adds) await expectCode(0, ['add', name, '--type', type, '--generate', '-d', `demo ${type}`]);
        await expectCode(0, ['add', 'app/smtp-password', '--type', 'password', '--from-env', 'DEMO_SMTP_PASSWORD'], { DEMO_SMTP_PASSWORD: 'correct-horse-battery' });
        await expectCode(0, ['rotate', 'platform/kek']);
        await expectCode(0, ['history', 'platform/kek']);
        await expectCode(0, ['list']);
        mkdirSync(join(dir, 'backup'));
        copyFileSync(join(dir, 'secrets.vault'), join(dir, 'backup', 'secrets.vault'));
        copyFileSync(join(dir, 'vault.key'), join(dir, 'backup', 'vault.key'));
        say('\n# an operator proves a backup copy opens:');
        await expectCode(0, ['list', '--vault-file', 'backup/secrets.vault', '--key-file', 'backup/vault.key']);
        const tampered = readFileSync(join(dir, 'secrets.vault'));
        tampered[tampered.length - 40]! ^= 0x01;
        writeFileSync(join(dir, 'backup', 'tampered.vault'), tampered, { mode: 0o600 });
        say('\n# one flipped bit in a copy is refused, with its own exit code:');
        await expectCode(4, ['list', '--vault-file', 'backup/tampered.vault']);
        await expectCode(0, ['init', '--vault-file', 'other.vault', '--key-file', 'other.key']);
        say('\n# the wrong key file is named before any decryption is tried:');
        await expectCode(3, ['list', '--key-file', 'other.key']);
        say('\n# without vault-tool, the stock age tool still opens the vault:');
        say('$ age -d -i vault.key secrets.vault');
        const age = spawnSync('age', ['-d', '-i', join(dir, 'vault.key'), join(dir, 'secrets.vault')], { encoding: 'utf8' });
        if (age.error) {
          ctx.warn('the `age` command is not installed (Debian: apt-get install age); skipping this step');
        } else if (age.status !== 0) {
          throw new VaultError('internal', `age failed: ${age.stderr.trim()}`);
        } else {
          const doc = JSON.parse(age.stdout) as { entries: { name: string; type: string; versions: unknown[] }[] };
          say(`age decrypted a JSON document with ${doc.entries.length} entries (values not shown here):`);
          for (const e of doc.entries) say(`  ${e.name} (${e.type}, ${e.versions.length} version${e.versions.length > 1 ? 's' : ''})`);
        }
        say(`\ndemo complete.${opts.keep ? ` files kept in ${dir}` : ''}`);
      } finally {
        if (!opts.keep) rmSync(dir, { recursive: true, force: true });
      }
    });
}
