import type * as NodeCrypto from 'node:crypto';

/**
 * `@noble/hashes/sha2.js`'s `sha256`, as the CLI bundle resolves it
 * (build-cli.mjs): the same digest from node:crypto, fetched when first called.
 * The recovery kit's bundle and the tests use @noble/hashes itself;
 * test/unit/node-sha2.test.ts checks that both give the same digests.
 */
export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array((process.getBuiltinModule('node:crypto') as typeof NodeCrypto).createHash('sha256').update(data).digest());
}
