import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decrypt } from '../../src/age/index.js';
import { putEntry } from '../../src/vault/entries.js';
import { verifyEvidence } from '../../src/vault/evidence.js';
import { changed, readVault, updateVault } from '../../src/vault/store.js';
import { ROOT, tempDir } from '../helpers/cli.js';
import { X25519Identity } from '../../src/age/x25519.js';
import { editSection, newDocument, readSection, serializeDocument, type VaultDocument } from '../../src/vault/document.js';
import { checkDocumentShape } from '../../src/vault/document-shape.js';
import { keyIdOf } from '../../src/vault/keyfile.js';
import { escrowOf } from '../../src/escrow/escrow.js';
import { editBackupState, peekBackupState } from '../../src/backup/keys.js';
import { checkEscrow } from '../../src/verify/escrow.js';
import { editVerifyState, peekVerifyState } from '../../src/verify/state.js';
import { vaultStatus } from '../../src/verify/status.js';
import { checkEntries } from '../../src/verify/verify.js';
import { parseInterval } from '../../src/verify/schedule.js';

/**
 * The vault document's sections (escrow, verify, backup, holds) are declared
 * with the document (vault/document-shape.ts) and reached through
 * vault/document.ts: reading a section never writes to the document; only
 * editing one, inside an update, creates it.
 */
const NOW = new Date('2026-11-22T12:00:00Z');
const FIXTURE = join(ROOT, 'test/testdata/vault-v1');

function bare(): VaultDocument {
  const { recipient } = X25519Identity.generate().identity;
  return newDocument({ recipient, keyId: keyIdOf(recipient) }, NOW);
}

describe('reading a section never writes to the document', () => {
  it('a document without sections reads as empty ones, and stays as it was, byte for byte', () => {
    const doc = bare();
    const before = JSON.stringify(doc);
    expect(readSection(doc, 'escrow')).toEqual({ epoch: 0, history: [] });
    expect(readSection(doc, 'verify')).toEqual({ copies: [], canaries: [], production: {} });
    expect(readSection(doc, 'backup')).toEqual({ signers: [], keysInUse: {} });
    expect(readSection(doc, 'holds')).toEqual({});
    expect(JSON.stringify(doc)).toBe(before);
  });

  it('every reader of a section leaves the document as it was: escrow, verification, backups, status', () => {
    const doc = bare();
    const before = JSON.stringify(doc);
    expect(escrowOf(doc)).toEqual({ epoch: 0, history: [] });
    expect(checkEscrow(doc)).toBeNull();
    expect(peekVerifyState(doc).copies).toEqual([]);
    expect(peekBackupState(doc).signers).toEqual([]);
    vaultStatus(doc, parseInterval('90d'), NOW);
    checkEntries(doc);
    expect(JSON.stringify(doc)).toBe(before);
  });

  it('a section read and then changed by its reader is not the document’s: the document keeps what it had', () => {
    const doc = bare();
    (readSection(doc, 'holds') as Record<string, string[]>)['backup/identity'] = ['a reader wrote this'];
    expect(doc.holds).toBeUndefined();
  });
});

describe('editing a section, inside an update', () => {
  it('creates it, in the order FORMAT.md shows its fields', () => {
    const doc = bare();
    editVerifyState(doc).canaries.push({ id: 'c', entry: 'e', source: 's', createdAt: NOW.toISOString(), nonce: '', ciphertext: '' });
    editBackupState(doc);
    editSection(doc, 'escrow');
    editSection(doc, 'holds');
    expect(JSON.stringify(doc.verify)).toBe(
      `{"copies":[],"canaries":[{"id":"c","entry":"e","source":"s","createdAt":"${NOW.toISOString()}","nonce":"","ciphertext":""}],"production":{}}`,
    );
    expect(JSON.stringify(doc.backup)).toBe('{"signers":[],"keysInUse":{}}');
    expect(JSON.stringify(doc.escrow)).toBe('{"epoch":0,"history":[]}');
    expect(doc.holds).toEqual({});
    checkDocumentShape(doc);
  });

  it('fills what an older vault’s section lacks, keeping what it has', () => {
    const doc = bare();
    doc.verify = { lastDrill: { at: NOW.toISOString(), ok: true, reportSha256: 'x' } };
    const st = editVerifyState(doc);
    expect(st).toBe(doc.verify);
    expect(doc.verify).toEqual({ lastDrill: { at: NOW.toISOString(), ok: true, reportSha256: 'x' }, copies: [], canaries: [], production: {} });
    // Reading the same older section fills nothing in the document.
    const old = bare();
    old.verify = { lastDrill: { at: NOW.toISOString(), ok: true, reportSha256: 'x' } };
    expect(peekVerifyState(old).copies).toEqual([]);
    expect(old.verify).toEqual({ lastDrill: { at: NOW.toISOString(), ok: true, reportSha256: 'x' } });
  });
});

describe('a vault of format 1 with every section (test/testdata/vault-v1) opens, reads and changes', () => {
  const copy = () => {
    const { dir, cleanup } = tempDir('vt-v1-');
    for (const f of ['secrets.vault', 'secrets.vault.evidence.jsonl', 'vault.key']) copyFileSync(join(FIXTURE, f), join(dir, f));
    chmodSync(join(dir, 'vault.key'), 0o600);
    return { paths: { vaultFile: join(dir, 'secrets.vault'), keyFile: join(dir, 'vault.key') }, dir, cleanup };
  };

  it('every section reads as written, and the document serializes to the bytes it was read from', async () => {
    const { paths, cleanup } = copy();
    try {
      const { doc, key } = await readVault(paths);
      const payload = decrypt(readFileSync(paths.vaultFile), { identities: [key.identity] }).plaintext;
      expect(serializeDocument(doc).equals(payload)).toBe(true);
      expect(escrowOf(doc)).toMatchObject({ epoch: 2, history: [{ epoch: 1, threshold: 2, count: 3 }], current: { epoch: 2, count: 2 } });
      expect(peekVerifyState(doc)).toMatchObject({ copies: [{ kind: 'vault' }, { kind: 'key' }], canaries: [{ entry: 'platform/kek' }], last: { ok: true } });
      expect(peekBackupState(doc).signers).toHaveLength(1);
      expect(Object.keys(peekBackupState(doc).keysInUse)).toHaveLength(1);
      expect(readSection(doc, 'holds')['backup/identity']).toHaveLength(1);
      expect(doc.retiredKeys).toHaveLength(1);
      expect(verifyEvidence(paths.vaultFile, doc).records.length).toBeGreaterThan(10);
      expect(serializeDocument(doc).equals(payload)).toBe(true);
    } finally {
      cleanup();
    }
  });

  it('an update keeps every section, and the next read opens it', async () => {
    const { paths, cleanup } = copy();
    try {
      const before = (await readVault(paths)).doc;
      await updateVault(paths, {}, (doc) => {
        putEntry(doc, { name: 'app/new', type: 'password', description: '', update: false, now: NOW });
        return changed(undefined);
      });
      const after = (await readVault(paths)).doc;
      for (const k of ['escrow', 'verify', 'backup', 'holds', 'retiredKeys', 'recipients'] as const) expect(after[k]).toEqual(before[k]);
      expect(after.entries.map((e) => e.name)).toEqual([...before.entries.map((e) => e.name), 'app/new']);
    } finally {
      cleanup();
    }
  });
});
