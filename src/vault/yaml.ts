import { parse } from 'yaml';
import { VaultError } from '../errors/errors.js';

/** Parses a YAML document the user wrote (a plan, a policy, manifests); a syntax error names the file and the first line of the cause. */
export function parseYaml(text: string, source: string): unknown {
  try {
    return parse(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (e) {
    throw new VaultError('invalid', `${source}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}
