import { createHash } from 'node:crypto';
import { VaultError } from '../errors/errors.js';
import { fingerprint, type Entry, type EntryVersion, type VaultDocument } from './document.js';
import { checkEntryName, entryType, generateValue, normalizeValue } from './types.js';

/** Operations on a decrypted vault document. They never touch files. */

export function findEntry(doc: VaultDocument, name: string): Entry | undefined {
  return doc.entries.find((e) => e.name === name);
}

export function requireEntry(doc: VaultDocument, name: string, opts: { includeDeleted?: boolean } = {}): Entry {
  const e = findEntry(doc, name);
  if (!e) throw new VaultError('not-found', `no entry named ${name}`, { code: 'entry-missing' });
  if (e.deletedAt && !opts.includeDeleted) {
    throw new VaultError('not-found', `entry ${name} was removed on ${e.deletedAt}`, { code: 'entry-removed', data: { name } });
  }
  return e;
}

export function currentVersion(e: Entry): EntryVersion {
  return e.versions[e.versions.length - 1]!;
}

export function getVersion(doc: VaultDocument, name: string, version?: number): { entry: Entry; version: EntryVersion; value: Buffer } {
  const entry = requireEntry(doc, name, { includeDeleted: version !== undefined });
  const v = version === undefined ? currentVersion(entry) : entry.versions.find((x) => x.version === version);
  if (!v) throw new VaultError('not-found', `entry ${name} has no version ${version} (versions 1 to ${entry.versions.length})`);
  return { entry, version: v, value: Buffer.from(v.value, 'base64') };
}

export interface PutInput {
  name: string;
  type: string;
  /** Raw value; omit to generate one. */
  value?: Buffer;
  source?: string;
  description?: string;
  labels?: Record<string, string>;
  meta?: Record<string, unknown>;
  /** Allow adding a version to an existing entry. */
  update?: boolean;
  now: Date;
}

export type PutResult = { name: string; status: 'added' | 'updated' | 'unchanged'; version: number; fingerprint: string };

/** Validates before changing anything: a refused value leaves the document untouched. A given value goes through the one rule for values from a source (valueFromSource). */
export function prepareValue(type: string, value: Buffer | undefined): { value: Buffer; generated: boolean } {
  const t = entryType(type);
  if (value === undefined) return { value: generateValue(t), generated: true };
  return { value: normalizeValue(t, value), generated: false };
}

export function putEntry(doc: VaultDocument, input: PutInput): PutResult {
  checkEntryName(input.name);
  const { value, generated } = prepareValue(input.type, input.value);
  const t = input.now.toISOString();
  const fp = fingerprint(doc, value);
  const existing = findEntry(doc, input.name);
  if (existing && !existing.deletedAt && !input.update) {
    throw new VaultError('exists', `entry ${input.name} already exists`, { code: 'entry-exists', data: { name: input.name } });
  }
  if (existing && existing.type !== input.type) {
    throw new VaultError('invalid', `entry ${input.name} is of type ${existing.type}, not ${input.type}`);
  }
  const source = input.source ?? (generated ? 'generated' : 'imported');
  if (existing) {
    const cur = currentVersion(existing);
    const unchanged = !existing.deletedAt && cur.fingerprint === fp && Buffer.from(cur.value, 'base64').equals(value);
    if (input.description !== undefined) existing.description = input.description;
    if (input.labels) existing.labels = { ...existing.labels, ...input.labels };
    if (input.meta) existing.meta = { ...existing.meta, ...input.meta };
    if (unchanged) return { name: input.name, status: 'unchanged', version: cur.version, fingerprint: fp };
    const version = cur.version + 1;
    existing.versions.push({ version, createdAt: t, value: value.toString('base64'), source, fingerprint: fp });
    existing.updatedAt = t;
    delete existing.deletedAt;
    return { name: input.name, status: 'updated', version, fingerprint: fp };
  }
  doc.entries.push({
    name: input.name,
    type: input.type,
    description: input.description ?? '',
    labels: input.labels ?? {},
    meta: input.meta ?? {},
    createdAt: t,
    updatedAt: t,
    versions: [{ version: 1, createdAt: t, value: value.toString('base64'), source, fingerprint: fp }],
  });
  return { name: input.name, status: 'added', version: 1, fingerprint: fp };
}

export function rotateEntry(doc: VaultDocument, name: string, now: Date): PutResult {
  const e = requireEntry(doc, name);
  // A value that cannot be generated (a TLS certificate and its key) comes from where it is issued: a new version is imported.
  if (!entryType(e.type).generate)
    throw new VaultError('usage', `${name} is a ${e.type} entry: its values cannot be generated, so it is not rotated here; a new version is imported`, {
      code: 'rotate-cannot-generate',
      data: { name, type: e.type },
    });
  return putEntry(doc, { name, type: e.type, update: true, source: 'rotated', now });
}

export function removeEntry(doc: VaultDocument, name: string, opts: { force?: boolean; purge?: boolean; now: Date }): { name: string; purged: boolean } {
  const e = requireEntry(doc, name, { includeDeleted: opts.purge });
  if (entryType(e.type).key && !opts.force) {
    throw new VaultError('usage', `${name} is a ${e.type}: removing key material must be forced`, {
      code: 'rm-key-material',
      hint: 'old backups may need this key; its history is kept unless purged',
    });
  }
  const held = doc.holds?.[name];
  if (opts.purge && held?.length) {
    throw new VaultError('usage', `${name} cannot be purged: ${held.join('; ')}`, {
      code: 'entry-held',
      hint: 'its versions are still needed; removing it (without purging) keeps them',
    });
  }
  if (opts.purge) {
    doc.entries.splice(doc.entries.indexOf(e), 1);
    return { name, purged: true };
  }
  e.deletedAt = opts.now.toISOString();
  return { name, purged: false };
}

export interface ListedEntry {
  name: string;
  type: string;
  version: number;
  versions: number;
  fingerprint: string;
  createdAt: string;
  updatedAt: string;
  description: string;
  labels: Record<string, string>;
  deletedAt?: string;
  history?: { version: number; createdAt: string; source: string; fingerprint: string }[];
}

export function listEntries(doc: VaultDocument, opts: { versions?: boolean; includeDeleted?: boolean; label?: Record<string, string> } = {}): ListedEntry[] {
  const out: ListedEntry[] = [];
  for (const e of doc.entries) {
    if (e.deletedAt && !opts.includeDeleted) continue;
    if (opts.label && !Object.entries(opts.label).every(([k, v]) => e.labels[k] === v)) continue;
    const cur = currentVersion(e);
    const item: ListedEntry = {
      name: e.name,
      type: e.type,
      version: cur.version,
      versions: e.versions.length,
      fingerprint: cur.fingerprint,
      createdAt: e.createdAt,
      updatedAt: e.updatedAt,
      description: e.description,
      labels: e.labels,
      ...(e.deletedAt ? { deletedAt: e.deletedAt } : {}),
    };
    if (opts.versions) item.history = historyOf(e);
    out.push(item);
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function historyOf(e: Entry): { version: number; createdAt: string; source: string; fingerprint: string }[] {
  return e.versions.map((v) => ({ version: v.version, createdAt: v.createdAt, source: v.source, fingerprint: v.fingerprint }));
}

/**
 * Plain SHA-256 of a value, to compare with `sha256sum` of what is deployed.
 * A hash of a low-entropy secret (a password, a short generic value) can be
 * brute-forced, so it is only given for key material unless `allowLowEntropy`.
 */
export function plainSha256(entry: Entry, value: Buffer, allowLowEntropy: boolean): string {
  if (!entryType(entry.type).key && !allowLowEntropy) {
    throw new VaultError('usage', `a plain SHA-256 of a ${entry.type} value can be brute-forced; refusing to print it`, {
      code: 'low-entropy-sha256',
      data: { name: entry.name },
    });
  }
  return createHash('sha256').update(value).digest('hex');
}
