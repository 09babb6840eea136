import { VaultError } from '../errors/errors.js';
import { badMapping, parseDotenv } from './dotenv.js';
import { prepareValue, putEntry, type PutResult } from './entries.js';
import { changed, unchanged, updateVault, type StoreOptions, type VaultPaths } from './store.js';
import { checkEntryName, entryType } from './types.js';

/** A dotenv variable's entry name (and type), from a `KEY=name[:type]` mapping. */
export interface EnvMapping {
  name: string;
  type?: string;
}

/** Parses `KEY=name[:type]` mappings; a KEY given twice is refused. */
export function parseEnvMappings(specs: string[]): Map<string, EnvMapping> {
  const m = new Map<string, EnvMapping>();
  for (const item of specs) {
    const r = /^([^=]+)=([^:]+)(?::(.+))?$/.exec(item);
    if (!r) throw badMapping(item, 'KEY=name[:type]');
    if (r[3]) entryType(r[3]);
    if (m.has(r[1]!)) throw new VaultError('usage', `the mappings name ${r[1]} twice`);
    m.set(r[1]!, { name: checkEntryName(r[2]!), ...(r[3] ? { type: r[3] } : {}) });
  }
  return m;
}

export interface EnvImportItem {
  name: string;
  type: string;
  /** The dotenv variable. */
  key: string;
  value: Buffer;
  /** Its value holds what a shell or docker compose would expand (`${OTHER}`, `$(…)`), imported as written. */
  expands?: true;
}

/**
 * What importing a dotenv file does, checked in full before the vault is
 * touched: each variable's entry (mapped, or prefix + KEY), its type, its
 * value against the type's rule. Refused: a variable set twice, two
 * variables into one entry (they would become two versions of it), and a
 * mapping that matches no variable (a typo would import the variable under
 * its default name). With `onlyMapped`, only the mapped variables.
 */
export function planEnvImport(
  text: string,
  source: string,
  o: { type: string; prefix: string; maps: Map<string, EnvMapping>; onlyMapped?: boolean },
): EnvImportItem[] {
  entryType(o.type);
  const pairs = parseDotenv(text);
  if (!pairs.length) throw new VaultError('invalid', `no KEY=value lines in ${source}`);
  const seen = new Set<string>();
  const entries = new Map<string, string>();
  // With onlyMapped, the file's other variables (a SITE_URL) are neither checked nor stored.
  const items = (o.onlyMapped ? pairs.filter((p) => o.maps.has(p.key)) : pairs).map((p) => {
    if (seen.has(p.key)) throw new VaultError('invalid', `dotenv line ${p.line}: ${p.key} is set twice`);
    seen.add(p.key);
    const m = o.maps.get(p.key);
    const name = checkEntryName(m?.name ?? o.prefix + p.key);
    if (entries.has(name))
      throw new VaultError('usage', `${entries.get(name)} and ${p.key} both map to entry ${name}`, {
        code: 'env-map-collision',
        hint: 'give each variable its own entry',
      });
    entries.set(name, p.key);
    const type = m?.type ?? o.type;
    try {
      prepareValue(type, Buffer.from(p.value));
    } catch (e) {
      // Name the variable, never the value.
      throw new VaultError('invalid', `dotenv line ${p.line} (${p.key}): ${(e as Error).message}`);
    }
    return { name, type, key: p.key, value: Buffer.from(p.value), ...(p.expands ? { expands: p.expands } : {}) };
  });
  const unmatched = [...o.maps.keys()].filter((k) => !seen.has(k));
  if (unmatched.length)
    throw new VaultError(
      'usage',
      `mapping for ${unmatched.join(', ')}: no such variable in ${source}`,
      'a mapping that matches nothing is refused (a typo would import the variable under its default name)',
    );
  return items;
}

/** Imports the planned variables in one write (all or nothing); unchanged values add no version. */
export async function importEnv(paths: VaultPaths, store: StoreOptions, items: EnvImportItem[], now: Date): Promise<PutResult[]> {
  return updateVault(paths, store, (doc) => {
    const rs = items.map((it) => putEntry(doc, { name: it.name, type: it.type, value: it.value, update: true, meta: { envName: it.key }, now }));
    return rs.every((r) => r.status === 'unchanged') ? unchanged(rs) : changed(rs);
  });
}
