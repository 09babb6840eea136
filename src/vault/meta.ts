import { VaultError } from '../errors/errors.js';
import type { ParsedHeader, Stanza } from '../age/parse.js';

/**
 * secrets.vault is an age v1 file with one extra stanza ahead of the
 * recipient stanzas:  -> vault-tool <format> <vault id> <generation> <key id>[,<key id>…]
 * Age identities skip stanzas of unknown types and the header MAC covers it,
 * so it can be read before decryption and cannot be altered undetected.
 * No Node API here: the recovery kit reads the stanza with this code.
 */
export const STANZA_TYPE = 'vault-tool';
export const CONTAINER_VERSION = 1;

export interface VaultMeta {
  format: number;
  vaultId: string;
  generation: number;
  keyIds: string[];
}

export function metaStanza(m: VaultMeta): Stanza {
  return { type: STANZA_TYPE, args: [String(m.format), m.vaultId, String(m.generation), m.keyIds.join(',')], body: new Uint8Array(0) };
}

export function readMeta(header: ParsedHeader): VaultMeta {
  const s = header.stanzas.find((x) => x.type === STANZA_TYPE);
  if (!s) throw new VaultError('integrity', 'not a vault-tool vault: the age header has no vault-tool stanza', 'is this the key file or another age file?');
  const [format, vaultId, generation, ids] = s.args;
  if (
    s.args.length !== 4 ||
    !/^[0-9]+$/.test(format!) ||
    !/^[0-9a-f]{32}$/.test(vaultId!) ||
    !/^[0-9]+$/.test(generation!) ||
    !/^[0-9a-f]{16}(,[0-9a-f]{16})*$/.test(ids!)
  ) {
    throw new VaultError('integrity', 'malformed vault-tool header stanza');
  }
  if (Number(format) !== CONTAINER_VERSION) {
    throw new VaultError('invalid', `vault format ${format} is not supported by this vault-tool (supports ${CONTAINER_VERSION})`, 'upgrade vault-tool');
  }
  return { format: Number(format), vaultId: vaultId!, generation: Number(generation), keyIds: ids!.split(',') };
}

/** The message when a vault does not list the key's id. */
export function wrongKeyMessage(meta: VaultMeta, keyId: string): string {
  return `this vault opens with key id${meta.keyIds.length > 1 ? 's' : ''} ${meta.keyIds.join(', ')}; the key file holds key id ${keyId}`;
}
