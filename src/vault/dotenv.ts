import { VaultError } from '../errors/errors.js';

/**
 * dotenv files as platforms keep them (.env): KEY=value lines, `export `
 * prefixes, comments, single quotes (literal), double quotes (escapes \n \r
 * \t \" \\, may span lines), unquoted values trimmed and cut at " #".
 */
const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function parseDotenv(text: string): { key: string; value: string; line: number }[] {
  const out: { key: string; value: string; line: number }[] = [];
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
          v += n === 'n' ? '\n' : n === 'r' ? '\r' : n === 't' ? '\t' : n === '"' || n === '\\' || n === '$' ? n : '\\' + n;
          j += 2;
          continue;
        }
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
    }
    out.push({ key, value, line: startLine });
    i = end + 1;
    line++;
  }
  return out;
}

export function formatDotenvValue(value: string): string {
  if (/^[A-Za-z0-9_./:+=@,%^-]*$/.test(value)) return value;
  if (!/['\n\r]/.test(value)) return `'${value}'`;
  return '"' + value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '\\$').replace(/\n/g, '\\n').replace(/\r/g, '\\r') + '"';
}

/** KEY name for an entry: its recorded dotenv name, or the last path segment in upper snake case. */
export function envNameFor(entryName: string, recorded?: unknown): string {
  if (typeof recorded === 'string' && KEY.test(recorded)) return recorded;
  const base = entryName.slice(entryName.lastIndexOf('/') + 1);
  return base
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_')
    .replace(/^([0-9])/, '_$1');
}
