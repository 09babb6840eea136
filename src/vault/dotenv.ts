import { VaultError } from '../errors/errors.js';
import { checkEntryName } from './types.js';

/**
 * dotenv files as platforms keep them (.env): KEY=value lines, `export `
 * prefixes, comments, single quotes (literal), double quotes (escapes \n \r
 * \t \" \\ \$ \`, may span lines), unquoted values trimmed and cut at " #".
 */
const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** One variable of a dotenv file; `expands`: a value a shell or docker compose would expand (unquoted or in double quotes: `$NAME`, `${NAME}`, `$(…)`, `` `…` ``), taken as written. */
export interface DotenvPair {
  key: string;
  value: string;
  line: number;
  expands?: true;
}

/** `$NAME`, `${…}`, `$(…)` or a backquote, as a shell reads them (an escaped one, `\$`, is no longer there: only its character). */
const EXPANSION = /\$[A-Za-z_{(]|`/;

export function parseDotenv(text: string): DotenvPair[] {
  const out: DotenvPair[] = [];
  const src = text.replace(/\r\n?/g, '\n');
  let i = 0;
  let line = 1;
  const fail = (msg: string): never => {
    throw new VaultError('invalid', `dotenv line ${line}: ${msg}`);
  };
  while (i < src.length) {
    let end = src.indexOf('\n', i);
    if (end < 0) end = src.length;
    const raw = src.slice(i, end);
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      i = end + 1;
      line++;
      continue;
    }
    const startLine = line;
    const m = /^\s*(?:export\s+)?([^=\s]+)\s*=\s*/.exec(raw);
    if (!m) fail('expected KEY=value');
    const key = m![1]!;
    if (!KEY.test(key)) fail(`invalid variable name ${JSON.stringify(key.slice(0, 40))}`);
    let pos = i + m![0].length;
    let value: string;
    const q = src[pos];
    let expands = false;
    if (q === '"' || q === "'") {
      let j = pos + 1;
      let v = '';
      for (;;) {
        if (j >= src.length) {
          line = startLine;
          fail(`unterminated ${q === '"' ? 'double' : 'single'}-quoted value for ${key}`);
        }
        const c = src[j]!;
        if (c === q) break;
        if (c === '\n') line++;
        if (q === '"' && c === '\\' && j + 1 < src.length) {
          const n = src[j + 1]!;
          v += n === 'n' ? '\n' : n === 'r' ? '\r' : n === 't' ? '\t' : n === '"' || n === '\\' || n === '$' || n === '`' ? n : '\\' + n;
          j += 2;
          continue;
        }
        if (q === '"' && EXPANSION.test(src.slice(j, j + 2))) expands = true;
        v += c;
        j++;
      }
      value = v;
      pos = j + 1;
      let lineEnd = src.indexOf('\n', pos);
      if (lineEnd < 0) lineEnd = src.length;
      const rest = src.slice(pos, lineEnd).trim();
      if (rest !== '' && !rest.startsWith('#')) fail(`unexpected text after the closing quote of ${key}`);
      end = lineEnd;
    } else {
      const rest = src.slice(pos, end);
      const hash = rest.search(/\s#/);
      value = (hash >= 0 ? rest.slice(0, hash) : rest).trim();
      expands = EXPANSION.test(value);
    }
    out.push({ key, value, line: startLine, ...(expands ? { expands: true as const } : {}) });
    i = end + 1;
    line++;
  }
  return out;
}

/**
 * A value as a dotenv file holds it: bare when plain, else in single quotes
 * (literal), else in double quotes with `\ " $ \`` escaped, so that a shell
 * sourcing the file (`set -a; . ./app.env`) never runs a command
 * substitution (`` `…` ``, `$(…)`) held in a value.
 */
export function formatDotenvValue(value: string): string {
  if (/^[A-Za-z0-9_./:+=@,%^-]*$/.test(value)) return value;
  if (!/['\n\r]/.test(value)) return `'${value}'`;
  return (
    '"' +
    value
      .replace(/[\\"$`]/g, (c) => `\\${c}`)
      .replace(/\n/g, '\\n')
      .replace(/\r/g, '\\r') +
    '"'
  );
}

/** Whether `s` is a dotenv variable name as this parser reads them. */
export function isDotenvKey(s: string): boolean {
  return KEY.test(s);
}

const upperSnake = (s: string) => s.toUpperCase().replace(/[^A-Z0-9_]/g, '_');

/** KEY name for an entry: its recorded dotenv name, or the last path segment in upper snake case. */
export function envNameFor(entryName: string, recorded?: unknown): string {
  if (typeof recorded === 'string' && KEY.test(recorded)) return recorded;
  const base = entryName.slice(entryName.lastIndexOf('/') + 1);
  return upperSnake(base).replace(/^([0-9])/, '_$1');
}

/** The same KEY with the entry's folder path in front: `audit/hmac-key` → `AUDIT_HMAC_KEY`. */
function withFolder(entryName: string, key: string): string {
  const folder = entryName.slice(0, entryName.lastIndexOf('/') + 1);
  return folder ? upperSnake(folder.replace(/\//g, '_')).replace(/^([0-9])/, '_$1') + key : key;
}

/**
 * A mapping `LEFT=ENTRY[:TYPE]` that cannot be read, said precisely: no `=`,
 * nothing before it, no entry after it (`KEY=$NAME` with NAME unset), or an
 * empty type after `:`.
 */
export function badMapping(spec: string, form: string): VaultError {
  const eq = spec.indexOf('=');
  const right = eq < 0 ? '' : spec.slice(eq + 1);
  const what =
    eq < 0
      ? 'no = in it'
      : eq === 0 || spec[eq - 1] === '#'
        ? 'no key before ='
        : !right || right.startsWith(':')
          ? 'no entry after ='
          : right.endsWith(':')
            ? 'no type after the colon'
            : 'not of that form';
  return new VaultError('usage', `mapping ${JSON.stringify(spec)}: ${what} (expected ${form})`, { code: 'bad-mapping', data: { form } });
}

/** `KEY=ENTRY` mappings for an export, by entry; a KEY or an entry named twice is refused. */
export function parseExportMappings(specs: string[]): Map<string, string> {
  const byEntry = new Map<string, string>();
  const keys = new Set<string>();
  for (const item of specs) {
    const i = item.indexOf('=');
    const key = item.slice(0, i);
    if (i <= 0 || i === item.length - 1) throw badMapping(item, 'KEY=ENTRY');
    if (!KEY.test(key))
      throw new VaultError('usage', `mapping ${JSON.stringify(item)} is not KEY=ENTRY (KEY a variable name)`, {
        code: 'bad-mapping',
        data: { form: 'KEY=ENTRY' },
      });
    const entry = checkEntryName(item.slice(i + 1));
    if (keys.has(key)) throw new VaultError('usage', `the mappings name variable ${key} twice`);
    if (byEntry.has(entry)) throw new VaultError('usage', `the mappings name entry ${entry} twice`);
    keys.add(key);
    byEntry.set(entry, key);
  }
  return byEntry;
}

export interface EnvNaming {
  /** Put each entry's folder path in front of its variable name. */
  prefixPath?: boolean;
  /** A variable name for these entries (by entry name), whatever the rule. */
  maps?: Map<string, string>;
}

/**
 * The variable name of each exported entry, in order: mapped, else its
 * recorded or derived name (with its folder in front under `prefixPath`).
 * Two entries under one name are refused (a dotenv file keeps the last, and
 * one secret would silently replace the other), as is a mapping for an entry
 * that is not exported.
 */
export function envExportNames(entries: { name: string; recorded?: unknown }[], o: EnvNaming = {}): string[] {
  const exported = new Set(entries.map((e) => e.name));
  const stray = [...(o.maps?.keys() ?? [])].filter((n) => !exported.has(n));
  if (stray.length) throw new VaultError('usage', `mapping for ${stray.join(', ')}: not among the exported entries`);
  const used = new Map<string, string>();
  return entries.map((e) => {
    const mapped = o.maps?.get(e.name);
    const base = envNameFor(e.name, e.recorded);
    const key = mapped ?? (o.prefixPath ? withFolder(e.name, base) : base);
    const other = used.get(key);
    if (other !== undefined) {
      const alt = (n: string, r: unknown) => withFolder(n, envNameFor(n, r));
      const first = entries.find((x) => x.name === other)!;
      throw new VaultError('usage', `${other} and ${e.name} both export as ${key}`, {
        code: 'env-export-collision',
        hint: 'give one of them another variable name',
        data: {
          key,
          first: other,
          second: e.name,
          // What the folder rule would name them, when it would tell them apart.
          ...(!o.prefixPath && alt(other, first.recorded) !== alt(e.name, e.recorded)
            ? { firstPath: alt(other, first.recorded), secondPath: alt(e.name, e.recorded) }
            : {}),
        },
      });
    }
    used.set(key, e.name);
    return key;
  });
}
