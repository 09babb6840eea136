import { parseYaml } from '../vault/yaml.js';
import { fail, list, map, object, optional, parseShape, string } from '../vault/shape.js';
import type { ErrorCode } from '../errors/codes.js';
import { VaultError } from '../errors/errors.js';
import type { VaultDocument } from '../vault/document.js';
import { prepareValue, putEntry, type PutResult } from '../vault/entries.js';
import { badMapping } from '../vault/dotenv.js';
import { checkEntryName, entryType } from '../vault/types.js';
import { changed, readVault, unchanged, updateVault, type StoreOptions, type VaultPaths } from '../vault/store.js';
import { openCluster, type ClusterTarget } from './run.js';
import { annotationCarriesData, cleanSecret, parseSecretManifests, SKIPPED_TYPES, type SecretObject } from './secret.js';

/** Which Secret key becomes which vault entry, of which type. `secret` narrows it to one Secret (ns/name or name). */
export interface Mapping {
  secret?: string;
  key: string;
  entry: string;
  type: string;
}

/** `KEY=ENTRY[:TYPE]` or `NS/SECRET#KEY=ENTRY[:TYPE]`. */
export function parseMapping(spec: string): Mapping {
  const eq = spec.indexOf('=');
  const left = spec.slice(0, eq);
  const right = spec.slice(eq + 1);
  const hash = left.lastIndexOf('#');
  const colon = right.lastIndexOf(':');
  if (eq <= 0 || hash === left.length - 1 || colon === 0 || colon === right.length - 1 || !right)
    throw badMapping(spec, 'KEY=ENTRY[:TYPE] or NAMESPACE/SECRET#KEY=ENTRY[:TYPE]');
  const m: Mapping = {
    key: hash >= 0 ? left.slice(hash + 1) : left,
    entry: colon >= 0 ? right.slice(0, colon) : right,
    type: colon >= 0 ? right.slice(colon + 1) : 'generic',
  };
  if (hash >= 0) m.secret = left.slice(0, hash);
  checkEntryName(m.entry);
  entryType(m.type);
  return m;
}

const MappingFile = object({
  mappings: list(
    object({
      secret: optional(string({ want: 'namespace/name or name' })),
      key: string(),
      entry: map(string(), (e, at) => {
        try {
          return checkEntryName(e);
        } catch (err) {
          return fail(at, (err as Error).message);
        }
      }),
      type: optional(
        map(string(), (t, at) => {
          try {
            return entryType(t).name;
          } catch (err) {
            return fail(at, (err as Error).message);
          }
        }),
      ),
    }),
  ),
});

/** A mapping file (`mappings: [{ secret?, key, entry, type? }]`), strict at every depth: an unknown field names its path. */
export function parseMappingFile(text: string, source: string): Mapping[] {
  const raw: unknown = parseYaml(text, source);
  return parseShape(raw, MappingFile, source).mappings.map((m) => ({
    key: m.key,
    entry: m.entry,
    type: m.type ?? 'generic',
    ...(m.secret !== undefined ? { secret: m.secret } : {}),
  }));
}

/** The predictable name of an unmapped key: k8s/NAMESPACE/SECRET/KEY (a leading dot becomes _). */
export function defaultEntryName(namespace: string, secret: string, key: string): string {
  return `k8s/${namespace}/${secret}/${key.replace(/^\./, '_')}`;
}

export interface ImportItem {
  entry: string;
  type: string;
  value: Buffer;
  secret: string;
  key: string;
  meta: Record<string, unknown>;
}

export interface ImportPlan {
  items: ImportItem[];
  skipped: { secret: string; reason: string; code?: ErrorCode }[];
}

/**
 * Decides what to import: mapped keys become typed entries, other keys
 * generic entries under the predictable name (unless onlyMapped). Every value
 * is validated by its type here, so a bad one stops the import before the
 * vault changes.
 */
export function planImport(
  secrets: SecretObject[],
  mappings: Mapping[],
  opts: { includeAllTypes?: boolean; onlyMapped?: boolean; defaultNamespace: string },
): ImportPlan {
  const out: ImportPlan = { items: [], skipped: [] };
  const used = new Map<string, string>();
  const usedMappings = new Set<Mapping>();
  for (const s of secrets) {
    const ns = s.metadata.namespace ?? opts.defaultNamespace;
    const id = `${ns}/${s.metadata.name}`;
    if (!opts.includeAllTypes && SKIPPED_TYPES.includes(s.type ?? '')) {
      out.skipped.push({
        secret: id,
        reason: `type ${s.type} (minted by the cluster or Helm; imported only when all types are asked for)`,
        code: 'k8s-skipped-type',
      });
      continue;
    }
    for (const [key, b64] of Object.entries(s.data ?? {})) {
      const m = mappings.find((x) => x.key === key && (x.secret === undefined || x.secret === id || x.secret === s.metadata.name));
      if (!m && opts.onlyMapped) continue;
      if (m) usedMappings.add(m);
      const entry = m?.entry ?? defaultEntryName(ns, s.metadata.name, key);
      const type = m?.type ?? 'generic';
      checkEntryName(entry);
      const where = `${id}#${key}`;
      if (used.has(entry))
        throw new VaultError('usage', `${where} and ${used.get(entry)} both map to entry ${entry}`, 'narrow the mapping with NAMESPACE/SECRET#KEY=ENTRY');
      used.set(entry, where);
      let value: Buffer;
      try {
        value = prepareValue(type, Buffer.from(b64, 'base64')).value;
      } catch (e) {
        throw new VaultError(
          (e as VaultError).kind ?? 'invalid',
          `${where} → ${entry} (${type}): ${(e as Error).message}`,
          'map it to another type, or to generic',
        );
      }
      const k8s: Record<string, unknown> = { namespace: ns, secret: s.metadata.name, key, type: s.type ?? 'Opaque' };
      if (s.metadata.labels) k8s.labels = s.metadata.labels;
      // Annotations that can hold the Secret's data (kubectl's last-applied-configuration) are never kept: a plan would print them.
      const annotations = Object.fromEntries(Object.entries(s.metadata.annotations ?? {}).filter(([k]) => !annotationCarriesData(k)));
      if (Object.keys(annotations).length) k8s.annotations = annotations;
      if (s.immutable) k8s.immutable = true;
      out.items.push({ entry, type, value, secret: id, key, meta: { k8s } });
    }
  }
  const unused = mappings.filter((m) => !usedMappings.has(m));
  if (unused.length && secrets.length) {
    out.skipped.push(...unused.map((m) => ({ secret: m.secret ?? '*', reason: `mapping for key ${m.key} matched no Secret key` })));
  }
  return out;
}

/** Applies an import plan; unchanged values add no version. Returns one result per entry. */
export function applyImport(doc: VaultDocument, plan: ImportPlan, now: Date): PutResult[] {
  return plan.items.map((it) => putEntry(doc, { name: it.entry, type: it.type, value: it.value, update: true, source: 'imported', meta: it.meta, now }));
}

/** Where Secrets to import come from: manifest files (already read), or a cluster. */
export type SecretSource =
  | { kind: 'files'; files: { path: string; text: string }[]; names: string[] }
  | { kind: 'cluster'; target: ClusterTarget; names: string[]; allNamespaces: boolean; selector?: string };

/** Reads the Secrets to import; `ignored` lists the other objects found in files. */
export async function readSecrets(src: SecretSource): Promise<{ secrets: SecretObject[]; ignored: string[]; defaultNamespace: string }> {
  if (src.kind === 'files') {
    const secrets: SecretObject[] = [];
    const ignored: string[] = [];
    for (const f of src.files) {
      const r = parseSecretManifests(f.text, f.path);
      ignored.push(...r.ignored);
      secrets.push(...r.secrets);
    }
    return { secrets: src.names.length ? secrets.filter((s) => src.names.includes(s.metadata.name)) : secrets, ignored, defaultNamespace: 'default' };
  }
  if (src.allNamespaces && src.names.length) throw new VaultError('usage', 'name Secrets or import from all namespaces, not both');
  if (!src.allNamespaces && !src.selector && !src.names.length)
    throw new VaultError('usage', 'which Secrets? name them, or give a label selector, all namespaces, or manifest files', { code: 'k8s-import-which' });
  const port = await openCluster(src.target);
  const ns = port.target.namespace;
  let secrets: SecretObject[];
  if (src.names.length) {
    secrets = [];
    for (const n of src.names) {
      const s = await port.getSecret(ns, n);
      if (!s) throw new VaultError('not-found', `Secret ${ns}/${n} does not exist (context ${port.target.context})`);
      secrets.push(s);
    }
  } else {
    secrets = await port.listSecrets(src.allNamespaces ? undefined : ns, src.selector);
  }
  return { secrets: secrets.map((s, i) => cleanSecret(s, `cluster Secret ${i + 1}`)), ignored: [], defaultNamespace: ns };
}

/** Applies an import plan to the vault (or, with dryRun, to a copy in memory); unchanged values add nothing. */
export async function importSecrets(paths: VaultPaths, store: StoreOptions, plan: ImportPlan, o: { dryRun: boolean; now: Date }): Promise<PutResult[]> {
  if (o.dryRun) return applyImport((await readVault(paths, store)).doc, plan, o.now);
  return updateVault(paths, store, (doc) => {
    const before = JSON.stringify(doc.entries);
    const r = applyImport(doc, plan, o.now);
    return JSON.stringify(doc.entries) === before ? unchanged(r) : changed(r);
  });
}
