import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENTRY_TYPES, entryType, generateValue, normalizeValue, parseRef, checkEntryName } from '../../src/vault/types.js';
import { VaultError } from '../../src/errors/errors.js';

const refused = (type: string, value: string | Buffer): string => {
  try {
    normalizeValue(entryType(type), Buffer.from(value));
  } catch (e) {
    expect(e).toBeInstanceOf(VaultError);
    return (e as Error).message;
  }
  throw new Error(`${type} accepted ${String(value).slice(0, 20)}`);
};

describe('entry types', () => {
  it('every generated value passes its own rule and differs each time', () => {
    for (const t of Object.values(ENTRY_TYPES)) {
      if (!t.generate) continue;
      const a = generateValue(t);
      const b = generateValue(t);
      expect(t.check(a), t.name).toBeNull();
      expect(a.equals(b)).toBe(false);
    }
  });

  it('generates the documented shapes', () => {
    expect(generateValue(entryType('infisical-encryption-key')).toString()).toMatch(/^[0-9a-f]{32}$/);
    expect(Buffer.from(generateValue(entryType('infisical-auth-secret')).toString(), 'base64')).toHaveLength(32);
    expect(Buffer.from(generateValue(entryType('master-key')).toString(), 'base64')).toHaveLength(32);
    expect(generateValue(entryType('jwt-hs256')).toString()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateValue(entryType('password')).toString()).toMatch(/^[A-Za-z0-9]{32}$/);
  });

  it('refuses malformed values with the rule they broke', () => {
    expect(refused('infisical-encryption-key', '0123456789ABCDEF0123456789ABCDEF')).toBe(
      'value refused: infisical-encryption-key must be exactly 32 lowercase hex characters (16 bytes)',
    );
    expect(refused('infisical-encryption-key', '0123456789abcdef')).toContain('exactly 32 lowercase hex');
    expect(refused('kek', Buffer.alloc(16).toString('base64'))).toBe('value refused: kek must be exactly 32 bytes encoded as standard base64 (44 characters)');
    expect(refused('master-key', Buffer.alloc(32).toString('base64url'))).toContain('standard base64');
    expect(refused('hmac-key', Buffer.alloc(31).toString('base64'))).toBe('value refused: hmac-key must be at least 32 bytes encoded as standard base64');
    expect(refused('jwt-hs256', 'short')).toContain('at least 32 printable ASCII');
    expect(refused('password', 'short')).toContain('8 to 4096 characters');
    expect(refused('password', 'has\nnewline-inside')).toContain('without control characters');
    expect(refused('tls', 'not pem')).toContain('tls must be PEM');
    expect(refused('generic', Buffer.alloc((1 << 20) + 1))).toContain('1 MiB');
    expect(refused('generic', '')).toBe('empty value for a generic entry');
  });

  it('drops one trailing newline from text types read from any source, never from generic', () => {
    const k = Buffer.alloc(32, 3).toString('base64');
    expect(normalizeValue(entryType('kek'), Buffer.from(k + '\n')).toString()).toBe(k);
    expect(normalizeValue(entryType('kek'), Buffer.from(k + '\r\n')).toString()).toBe(k);
    expect(refused('kek', k + '\n\n')).toContain('kek must be');
    expect(normalizeValue(entryType('generic'), Buffer.from('x\n')).toString()).toBe('x\n');
  });

  it('validates TLS certificate and key together', () => {
    const d = mkdtempSync(join(tmpdir(), 'vt-tls-'));
    try {
      const mk = (n: string) =>
        execFileSync(
          'openssl',
          [
            'req',
            '-x509',
            '-newkey',
            'ec',
            '-pkeyopt',
            'ec_paramgen_curve:P-256',
            '-nodes',
            '-keyout',
            join(d, `${n}.key`),
            '-out',
            join(d, `${n}.crt`),
            '-days',
            '1',
            '-subj',
            `/CN=${n}`,
          ],
          { stdio: 'ignore' },
        );
      mk('a');
      mk('b');
      const read = (f: string) => readFileSync(join(d, f), 'utf8');
      expect(normalizeValue(entryType('tls'), Buffer.from(read('a.crt') + read('a.key'))).length).toBeGreaterThan(100);
      expect(refused('tls', read('a.crt') + read('b.key'))).toBe('value refused: tls private key does not match the certificate');
      expect(refused('tls', read('a.crt'))).toContain('exactly one PRIVATE KEY');
    } finally {
      rmSync(d, { recursive: true });
    }
  });

  it('parses names and NAME@VERSION references strictly', () => {
    expect(parseRef('infisical/encryption-key@3')).toEqual({ name: 'infisical/encryption-key', version: 3 });
    expect(parseRef('ENCRYPTION_KEY')).toEqual({ name: 'ENCRYPTION_KEY' });
    for (const bad of ['', 'a b', '/abs', 'a//b', 'a/', '-x', 'x@0', 'x@01', 'x@-1', 'x@y', 'a\nb']) {
      expect(() => parseRef(bad), bad).toThrow(VaultError);
    }
    expect(() => checkEntryName('x'.repeat(254))).toThrow(/invalid entry name/);
  });
});
