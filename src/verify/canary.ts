import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { VaultError } from '../errors/errors.js';
import type { CanaryRecord, VaultDocument } from '../vault/document.js';
import { requireEntry } from '../vault/entries.js';
import { entryType, valueFromSource } from '../vault/types.js';

/**
 * A canary: a small test message encrypted with a key *as production holds
 * it*, which the quarterly verification decrypts with the escrowed key. A
 * canary that decrypts proves the escrow is the key production uses,
 * without comparing hashes. The construction (docs/FORMAT.md, "Canaries"):
 *
 *   key        = HKDF-SHA-256(ikm = the value's bytes as deployed, salt = canary id (16 bytes), info = "vault-tool canary v1", 32 bytes)
 *   ciphertext = AES-256-GCM(key, nonce = 12 random bytes, aad = "vault-tool canary v1 " + id hex + " " + entry name,
 *                            plaintext = "vault-tool canary " + id hex) || 16-byte tag
 */
/** A canary as the vault keeps it (vault/document-shape.ts). */
export type Canary = CanaryRecord;

const INFO = 'vault-tool canary v1';
const aad = (id: string, entry: string) => Buffer.from(`${INFO} ${id} ${entry}`);
const plaintext = (id: string) => Buffer.from(`vault-tool canary ${id}`);
const keyOf = (value: Uint8Array, id: string) => Buffer.from(hkdfSync('sha256', value, Buffer.from(id, 'hex'), INFO, 32));

export function makeCanary(value: Uint8Array, entry: string, source: string, now: Date): Canary {
  const id = randomBytes(16).toString('hex');
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keyOf(value, id), nonce);
  c.setAAD(aad(id, entry));
  const ct = Buffer.concat([c.update(plaintext(id)), c.final(), c.getAuthTag()]);
  return { id, entry, source, createdAt: now.toISOString(), nonce: nonce.toString('base64'), ciphertext: ct.toString('base64') };
}

/**
 * A canary for `entry` from the value production holds, read from a source:
 * the value goes through the one rule for values from a source
 * (valueFromSource: a text type's trailing newline is not part of the key),
 * as the entry stores it and as drift compares it, so a file ending in a
 * newline makes the canary the escrowed key opens.
 */
export function canaryFromSource(doc: VaultDocument, entry: string, raw: Uint8Array, source: string, now: Date): Canary {
  const e = requireEntry(doc, entry);
  const value = valueFromSource(entryType(e.type), Buffer.from(raw));
  try {
    return makeCanary(value, entry, source, now);
  } finally {
    value.fill(0);
  }
}

/** Whether `value` opens the canary (the tag verifies and the message is the expected one). */
export function opensCanary(c: Canary, value: Uint8Array): boolean {
  const ct = Buffer.from(c.ciphertext, 'base64');
  if (ct.length < 17) return false;
  try {
    const d = createDecipheriv('aes-256-gcm', keyOf(value, c.id), Buffer.from(c.nonce, 'base64'));
    d.setAAD(aad(c.id, c.entry));
    d.setAuthTag(ct.subarray(ct.length - 16));
    const pt = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
    return pt.equals(plaintext(c.id));
  } catch {
    return false;
  }
}

export interface CanaryFinding {
  id: string;
  entry: string;
  source: string;
  createdAt: string;
  status: 'opens' | 'older-version' | 'fails';
  version?: number;
  current?: number;
  message: string;
}

/** Opens each canary with the escrowed versions of its entry, newest first. */
export function checkCanaries(doc: VaultDocument, canaries: Canary[]): CanaryFinding[] {
  return canaries.map((c) => {
    const base = { id: c.id, entry: c.entry, source: c.source, createdAt: c.createdAt };
    let entry;
    try {
      entry = requireEntry(doc, c.entry, { includeDeleted: true });
    } catch (e) {
      return { ...base, status: 'fails' as const, message: (e as VaultError).message };
    }
    const current = entry.versions[entry.versions.length - 1]!.version;
    const v = [...entry.versions].reverse().find((x) => opensCanary(c, Buffer.from(x.value, 'base64')));
    if (!v)
      return {
        ...base,
        status: 'fails' as const,
        current,
        message: `no escrowed version of ${c.entry} decrypts canary ${c.id.slice(0, 8)} (made from ${c.source}): production's key is not in the vault`,
      };
    if (v.version !== current)
      return {
        ...base,
        status: 'older-version' as const,
        version: v.version,
        current,
        message: `canary ${c.id.slice(0, 8)} opens with ${c.entry}@${v.version}, not the current version ${current}: production used an older key when it was made; make a new canary`,
      };
    return { ...base, status: 'opens' as const, version: v.version, current, message: `canary ${c.id.slice(0, 8)} opens with ${c.entry}@${v.version}` };
  });
}
