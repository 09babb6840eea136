import { VaultError } from '../errors/errors.js';
import { isRecord } from './shape.js';

/**
 * The shape of a decrypted vault document, field by field (docs/FORMAT.md,
 * "Payload"). The header MAC proves who wrote a payload, not that it is
 * well-formed: a document re-sealed by hand, or by a faulty writer, is
 * refused here with the path of the first bad field, rather than failing
 * later as an unexpected error.
 */
/**
 * `path` is null on the first, fast pass (no path strings are built for the
 * thousands of fields of a large vault); only when that pass fails does a
 * second pass build them, to name the first bad field.
 */
type Check = (v: unknown, path: string | null) => void;
const at = (p: string | null, k: string | number): string | null => (p === null ? null : typeof k === 'number' ? `${p}[${k}]` : `${p}.${k}`);

const bad = (path: string | null, want: string): VaultError => new VaultError('integrity', `vault document is malformed: ${path ?? 'a field'} must be ${want}`);

const str: Check = (v, p) => {
  if (typeof v !== 'string') throw bad(p, 'a string');
};
const nonEmpty: Check = (v, p) => {
  if (typeof v !== 'string' || v === '') throw bad(p, 'a non-empty string');
};
const pattern =
  (re: RegExp, want: string): Check =>
  (v, p) => {
    if (typeof v !== 'string' || !re.test(v)) throw bad(p, want);
  };
const int =
  (min: number): Check =>
  (v, p) => {
    if (!Number.isSafeInteger(v) || (v as number) < min) throw bad(p, `a whole number ≥ ${min}`);
  };
const bool: Check = (v, p) => {
  if (typeof v !== 'boolean') throw bad(p, 'true or false');
};
const hex = (n: number) => pattern(new RegExp(`^[0-9a-f]{${n}}$`), `${n} lowercase hex digits`);
const base64 = pattern(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const recipient = pattern(/^age1[02-9ac-hj-np-z]+$/, 'an age1… recipient');
const anyObject: Check = (v, p) => {
  if (!isRecord(v)) throw bad(p, 'an object');
};

function object(fields: Record<string, Check>, optional: Record<string, Check> = {}): Check {
  // Listed once, not per object: a vault has thousands of them.
  const need = Object.entries(fields);
  const may = Object.entries(optional);
  return (v, p) => {
    if (!isRecord(v)) throw bad(p, 'an object');
    for (const [k, c] of need) c(v[k], at(p, k));
    for (const [k, c] of may) if (v[k] !== undefined) c(v[k], at(p, k));
  };
}

function array(item: Check, min = 0): Check {
  return (v, p) => {
    if (!Array.isArray(v)) throw bad(p, 'an array');
    if (v.length < min) throw bad(p, `an array of at least ${min} item${min === 1 ? '' : 's'}`);
    for (let i = 0; i < v.length; i++) item(v[i], at(p, i));
  };
}

const stringMap: Check = (v, p) => {
  if (!isRecord(v)) throw bad(p, 'an object');
  for (const k in v) str(v[k], at(p, k));
};

const version = object({ version: int(1), createdAt: str, value: base64, source: str, fingerprint: str });
const entry = object(
  { name: nonEmpty, type: nonEmpty, description: str, labels: stringMap, meta: anyObject, createdAt: str, updatedAt: str, versions: array(version, 1) },
  { deletedAt: str },
);
const custodian = object({ index: int(1), label: str }, { recipient: str, receiptConfirmedAt: str });
const shareSet = { setId: hex(16), epoch: int(1), threshold: int(2), count: int(2), keyId: hex(16), createdAt: str, custodians: array(custodian, 1) };
const escrow = object({ epoch: int(0), history: array(object(shareSet)) }, { current: object({ ...shareSet, manifest: anyObject }) });
const evidence = object({ key: base64, seq: int(0), hash: hex(64) }, { tail: array(str) });

const document = object(
  {
    vaultId: hex(32),
    generation: int(0),
    createdAt: str,
    updatedAt: str,
    key: object({ recipient, keyId: hex(16) }, { protected: bool, workFactor: int(1) }),
    recipients: array(object({ recipient, keyId: hex(16), label: str, addedAt: str })),
    fingerprintKey: base64,
    entries: array(entry),
  },
  {
    pendingKey: object({ recipient, keyId: hex(16), startedAt: str, previousKeyId: hex(16) }, { protected: bool, workFactor: int(1) }),
    retiredKeys: array(object({ recipient, keyId: hex(16), retiredAt: str })),
    escrow,
    evidence,
    lineage: array(object({ generation: int(0), header: hex(64) })),
    verify: anyObject,
    backup: object({ signers: array(object({ id: hex(16), publicKey: base64, label: str, addedAt: str })), keysInUse: anyObject }),
    holds: (v, p) => {
      if (!isRecord(v)) throw bad(p, 'an object');
      for (const [k, x] of Object.entries(v)) array(str)(x, at(p, k));
    },
  },
);

/** Throws an integrity error naming the first field of `doc` that is not as FORMAT.md says. */
export function checkDocumentShape(doc: unknown): void {
  try {
    document(doc, null);
  } catch {
    document(doc, 'payload');
  }
}
