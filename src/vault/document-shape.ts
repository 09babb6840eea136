import { VaultError } from '../errors/errors.js';
import type { Verdict } from '../errors/verdict.js';
import { isRecord } from './shape.js';

/**
 * The vault document, declared once: every field and section with its type
 * and the check a decrypted payload must pass (docs/FORMAT.md, "Payload").
 * The modules that own a section (escrow, verify, backup) read and change
 * it through vault/document.ts (`readSection`, `editSection`), never by a
 * cast. The header MAC proves who wrote a payload, not that it is
 * well-formed: a document re-sealed by hand, or by a faulty writer, is
 * refused here with the path of the first bad field, rather than failing
 * later as an unexpected error. No Node API (the recovery kit checks
 * vaults with it).
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

type OptionalKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? K : never }[keyof T];
type RequiredKeys<T> = Exclude<keyof T, OptionalKeys<T>>;

/**
 * The check of an object of type `T`: one check for each of its fields, no
 * more and no fewer (the compiler holds the two to each other), then one
 * for each optional field, which may be absent.
 */
function object<T>(fields: Record<RequiredKeys<T>, Check>, ...optional: [OptionalKeys<T>] extends [never] ? [] : [Record<OptionalKeys<T>, Check>]): Check {
  // Listed once, not per object: a vault has thousands of them. Plain indexed loops: a short-lived CLI runs this
  // mostly in V8's interpreter, where iterating [key, check] pairs costs several times more than the checks.
  const needKeys = Object.keys(fields);
  const needChecks = Object.values<Check>(fields);
  const mayKeys = Object.keys(optional[0] ?? {});
  const mayChecks = Object.values<Check>(optional[0] ?? {});
  return (v, p) => {
    if (!isRecord(v)) throw bad(p, 'an object');
    for (let i = 0; i < needKeys.length; i++) needChecks[i]!(v[needKeys[i]!], p === null ? null : at(p, needKeys[i]!));
    for (let i = 0; i < mayKeys.length; i++) {
      const x = v[mayKeys[i]!];
      if (x !== undefined) mayChecks[i]!(x, p === null ? null : at(p, mayKeys[i]!));
    }
  };
}

function array(item: Check, min = 0): Check {
  return (v, p) => {
    if (!Array.isArray(v)) throw bad(p, 'an array');
    if (v.length < min) throw bad(p, `an array of at least ${min} item${min === 1 ? '' : 's'}`);
    for (let i = 0; i < v.length; i++) item(v[i], p === null ? null : at(p, i));
  };
}

const stringMap: Check = (v, p) => {
  if (!isRecord(v)) throw bad(p, 'an object');
  for (const k in v) str(v[k], at(p, k));
};

// The document, part by part: each type beside the check that holds a
// payload to it. A section's check that is looser than its type (`verify`,
// `keysInUse`, the escrow manifest) is as loose as every vault-tool that
// wrote one: old vaults open.

export interface EntryVersion {
  version: number;
  createdAt: string;
  /** base64 of the exact value bytes. */
  value: string;
  /** generated | imported | rotated | restored… */
  source: string;
  /** Keyed fingerprint (HMAC under the vault's fingerprint key), safe to show for any secret. */
  fingerprint: string;
}
const version = object<EntryVersion>({ version: int(1), createdAt: str, value: base64, source: str, fingerprint: str });

export interface Entry {
  name: string;
  type: string;
  description: string;
  labels: Record<string, string>;
  /** Free-form metadata kept for re-creation (dotenv name, Kubernetes origin…). */
  meta: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  deletedAt?: string;
  versions: EntryVersion[];
}
const entry = object<Entry>(
  { name: nonEmpty, type: nonEmpty, description: str, labels: stringMap, meta: anyObject, createdAt: str, updatedAt: str, versions: array(version, 1) },
  { deletedAt: str },
);

export interface ExtraRecipient {
  recipient: string;
  keyId: string;
  label: string;
  addedAt: string;
}

/** A vault key's recipient and key id; `protected` when its key file is passphrase-protected, `workFactor` its scrypt log2 N. */
export interface KeyRecord {
  recipient: string;
  keyId: string;
  protected?: boolean;
  workFactor?: number;
}

/** The second key of a rekey in progress, until it is confirmed or aborted. */
export interface PendingKey extends KeyRecord {
  startedAt: string;
  previousKeyId: string;
}

/** A vault key replaced by a rekey (older copies of the vault and older shares open with it). */
export interface RetiredKey {
  recipient: string;
  keyId: string;
  retiredAt: string;
}

/** The SHA-256 of the age header of an earlier generation, to tell a descendant copy from a fork. */
export interface LineageRecord {
  generation: number;
  header: string;
}

// escrow: owned by the escrow module (docs/FORMAT.md, "Escrow state in the vault").

export interface CustodianRecord {
  index: number;
  label: string;
  recipient?: string;
  receiptConfirmedAt?: string;
}
const custodian = object<CustodianRecord>({ index: int(1), label: str }, { recipient: str, receiptConfirmedAt: str });

/** A share set as the vault remembers it. */
export interface ShareSetRecord {
  setId: string;
  epoch: number;
  threshold: number;
  count: number;
  keyId: string;
  createdAt: string;
  custodians: CustodianRecord[];
}
const shareSet: Record<keyof ShareSetRecord, Check> = {
  setId: hex(16),
  epoch: int(1),
  threshold: int(2),
  count: int(2),
  keyId: hex(16),
  createdAt: str,
  custodians: array(custodian, 1),
};

export interface EscrowSection {
  /** The newest epoch split (0: never). */
  epoch: number;
  /** The current set, with its signed manifest as written (the escrow module's `Manifest`). */
  current?: ShareSetRecord & { manifest: object };
  /** Earlier sets, without their manifests. */
  history: ShareSetRecord[];
}
const escrow = object<EscrowSection>(
  { epoch: int(0), history: array(object<ShareSetRecord>(shareSet)) },
  { current: object<NonNullable<EscrowSection['current']>>({ ...shareSet, manifest: anyObject }) },
);

// evidence: the head of the evidence log (vault/evidence.ts; docs/FORMAT.md, "Evidence log").

export interface EvidenceHead {
  /** base64 of the 32-byte key the records are MACed with. */
  key: string;
  seq: number;
  hash: string;
  /** The newest lines, as written: those the log may not hold yet (a crash between the vault write and the append). */
  tail?: string[];
}
const evidence = object<EvidenceHead>({ key: base64, seq: int(0), hash: hex(64) }, { tail: array(str) });

// verify: owned by the verify module (docs/FORMAT.md, "Verification state in the vault"). Holds no secret.

/** A registered copy of the vault or of its key. */
export interface CopyRecord {
  id: string;
  kind: 'vault' | 'key';
  /** The destination as given: a folder or an rclone remote. */
  dest: string;
  file: string;
  vaultId: string;
  generation: number;
  keyId: string;
  sha256: string;
  createdAt: string;
  /** The key copy made with this vault copy, or the vault copy made with this key copy. */
  pair?: string;
}

/** A canary: a value encrypted under a key read from production, to prove later that the vault holds that key. */
export interface CanaryRecord {
  id: string;
  entry: string;
  /** The production source the key was read from (where, not what). */
  source: string;
  createdAt: string;
  nonce: string;
  ciphertext: string;
}

/** A verification run, as the vault remembers it. */
export interface VerifyRun {
  at: string;
  /** Whether it passed (verdict ok). */
  ok: boolean;
  /** ok, failed, or inconclusive (nothing failed, some check could not be judged); absent in runs recorded before verdicts had three values. */
  verdict?: Verdict;
  operator: string;
  failures: number;
  /** Checks that could not be judged on the host that ran it. */
  inconclusive?: number;
  reportSha256: string;
  /** Verdicts of the run, by name (status and the metrics report them). */
  drift?: { entry: string; source: string; status: string }[];
  copies?: { id?: string; location: string; status: string; ageDays?: number }[];
  canaries?: { id: string; entry: string; status: string }[];
  backups?: { component: string; file: string; ok: boolean; verdict?: Verdict }[];
  escrow?: { status: string; setId?: string };
}

export interface DrillRun {
  at: string;
  ok: boolean;
  /** The recovery time measured: only by a drill that passed. */
  rtoSeconds?: number;
  rtoTargetSeconds?: number;
  /** The recovery took longer than the RTO (the drill then failed for that alone, or for that too). */
  rtoMissed?: boolean;
  reportSha256: string;
}

export interface VerifySection {
  copies?: CopyRecord[];
  canaries?: CanaryRecord[];
  last?: VerifyRun;
  lastSuccess?: VerifyRun;
  /** Per entry: when production was last found to hold its current version, and where. */
  production?: Record<string, { at: string; source: string }>;
  lastDrill?: DrillRun;
}

// backup: owned by the backup module (docs/FORMAT.md, "Backup state in the vault").

/** A backup host's manifest signing key, trusted by the vault. */
export interface TrustedSigner {
  id: string;
  /** Raw Ed25519 public key, base64. */
  publicKey: string;
  label: string;
  addedAt: string;
}

export interface BackupSection {
  signers: TrustedSigner[];
  /** Repositories backups were written to while the vault was open, and the backup key ids they need. */
  keysInUse: Record<string, { repos: string[]; lastAt: string }>;
}
const backup = object<BackupSection>({
  signers: array(object<TrustedSigner>({ id: hex(16), publicKey: base64, label: str, addedAt: str })),
  keysInUse: anyObject,
});

/** Entries other modules need kept, with why (a backup key the stored backups need): a purge is refused while any reason is listed. */
export type Holds = Record<string, string[]>;
const holds: Check = (v, p) => {
  if (!isRecord(v)) throw bad(p, 'an object');
  for (const [k, x] of Object.entries(v)) array(str)(x, at(p, k));
};

export interface VaultDocument {
  format: 'vault-tool/vault';
  version: number;
  vaultId: string;
  generation: number;
  createdAt: string;
  updatedAt: string;
  key: KeyRecord;
  pendingKey?: PendingKey;
  recipients: ExtraRecipient[];
  retiredKeys?: RetiredKey[];
  /** base64 of 32 random bytes keying the entry fingerprints. */
  fingerprintKey: string;
  entries: Entry[];
  escrow?: EscrowSection;
  evidence?: EvidenceHead;
  /** The last 64 generations before this one, newest last. */
  lineage?: LineageRecord[];
  verify?: VerifySection;
  backup?: BackupSection;
  holds?: Holds;
}

const document = object<Omit<VaultDocument, 'format' | 'version'>>(
  {
    vaultId: hex(32),
    generation: int(0),
    createdAt: str,
    updatedAt: str,
    key: object<KeyRecord>({ recipient, keyId: hex(16) }, { protected: bool, workFactor: int(1) }),
    recipients: array(object<ExtraRecipient>({ recipient, keyId: hex(16), label: str, addedAt: str })),
    fingerprintKey: base64,
    entries: array(entry),
  },
  {
    pendingKey: object<PendingKey>({ recipient, keyId: hex(16), startedAt: str, previousKeyId: hex(16) }, { protected: bool, workFactor: int(1) }),
    retiredKeys: array(object<RetiredKey>({ recipient, keyId: hex(16), retiredAt: str })),
    escrow,
    evidence,
    lineage: array(object<LineageRecord>({ generation: int(0), header: hex(64) })),
    verify: anyObject,
    backup,
    holds,
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
