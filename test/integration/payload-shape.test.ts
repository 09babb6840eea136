import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers/cli.js';
import { readVault, writeVault } from '../../src/vault/store.js';
import type { VaultDocument } from '../../src/vault/document.js';

let dir: string;
let cleanup: () => void;
let good: VaultDocument;
beforeAll(async () => {
  ({ dir, cleanup } = tempDir());
  expect((await cli(dir, ['init'])).code).toBe(0);
  expect((await cli(dir, ['add', 'a', '-t', 'kek', '--generate'])).code).toBe(0);
  expect((await cli(dir, ['escrow', 'split', '-k', '2', '-c', 'x', '-c', 'y', '-o', 's'])).code).toBe(0);
  good = (await readVault({ vaultFile: join(dir, 'secrets.vault'), keyFile: join(dir, 'vault.key') })).doc;
});
afterAll(() => cleanup());

/** A payload that decrypts (sealed to the vault key) but is malformed in one field. */
const cases: [string, (d: Record<string, any>) => void, string][] = [
  ['lineage is a string', (d) => (d.lineage = 'x'), 'payload.lineage must be an array'],
  ['an entry is null', (d) => (d.entries = [null]), 'payload.entries[0] must be an object'],
  ['an entry without versions', (d) => (d.entries[0].versions = []), 'payload.entries[0].versions must be an array of at least 1 item'],
  ['a version number that is text', (d) => (d.entries[0].versions[0].version = '1'), 'payload.entries[0].versions[0].version must be a whole number ≥ 1'],
  ['labels holding a number', (d) => (d.entries[0].labels = { team: 5 }), 'payload.entries[0].labels.team must be a string'],
  ['evidence.tail is a number', (d) => (d.evidence.tail = 5), 'payload.evidence.tail must be an array'],
  ['evidence.hash is not hex', (d) => (d.evidence.hash = 'zz'), 'payload.evidence.hash must be 64 lowercase hex digits'],
  ['escrow.current is empty', (d) => (d.escrow.current = {}), 'payload.escrow.current.setId must be 16 lowercase hex digits'],
  ['escrow.history is missing', (d) => delete d.escrow.history, 'payload.escrow.history must be an array'],
  [
    'a retired key that is not age1',
    (d) => (d.retiredKeys = [{ recipient: 'x', keyId: '0123456789abcdef', retiredAt: 't' }]),
    'payload.retiredKeys[0].recipient must be an age1… recipient',
  ],
  ['createdAt a number', (d) => (d.createdAt = 5), 'payload.createdAt must be a string'],
  ['verify is a list', (d) => (d.verify = []), 'payload.verify must be an object'],
];

describe('a payload that decrypts but is malformed is an integrity error naming the field', () => {
  for (const [name, edit, msg] of cases) {
    it(name, async () => {
      const doc = structuredClone(good) as unknown as Record<string, any>;
      edit(doc);
      const file = `bad-${cases.findIndex((c) => c[0] === name)}.vault`;
      writeVault({ vaultFile: join(dir, file), keyFile: join(dir, 'vault.key') }, doc as unknown as VaultDocument);
      const r = await cli(dir, ['list', '--vault-file', file], { env: { VAULT_TOOL_STATE_DIR: join(dir, `state-${file}`) } });
      expect(r.stderr).toBe(`vault-tool: error: vault document is malformed: ${msg}\n`);
      expect(r.code).toBe(4);
    });
  }

  it('the real document passes', async () => {
    expect((await cli(dir, ['list'])).code).toBe(0);
  });
});
