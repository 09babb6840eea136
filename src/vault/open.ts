import { AgeError, VaultError } from '../errors/errors.js';
import { dearmor, isArmored } from '../age/armor.js';
import { parseHeader, type ParsedHeader } from '../age/parse.js';
import { readMeta, wrongKeyMessage, type VaultMeta } from './meta.js';
import { checkDocumentMeta, parseDocument, type VaultDocument } from './payload.js';

/**
 * Opening secrets.vault, written once for the command line (which decrypts
 * with node:crypto) and the recovery kit (with @noble, in a browser): the
 * header stanza read before any key, the key's id among those it lists, the
 * decryption's failures told apart, the payload's shape, and the header and
 * payload naming the same vault and generation. No Node API.
 */
export interface Sealed {
  meta: VaultMeta;
  /** The parsed age header (its bytes are `binary.subarray(0, header.length)`). */
  header: ParsedHeader;
  binary: Uint8Array;
}

/** How an error about a file that is not a readable vault starts. */
export const UNREADABLE = 'not a readable vault file';

/** The header and its vault-tool stanza, read without any key. */
export function readSealed(file: Uint8Array): Sealed {
  try {
    const binary = isArmored(file) ? dearmor(file) : file;
    const header = parseHeader(binary, true)!;
    return { meta: readMeta(header), header, binary };
  } catch (e) {
    if (e instanceof AgeError) throw new VaultError('integrity', `${UNREADABLE}: ${e.message}`);
    throw e;
  }
}

const WRONG_KEY_HINT = 'is this the right key? a lost key is rebuilt from escrow shares, and the shares of an older split rebuild an older key';

/**
 * Decrypts with `decrypt` (given the whole file; the caller's age
 * implementation) and checks the document. Synchronous with a synchronous
 * `decrypt`, a promise with an asynchronous one.
 */
export function openSealed(meta: VaultMeta, keyId: string, decrypt: () => Uint8Array): VaultDocument;
export function openSealed(meta: VaultMeta, keyId: string, decrypt: () => Promise<Uint8Array>): Promise<VaultDocument>;
export function openSealed(meta: VaultMeta, keyId: string, decrypt: () => Uint8Array | Promise<Uint8Array>): VaultDocument | Promise<VaultDocument> {
  if (!meta.keyIds.includes(keyId)) throw new VaultError('wrong-key', wrongKeyMessage(meta, keyId), { code: 'wrong-key', hint: WRONG_KEY_HINT });
  const check = (plaintext: Uint8Array): VaultDocument => {
    const doc = parseDocument(plaintext);
    checkDocumentMeta(doc, meta);
    return doc;
  };
  let plaintext: Uint8Array | Promise<Uint8Array>;
  try {
    plaintext = decrypt();
  } catch (e) {
    throw decryptFailure(e);
  }
  return plaintext instanceof Promise
    ? plaintext.then(check, (e: unknown) => {
        throw decryptFailure(e);
      })
    : check(plaintext);
}

/** An age failure after the key id matched: the file is damaged or was altered (or the header lies about its keys). */
function decryptFailure(e: unknown): unknown {
  if (!(e instanceof AgeError)) return e;
  const what = e.failure === 'no-match' ? 'the key does not unwrap the vault although its key id is listed' : e.message;
  return new VaultError('integrity', `vault integrity check failed: ${what}`, 'the file is damaged or was modified; use another copy');
}
