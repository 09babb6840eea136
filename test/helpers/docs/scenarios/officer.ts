import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ageKey, base64Key, clusters, custodians, hex, secret } from '../lab.js';
import type { Scenario } from '../scenario.js';

/**
 * RUNBOOK sections 1 to 9, one security officer's vault from its creation
 * to its recovery: create, prove a copy, import, rotate, rekey, recipients,
 * the ceremony with five custodians at the terminal, the key lost and
 * rebuilt from three shares, the kit, the stock age. As a script (stdin
 * not a terminal): the ceremony's answers come from stdin, as documented;
 * test/integration/escrow-tty.test.ts types them at a terminal.
 */
export const officer: Scenario = {
  name: 'officer',
  async setup(stage) {
    const k = await clusters(stage, ['prod'], 'prod');
    const encryptionKey = hex(16);
    writeFileSync(join(stage.dir, 'ENCRYPTION_KEY.txt'), `${encryptionKey}\n`, { mode: 0o600 });
    writeFileSync(join(stage.dir, 'infisical.env'), `ENCRYPTION_KEY=${encryptionKey}\nAUTH_SECRET=${base64Key()}\nSITE_URL=https://infisical.example\n`, {
      mode: 0o600,
    });
    secret(k.prod!, 'infisical', 'infisical-bootstrap-secret', { ENCRYPTION_KEY: encryptionKey });
    const escrow = ageKey(join(stage.dir, 'escrow.key'));
    const bob = ageKey(join(stage.dir, 'bob.key'));
    const ceremony = join(stage.dir, 'media/ceremony');
    return {
      bind: {
        '/backup/secrets.vault': 'backup/secrets.vault',
        '/secure/vault.key': 'secure/vault.key',
        'age1…': (b) => (b.text.includes('escrow split') ? bob : escrow),
        '/media/ceremony': 'media/ceremony',
      },
      before: {
        'vault-tool list --vault-file /backup/secrets.vault': 'mkdir -p backup secure && cp secrets.vault backup/ && cp vault.key secure/',
        // The disaster: the key file is gone (kept aside to compare); three custodians come with their shares.
        'vault-tool escrow combine --out vault.key --manifest':
          'mv vault.key vault.key.lost && (cd media/ceremony && cp manifest.json share-01-alice-ciso.share share-03-carol.share share-05-erin-legal.share ../..)',
      },
      respond: custodians(() => ceremony, { bob: join(stage.dir, 'bob.key') }),
      after: {
        'vault-tool import env infisical.env': (s) => {
          expect(s.sh('vault-tool list --json | jq -r ".entries[].name" | sort').split('\n').filter(Boolean)).toEqual([
            'infisical/auth-secret',
            'infisical/encryption-key',
            'platform/kek',
          ]);
        },
        'vault-tool rotate platform/kek': (s) => {
          expect(s.sh('vault-tool history platform/kek --json | jq ".versions | length"').trim()).toBe('2');
        },
        'vault-tool escrow split': (s) => {
          const status = s.sh('vault-tool escrow status');
          expect(status).not.toContain('not confirmed');
          expect(s.sh('ls media/ceremony')).toContain('share-02-bob-cto.share.age');
        },
        'vault-tool escrow combine --out vault.key --manifest': (s) => {
          expect(s.sh('sha256sum < vault.key')).toBe(s.sh('sha256sum < vault.key.lost'));
        },
        'jq -r': (s) => {
          expect(readFileSync(join(stage.dir, 'kek.bin'))).toEqual(Buffer.from(s.sh('vault-tool get platform/kek'), 'utf8'));
          expect(s.sh('ls')).not.toContain('vault.json');
        },
      },
    };
  },
};
