import { createPrivateKey, randomBytes, randomInt, X509Certificate } from 'node:crypto';
import { VaultError } from '../errors/errors.js';
import { X25519Identity } from '../age/x25519.js';

/**
 * Entry types. Each knows how to generate a value and the rule a value must
 * follow; values are stored as the exact bytes that get deployed.
 */
export interface EntryType {
  name: string;
  summary: string;
  /** Key material: deleting it needs --force, plain SHA-256 of it is safe to show. */
  key: boolean;
  /** Text values: one trailing newline of a value read from any source is dropped (valueFromSource). */
  text: boolean;
  generate?: () => Buffer;
  /** Returns the rule broken, or null. */
  check: (value: Buffer) => string | null;
}

const STD_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function base64Bytes(value: Buffer): Buffer | null {
  const s = value.toString('latin1');
  if (!STD_B64.test(s)) return null;
  const out = Buffer.from(s, 'base64');
  return out.toString('base64') === s ? out : null;
}

function base64Key(name: string, summary: string, min: number, exact: boolean): EntryType {
  const rule = exact
    ? `${name} must be exactly ${min} bytes encoded as standard base64 (${4 * Math.ceil(min / 3)} characters)`
    : `${name} must be at least ${min} bytes encoded as standard base64`;
  return {
    name,
    summary,
    key: true,
    text: true,
    generate: () => Buffer.from(randomBytes(min).toString('base64')),
    check: (v) => {
      const b = base64Bytes(v);
      if (!b || (exact ? b.length !== min : b.length < min)) return rule;
      return null;
    },
  };
}

/** RFC 4648 base32 without padding, as authenticator apps expect. */
function base32(b: Uint8Array): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let acc = 0;
  let out = '';
  for (const x of b) {
    acc = (acc << 8) | x;
    bits += 8;
    while (bits >= 5) {
      out += A[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits) out += A[(acc << (5 - bits)) & 31];
  return out;
}

const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

function isPrintableText(v: Buffer): boolean {
  const s = v.toString('utf8');
  return Buffer.from(s, 'utf8').equals(v) && !/[\u0000-\u001f\u007f]/.test(s);
}

function pemBlocks(s: string, label: RegExp): string[] {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
  return [...s.matchAll(re)].filter((m) => label.test(m[1]!)).map((m) => m[0]);
}

function checkTls(v: Buffer): string | null {
  const s = v.toString('utf8');
  const certs = pemBlocks(s, /^CERTIFICATE$/);
  const keys = pemBlocks(s, /PRIVATE KEY$/);
  if (!certs.length || keys.length !== 1) return 'tls must be PEM: one or more CERTIFICATE blocks (leaf first) and exactly one PRIVATE KEY block';
  try {
    const cert = new X509Certificate(certs[0]!);
    const key = createPrivateKey(keys[0]!);
    if (!cert.checkPrivateKey(key)) return 'tls private key does not match the certificate';
  } catch {
    return 'tls certificate or private key does not parse';
  }
  return null;
}

const ALL_TYPES: EntryType[] = [
  base64Key('master-key', 'platform master key, 32 random bytes, base64', 32, true),
  base64Key('kek', 'key-encryption key, 32 random bytes, base64', 32, true),
  base64Key('zone-kek', 'per-zone key-encryption key, 32 random bytes, base64', 32, true),
  base64Key('hmac-key', 'HMAC key, at least 32 bytes, base64', 32, false),
  base64Key('audit-hmac-key', 'audit-log HMAC key, at least 32 bytes, base64', 32, false),
  {
    name: 'jwt-hs256',
    summary: 'HS256 signing secret, at least 32 characters (generated: 32 random bytes, base64url)',
    key: true,
    text: true,
    generate: () => Buffer.from(randomBytes(32).toString('base64url')),
    check: (v) =>
      v.length >= 32 && /^[\x21-\x7e]+$/.test(v.toString('latin1')) ? null : 'jwt-hs256 must be at least 32 printable ASCII characters without spaces',
  },
  {
    name: 'infisical-encryption-key',
    summary: 'Infisical ENCRYPTION_KEY: 16 random bytes as 32 lowercase hex characters',
    key: true,
    text: true,
    generate: () => Buffer.from(randomBytes(16).toString('hex')),
    check: (v) => (/^[0-9a-f]{32}$/.test(v.toString('latin1')) ? null : 'infisical-encryption-key must be exactly 32 lowercase hex characters (16 bytes)'),
  },
  base64Key('infisical-auth-secret', 'Infisical AUTH_SECRET: 32 random bytes, base64', 32, true),
  {
    name: 'password',
    summary: 'password: printable text, at least 8 characters (generated: 32 characters)',
    key: false,
    text: true,
    generate: () => Buffer.from(Array.from({ length: 32 }, () => PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)]).join('')),
    check: (v) => {
      const chars = [...v.toString('utf8')].length;
      return chars >= 8 && chars <= 4096 && isPrintableText(v)
        ? null
        : 'password must be 8 to 4096 characters of printable UTF-8 text, without control characters or newlines';
    },
  },
  {
    name: 'tls',
    summary: 'TLS certificate chain and private key, PEM (cannot be generated)',
    key: true,
    text: true,
    check: checkTls,
  },
  {
    name: 'totp-secret',
    summary: 'TOTP secret (RFC 6238) for restore confirmations: base32, or an otpauth://totp/ URI (generated: 20 random bytes, base32)',
    key: true,
    text: true,
    generate: () => Buffer.from(base32(randomBytes(20))),
    check: (v) => {
      const s = v.toString('latin1');
      if (/^otpauth:\/\/totp\/[^\s]*[?&]secret=[A-Z2-7]{16,}/i.test(s)) return null;
      return /^[A-Z2-7]{16,}$/.test(s)
        ? null
        : 'totp-secret must be base32 (A-Z, 2-7, at least 16 characters, no padding) or an otpauth://totp/ URI with a secret';
    },
  },
  {
    name: 'age-identity',
    summary: 'an age X25519 identity (AGE-SECRET-KEY-1…), e.g. the key that opens the backups (generated: a new identity)',
    key: true,
    text: true,
    generate: () => Buffer.from(X25519Identity.generate().encoded),
    check: (v) => {
      try {
        X25519Identity.parse(v.toString('latin1'));
        return null;
      } catch {
        return 'age-identity must be one AGE-SECRET-KEY-1… line (upper case, valid checksum)';
      }
    },
  },
  {
    name: 'generic',
    summary: 'any bytes up to 1 MiB, multi-line allowed (generated: 32 random bytes, base64)',
    key: false,
    text: false,
    generate: () => Buffer.from(randomBytes(32).toString('base64')),
    check: () => null,
  },
];

export const ENTRY_TYPES: Record<string, EntryType> = Object.fromEntries(ALL_TYPES.map((t) => [t.name, t]));

export function entryType(name: string): EntryType {
  const t = Object.hasOwn(ENTRY_TYPES, name) ? ENTRY_TYPES[name] : undefined;
  if (!t) throw new VaultError('usage', `unknown entry type: ${name}`, `types: ${Object.keys(ENTRY_TYPES).join(', ')}`);
  return t;
}

/** Drops one trailing "\n" or "\r\n". */
export function stripNewline(b: Buffer): Buffer {
  if (b.subarray(-2).toString('latin1') === '\r\n') return b.subarray(0, -2);
  if (b.subarray(-1).toString('latin1') === '\n') return b.subarray(0, -1);
  return b;
}

/** The largest value any entry holds: what one Kubernetes Secret can hold. Checked before any type rule runs. */
export const MAX_VALUE_BYTES = 1 << 20;

/**
 * The one rule for a value read from outside the vault, whatever the
 * source (a file, stdin, a prompt, an environment variable, a dotenv file,
 * a Kubernetes Secret): a text type's value loses one trailing newline
 * (`\n` or `\r\n`), as `openssl rand -base64 32 > f`, `echo` and
 * `kubectl create secret --from-file` leave it; nothing else changes
 * (no other whitespace, no second newline), and a binary (`generic`) value
 * is taken byte for byte. Every path that stores a value (add, import env,
 * k8s import) or compares one with the vault (drift, canaries, fingerprint
 * --compare) applies it, so they agree on what "the same value" is.
 */
export function valueFromSource(type: EntryType, raw: Buffer): Buffer {
  return type.text ? stripNewline(raw) : raw;
}

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** A value from a source as the entry stores it: the one rule (valueFromSource), then the type's own. */
export function normalizeValue(type: EntryType, value: Buffer): Buffer {
  const v = valueFromSource(type, value);
  if (v.length === 0) throw new VaultError('invalid', `empty value for a ${type.name} entry`);
  if (v.length > MAX_VALUE_BYTES)
    throw new VaultError(
      'invalid',
      `value refused: ${v.length} bytes; values are limited to 1 MiB (${MAX_VALUE_BYTES} bytes, the most a Kubernetes Secret can hold)`,
    );
  const broken = type.check(v);
  // A text file saved by a Windows editor begins with a byte-order mark, which the value's own rule cannot name: said, never stripped.
  const bom = type.text && v.subarray(0, 3).equals(UTF8_BOM) ? ' (it begins with a UTF-8 byte-order mark, as some editors save text: save it without one)' : '';
  if (broken) throw new VaultError('invalid', `value refused: ${broken}${bom}`);
  // A password or other text its rule lets through: kept with the mark, it would be a value nobody types.
  if (bom)
    throw new VaultError(
      'invalid',
      `value refused: a ${type.name} value that begins with a UTF-8 byte-order mark, as some editors save text: save it without one`,
    );
  return Buffer.from(v);
}

export function generateValue(type: EntryType): Buffer {
  if (!type.generate) throw new VaultError('usage', `${type.name} entries cannot be generated`, { code: 'cannot-generate' });
  return type.generate();
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(?:\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$/;

export function checkEntryName(name: string): string {
  if (name.length > 253 || !NAME.test(name)) {
    throw new VaultError(
      'usage',
      `invalid entry name: ${JSON.stringify(name.slice(0, 80))}`,
      'names use the ASCII letters A-Z and a-z, digits, _ . - (no spaces; a segment starts with a letter, a digit or _) and / between segments, at most 253 characters',
    );
  }
  return name;
}

/** Splits NAME[@VERSION]. */
export function parseRef(ref: string): { name: string; version?: number } {
  const at = ref.lastIndexOf('@');
  if (at < 0) return { name: checkEntryName(ref) };
  const v = ref.slice(at + 1);
  if (!/^[1-9][0-9]{0,8}$/.test(v)) throw new VaultError('usage', `invalid version in ${JSON.stringify(ref)}`, { code: 'bad-version-ref' });
  return { name: checkEntryName(ref.slice(0, at)), version: Number(v) };
}
