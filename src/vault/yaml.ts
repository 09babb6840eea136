import { StringDecoder } from 'node:string_decoder';
import { parse, parseAllDocuments } from 'yaml';
import { VaultError } from '../errors/errors.js';

/** Parses a YAML document the user wrote (a plan, a policy, manifests); a syntax error names the file and the first line of the cause. */
export function parseYaml(text: string, source: string): unknown {
  try {
    return parse(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (e) {
    throw new VaultError('invalid', `${source}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** The first error in `text`'s YAML documents (its first line), or null. */
function documentsError(text: string): string | null {
  const docs = parseAllDocuments(text);
  const bad = (Array.isArray(docs) ? docs : [docs]).find((d) => d.errors.length);
  return bad ? bad.errors[0]!.message.split('\n')[0]! : null;
}

/**
 * The first error in a stream of YAML documents, or null, read a document
 * at a time: a document marker (`---`) at the start of a line ends the one
 * before it (YAML allows none inside a document's content), so memory holds
 * one document whatever the stream's size.
 */
export async function yamlStreamError(chunks: AsyncIterable<Buffer | string>): Promise<string | null> {
  const decoder = new StringDecoder('utf8');
  let doc = '';
  let partial = '';
  const marker = /^---(?:[ \t\r]|$)/;
  for await (const chunk of chunks) {
    const lines = (partial + (typeof chunk === 'string' ? chunk : decoder.write(chunk))).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (marker.test(line) && doc) {
        const e = documentsError(doc);
        if (e) return e;
        doc = '';
      }
      doc += `${line}\n`;
    }
  }
  const last = partial + decoder.end();
  if (marker.test(last) && doc) {
    const e = documentsError(doc);
    if (e) return e;
    doc = '';
  }
  return documentsError(doc + last);
}
